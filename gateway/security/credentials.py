"""Each user's credentials for upstream agents, encrypted at rest.

One row per (principal, agent): the access token, the refresh token (each encrypted with
Fernet, AES-128-CBC with an HMAC, under the key from ``[oidc] credential_key_env``), when the
access token expires, the scopes granted, and whether the user revoked it. A revoked row
holds no tokens; it only stops the gateway from obtaining new ones on its own (by token
exchange) until the user authorizes again. Principals and agent names are stored in the
clear: they say who has a credential where, not what it is.

The store is SQLite in the data folder (``credentials.sqlite3``) or, without a path, in
memory. Calls are short and run on the event loop, like the task store's.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from adapters.errors import Internal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    principal TEXT NOT NULL,
    agent TEXT NOT NULL,
    access BLOB,
    refresh BLOB,
    expires_at REAL,
    scope TEXT NOT NULL DEFAULT '',
    revoked INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (principal, agent)
)
"""


@dataclass(frozen=True, slots=True)
class Credential:
    """One user's tokens for one upstream agent, decrypted."""

    principal: str
    agent: str
    access: str | None
    refresh: str | None
    expires_at: float | None
    scope: str
    revoked: bool


class CredentialStore:
    """Encrypted credentials by (principal, agent).

    Raises (constructor):
        ValueError: ``key`` is not a Fernet key.
    """

    def __init__(self, key: str, path: Path | None = None) -> None:
        self._fernet = Fernet(key.encode())
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Built before the event loop that uses it may run in its own thread (uvicorn's).
        self._db = sqlite3.connect(
            str(path) if path is not None else ":memory:", check_same_thread=False
        )
        if path is not None:
            path.chmod(0o600)
        self._db.execute(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def _seal(self, value: str | None) -> bytes | None:
        return None if value is None else self._fernet.encrypt(value.encode())

    def _open(self, value: bytes | None) -> str | None:
        if value is None:
            return None
        try:
            return self._fernet.decrypt(value).decode()
        except InvalidToken:
            # Written under another key: the operator changed it.
            raise Internal("a stored credential cannot be decrypted with the key") from None

    def get(self, principal: str, agent: str) -> Credential | None:
        row = self._db.execute(
            "SELECT access, refresh, expires_at, scope, revoked FROM credentials"
            " WHERE principal = ? AND agent = ?",
            (principal, agent),
        ).fetchone()
        if row is None:
            return None
        access, refresh, expires_at, scope, revoked = row
        return Credential(
            principal,
            agent,
            self._open(access),
            self._open(refresh),
            expires_at,
            scope,
            bool(revoked),
        )

    def put(
        self,
        principal: str,
        agent: str,
        *,
        access: str | None,
        refresh: str | None,
        expires_at: float | None,
        scope: str = "",
    ) -> None:
        """Store (or replace) a live credential; a refresh token the server did not renew is
        kept (``refresh=None`` keeps the stored one)."""
        held = self.get(principal, agent)
        if refresh is None and held is not None and not held.revoked:
            refresh = held.refresh
        self._db.execute(
            "INSERT OR REPLACE INTO credentials VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
            (
                principal,
                agent,
                self._seal(access),
                self._seal(refresh),
                expires_at,
                scope,
                time.time(),
            ),
        )
        self._db.commit()

    def revoke(self, principal: str, agent: str) -> Credential | None:
        """Forget the tokens and mark the pair revoked; the credential as it was (None: there
        was none)."""
        held = self.get(principal, agent)
        self._db.execute(
            "INSERT OR REPLACE INTO credentials VALUES (?, ?, NULL, NULL, NULL, '', 1, ?)",
            (principal, agent, time.time()),
        )
        self._db.commit()
        return held if held is not None and not held.revoked else None

    def of(self, principal: str) -> list[Credential]:
        """Every live credential of ``principal``."""
        rows = self._db.execute(
            "SELECT agent FROM credentials WHERE principal = ? AND revoked = 0 ORDER BY agent",
            (principal,),
        ).fetchall()
        found = [self.get(principal, agent) for (agent,) in rows]
        return [c for c in found if c is not None]
