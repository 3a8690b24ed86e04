"""An authorization server as the gateway reads it: its metadata (RFC 8414 / OpenID Connect
Discovery) and its signing keys (JWKS), fetched through the outbound guard and cached.

Keys are trusted for ``refresh`` seconds; a token signed with a key id the cached set does
not hold fetches the set again at once, so a provider that rotates its keys is followed
without a restart. Such fetches are at least a second apart, and an id a fresh set lacked is
refused without asking for a while: a stream of forged key ids cannot make the gateway hammer
the provider.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
import jwt

from adapters.errors import EffmeshError, UpstreamUnavailable
from agents import outbound

UNKNOWN_KID_INTERVAL: Final = 10.0
"""How long a key id that a fresh key set lacked is taken as unknown without asking again."""
FORCED_INTERVAL: Final = 1.0
"""The shortest time between two fetches caused by unknown key ids."""
METADATA_PATHS: Final = (
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
)


class AuthorizationServer:
    """One issuer: its metadata and keys. Safe to share between the requests of one loop."""

    def __init__(
        self,
        issuer: str,
        policy: outbound.Policy,
        *,
        jwks_uri: str = "",
        refresh: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
    ) -> None:
        self.issuer = issuer
        self.policy = policy
        self._jwks_uri = jwks_uri
        self.refresh = refresh
        self.clock = clock
        self.timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._unnamed: list[jwt.PyJWK] = []
        self._fetched_at: float | None = None
        self._forced_at: float | None = None
        self._missing: dict[str | None, float] = {}
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str) -> Any:
        async with outbound.httpx_client(self.policy, timeout=self.timeout) as http:
            response = await http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            return json.loads(response.content)

    async def metadata(self) -> dict[str, Any]:
        """The server's metadata; its ``issuer`` must be the configured one.

        Raises:
            UpstreamUnavailable: no metadata document could be read, or it names another issuer.
        """
        if self._metadata is not None:
            return self._metadata
        base = self.issuer.rstrip("/")
        for path in METADATA_PATHS:
            try:
                doc = await self._get_json(base + path)
            except (httpx.HTTPError, ValueError, EffmeshError):
                continue
            if isinstance(doc, dict) and doc.get("issuer") == self.issuer:
                self._metadata = doc
                return doc
        raise UpstreamUnavailable(f"no metadata for the authorization server {self.issuer!r}")

    @property
    def cached_metadata(self) -> dict[str, Any] | None:
        return self._metadata

    async def endpoint(self, name: str) -> str | None:
        """A metadata endpoint (``token_endpoint``, ...), None when the server has none."""
        value = (await self.metadata()).get(name)
        return value if isinstance(value, str) and value else None

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The signing key ``kid`` names (no kid: the set's only key), fetching the set when
        it is stale or the id is unknown; None when even a fresh set lacks it.

        Fetches for unknown ids are at least :data:`FORCED_INTERVAL` apart (a later one waits
        its turn, so a rotated key is still found), and an id a fresh set lacked is not
        looked for again for :data:`UNKNOWN_KID_INTERVAL` seconds.

        Raises:
            UpstreamUnavailable: the set could not be fetched and none is cached.
        """
        now = self.clock()
        stale = self._fetched_at is None or now - self._fetched_at > self.refresh
        found = self._lookup(kid)
        if found is not None and not stale:
            return found
        if (
            found is None
            and not stale
            and self._missing.get(kid, -UNKNOWN_KID_INTERVAL) > now - UNKNOWN_KID_INTERVAL
        ):
            return None
        async with self._lock:
            found = self._lookup(kid)
            if found is not None and self._fetched_at is not None and self._fetched_at >= now:
                return found  # fetched by another request while this one waited
            if not stale and self._forced_at is not None:
                wait = self._forced_at + FORCED_INTERVAL - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
            await self._fetch(forced=not stale)
        found = self._lookup(kid)
        if found is None:
            if len(self._missing) > 1000:
                self._missing.clear()
            self._missing[kid] = self.clock()
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        keys = [*self._keys.values(), *self._unnamed]
        return keys[0] if len(keys) == 1 else None

    async def _fetch(self, *, forced: bool) -> None:
        uri = self._jwks_uri or await self.endpoint("jwks_uri")
        if uri is None:
            raise UpstreamUnavailable(f"the authorization server {self.issuer!r} has no jwks_uri")
        try:
            doc = await self._get_json(uri)
            keyset = jwt.PyJWKSet.from_dict(doc)
        except (httpx.HTTPError, ValueError, jwt.PyJWTError, EffmeshError) as exc:
            if self._fetched_at is None:
                raise UpstreamUnavailable(
                    f"the signing keys of {self.issuer!r} cannot be read"
                ) from exc
            return  # keep the keys we have; a later token tries again
        signing = [k for k in keyset.keys if k.public_key_use in (None, "sig")]
        self._keys = {k.key_id: k for k in signing if k.key_id}
        self._unnamed = [k for k in signing if not k.key_id]
        self._fetched_at = self.clock()
        if forced:
            self._forced_at = self._fetched_at
