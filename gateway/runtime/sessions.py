"""The MCP sessions that gateway replicas share: who opened each Streamable HTTP session
(``Mcp-Session-Id``), at which protocol revision and with which client capabilities, so that
a replica that did not open a session can take it up when the load balancer sends it one of
the session's requests (``gateway.mcp.cluster``).

One process alone keeps its sessions in the MCP SDK's session manager: :class:`LocalSessions`
records nothing. Replicas sharing a PostgreSQL store record them in its ``mcp_sessions``
table (:class:`PostgresSessions`). A session's row is written when the session opens, before
its id reaches the client, and deleted when the client closes the session. The SDK forgets a
session that is idle on a replica; its row stays, and is deleted once no replica has taken it
up for :data:`KEEP_SECONDS` (the client then opens a new session, as the specification has it
do on a 404).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from adapters import _json

if TYPE_CHECKING:
    from gateway.runtime.channel import Channel
    from gateway.runtime.postgres import PostgresTaskStore

KEEP_SECONDS: Final = 86_400.0
"""How long a session no replica takes up is kept."""


@dataclass(frozen=True, slots=True)
class StoredSession:
    session_id: str
    owner: str | None
    """The principal whose initialize request opened it (None: no tokens in use)."""
    version: str
    """The protocol revision the handshake settled on."""
    client: dict[str, Any]
    """The params of the client's ``initialize`` request (capabilities, client info)."""
    level: str | None = None
    """The logging level the client last set (None: it set none)."""


class SessionBook(Protocol):
    """Calls are short: they run on the event loop. Not thread-safe."""

    @property
    def shared(self) -> bool:
        """Whether other replicas read what is recorded here."""
        ...

    def open(self, session: StoredSession) -> None: ...

    def load(self, session_id: str) -> StoredSession | None:
        """The session, noted as taken up now; None if it is unknown or was closed."""
        ...

    def level(self, session_id: str, level: str | None) -> None: ...

    def close(self, session_id: str) -> None: ...


class LocalSessions:
    """One process: the SDK's session manager is the only record needed."""

    shared = False

    def open(self, session: StoredSession) -> None:
        pass

    def load(self, session_id: str) -> StoredSession | None:
        return None

    def level(self, session_id: str, level: str | None) -> None:
        pass

    def close(self, session_id: str) -> None:
        pass


class PostgresSessions:
    """The ``mcp_sessions`` table of a PostgreSQL task store."""

    shared = True

    def __init__(self, store: PostgresTaskStore) -> None:
        self.store = store

    def open(self, session: StoredSession) -> None:
        now = time.time_ns()
        with self.store.pool.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM mcp_sessions WHERE updated < %s", (now - int(KEEP_SECONDS * 1e9),)
            )
            conn.execute(
                "INSERT INTO mcp_sessions (id, owner, version, client, level, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    session.session_id,
                    session.owner,
                    session.version,
                    _json.dumps(session.client).decode(),
                    session.level,
                    now,
                ),
            )

    def load(self, session_id: str) -> StoredSession | None:
        with self.store.pool.connection() as conn:
            row = conn.execute(
                "UPDATE mcp_sessions SET updated = %s WHERE id = %s"
                " RETURNING owner, version, client, level",
                (time.time_ns(), session_id),
            ).fetchone()
        if row is None:
            return None
        owner, version, client, level = row
        return StoredSession(
            session_id,
            None if owner is None else str(owner),
            str(version),
            dict(_json.loads(str(client))),
            None if level is None else str(level),
        )

    def level(self, session_id: str, level: str | None) -> None:
        with self.store.pool.connection() as conn:
            conn.execute("UPDATE mcp_sessions SET level = %s WHERE id = %s", (level, session_id))

    def close(self, session_id: str) -> None:
        with self.store.pool.connection() as conn:
            conn.execute("DELETE FROM mcp_sessions WHERE id = %s", (session_id,))


def sessions_for(channel: Channel) -> SessionBook:
    """The session book of the replicas that hear each other on ``channel`` (none but this
    process: local)."""
    if not channel.shared:
        return LocalSessions()
    from gateway.runtime.channel import PostgresChannel  # noqa: PLC0415 - optional

    if not isinstance(channel, PostgresChannel):
        raise TypeError(f"no session book for a shared {type(channel).__name__}")
    return PostgresSessions(channel.store)
