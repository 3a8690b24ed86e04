"""Pure ASGI middleware: bearer-token auth, body size and read-time limits, and rate limits
per token and per client address, on every HTTP request and every WebSocket frame.

Every refusal is answered in the caller's own protocol, chosen by path (see
``gateway.errors``). Agent cards stay public: A2A clients read them before they
authenticate, and the card says how to. A caller without a token there is no one
(``agents.base.NOBODY``): it sees only the agents open to every token.

A browser cannot set headers on a WebSocket: there the token may come as a subprotocol
instead, ``effmesh.bearer.<the token in unpadded base64url>`` (never chosen by the server, so
it is not echoed back), and is checked like the header.

The client address is the peer's, unless the peer is a configured trusted proxy; only then is
``X-Forwarded-For`` read (its rightmost address that is not itself a trusted proxy), so a
caller cannot rotate its address past the limit by sending the header itself.

A request body is read whole (it is JSON for every protocol here) before the endpoint runs:
a body over the limit, chunked or not, is answered 413, and a client that stops sending in
the middle of one (a ``Content-Length`` larger than what arrives) is answered 408 after the
read timeout instead of holding the request open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.errors import (
    EffmeshError,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    Timeout,
    Unauthorized,
)
from agents.base import NOBODY
from gateway import logs
from gateway.bodies import replay
from gateway.errors import http_error
from gateway.security.oauth import InsufficientScope, InvalidToken, ResourceServer

PUBLIC_SUFFIXES = ("/.well-known/agent-card.json",)
MESH_PATH = "/ws"
"""The mesh socket: dial-in agents and joining gateways."""
PRINCIPAL = "effmesh.principal"
"""The scope-state key holding the caller's token name (absent or None: no tokens in use;
``NOBODY``: no token, on a public path of a gateway that uses tokens)."""
FRAMES = "effmesh.frames"
"""The scope-state key holding a WebSocket connection's :class:`FrameLimit`."""
BODY_WHOLE = "effmesh.body_whole"
"""The scope key the server's HTTP protocol (:mod:`gateway.security.deadlines`) sets when a
request's body has all arrived before its app runs: the first read has it at once, and no
timer need watch for it."""


def principal_of(scope: Scope) -> str | None:
    state = scope.get("state")
    return state.get(PRINCIPAL) if isinstance(state, dict) else None


class FrameLimit:
    """Takes one request's worth from the caller's rate limits for each WebSocket frame."""

    def __init__(self, take: Callable[[], bool]) -> None:
        self._take = take

    def take(self) -> bool:
        """False: the frame is over the caller's rate and must be refused."""
        return self._take()


UNLIMITED = FrameLimit(lambda: True)


def frame_limit(scope: Scope) -> FrameLimit:
    """The rate limit a WebSocket endpoint applies to each frame it reads."""
    state = scope.get("state")
    limit = state.get(FRAMES) if isinstance(state, dict) else None
    return limit if isinstance(limit, FrameLimit) else UNLIMITED


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The caller's address: the peer's, or, when the peer is a trusted proxy, the rightmost
    address of ``X-Forwarded-For`` that is not a trusted proxy itself."""
    peer = str((scope.get("client") or ("?", 0))[0])
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded: list[str] = [
        hop.strip()
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(forwarded):
        if not _within(hop, trusted):
            return hop
    return peer


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


PUBLIC_PATHS = ("/health",)
BEARER_SUBPROTOCOL = "effmesh.bearer."
"""A WebSocket subprotocol that carries the bearer token (see the module docstring)."""


def subprotocol_token(scope: Scope) -> bytes:
    """The token a WebSocket offered as a subprotocol (empty: none, or not base64url)."""
    for offered in scope.get("subprotocols") or ():
        if offered.startswith(BEARER_SUBPROTOCOL):
            raw = offered[len(BEARER_SUBPROTOCOL) :]
            try:
                return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                return b""
    return b""


class TokenBucket:
    """``rate`` requests per minute per key, with a burst of the same size."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - last) * self.rate / 60.0)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            # Forget the idle: a full bucket is the same as no entry.
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] > now - 60}
        return True


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: dict[str, str],
        max_body: int,
        rate_per_minute: int,
        peers: dict[str, str] | None = None,
        token_rate_per_minute: int | None = None,
        trusted_proxies: Sequence[str] = (),
        body_timeout: float = 30.0,
        public: Collection[str] = (),
        oauth: ResourceServer | None = None,
        public_prefixes: Sequence[str] = (),
    ) -> None:
        """``tokens``: bearer token -> principal name; none means no authentication.
        ``peers``: tokens of peer gateways -> principal name, accepted beside ``tokens``
        (with no ``tokens``, callers without a token still pass, as no one).
        ``rate_per_minute``: requests and frames per client address (0: unlimited);
        ``token_rate_per_minute``: the same per token (default: ``rate_per_minute``).
        ``trusted_proxies``: addresses or networks whose ``X-Forwarded-For`` is believed.
        ``body_timeout``: seconds a request body may pause between two reads.
        ``public``: more paths served without a token (the console's page and its files).
        ``oauth``: an OpenID provider whose access tokens are accepted beside ``tokens``.
        ``public_prefixes``: paths under these are served without a token too."""
        self.app = app
        self.tokens = [(t.encode(), name) for t, name in tokens.items()]
        self.peers = [(t.encode(), name) for t, name in (peers or {}).items()]
        self.max_body = max_body
        self.bucket = TokenBucket(rate_per_minute) if rate_per_minute > 0 else None
        per_token = rate_per_minute if token_rate_per_minute is None else token_rate_per_minute
        self.token_bucket = TokenBucket(per_token) if per_token > 0 else None
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.body_timeout = body_timeout
        self._refusals = logs.Once(logging.getLogger("effmesh.federation"))
        self.public = frozenset((*PUBLIC_PATHS, *public))
        self.oauth = oauth
        self.public_prefixes = tuple(public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        address = client_address(scope, self.trusted)
        principal = self._principal(scope, path)
        if isinstance(principal, bytes):
            # Only a provider token costs an await; named tokens stay on the plain path.
            principal = await self._provider_principal(principal)
            if isinstance(principal, Unauthorized) and self._public(path):
                principal = NOBODY  # a stale token does not hide a card or the metadata
        refusal = self._check(scope, address, principal)
        if isinstance(refusal, EffmeshError):
            if path == MESH_PATH and isinstance(refusal, Unauthorized):
                # A gateway that tries to join with the wrong token sees only a 403; say why
                # here too, where the operator can fix it.
                self._refusals.log(
                    logging.WARNING,
                    "refused a connection to %s from %s: %s (a joining gateway needs the "
                    "federation token)",
                    MESH_PATH,
                    address,
                    refusal.public_message,
                )
            await self._refuse(scope, send, path, refusal)
            return
        # Starlette's request.state, the SDKs' contexts and the endpoints read it from here.
        state = scope.setdefault("state", {})
        state[PRINCIPAL] = refusal
        if scope["type"] == "websocket":
            state[FRAMES] = FrameLimit(lambda: self._take(address, refusal))
        elif scope.get("method") in ("POST", "PUT", "PATCH"):
            body = await self._read_body(receive, whole=BODY_WHOLE in scope)
            if isinstance(body, EffmeshError):
                await self._refuse(scope, send, path, body)
                return
            receive = replay(body, receive)
        await self.app(scope, receive, send)

    def _take(self, address: str, principal: str | None) -> bool:
        """One request from the client address's bucket and the token's; both must allow."""
        if self.bucket is not None and not self.bucket.take(f"ip:{address}"):
            return False
        return not (
            self.token_bucket is not None
            and principal not in (None, NOBODY)
            and not self.token_bucket.take(f"token:{principal}")
        )

    def _check(
        self, scope: Scope, address: str, principal: EffmeshError | str | None
    ) -> EffmeshError | str | None:
        """A refusal, or the caller's principal (None: no tokens are configured), once the
        caller is known: its rates, then the declared body size."""
        if isinstance(principal, EffmeshError):
            # An unauthenticated caller still spends its address's allowance.
            if self.bucket is not None and not self.bucket.take(f"ip:{address}"):
                return RateLimited()
            return principal
        if not self._take(address, principal):
            return RateLimited()
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                    return PayloadTooLarge(f"the body is larger than {self.max_body} bytes")
        return principal

    async def _provider_principal(self, token: bytes) -> EffmeshError | str:
        """The principal of a provider's access token, or why it is refused."""
        assert self.oauth is not None  # only asked with a provider configured
        try:
            return (await self.oauth.authenticate(token.decode("ascii"))).principal
        except UnicodeDecodeError:
            return InvalidToken()
        except EffmeshError as exc:
            return exc

    def _principal(self, scope: Scope, path: str) -> EffmeshError | str | bytes | None:
        """The caller's principal, a refusal, or a token for the provider to check (bytes)."""
        if not self.tokens and not self.peers and self.oauth is None:
            return None
        headers = dict(scope.get("headers", []))
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if not scheme and scope["type"] == "websocket":
            scheme, given = b"bearer", subprotocol_token(scope)
        if scheme.lower() == b"bearer":
            for token, principal in self.peers:
                if hmac.compare_digest(given, token):
                    return principal
        if not self.tokens and self.oauth is None:
            return None
        if scheme.lower() == b"bearer":
            for token, principal in self.tokens:
                if hmac.compare_digest(given, token):
                    return principal
            if given and self.oauth is not None:
                return bytes(given)
        if self._public(path):
            return NOBODY
        return Unauthorized("a valid bearer token is required")

    def _public(self, path: str) -> bool:
        return (
            path in self.public
            or path.endswith(PUBLIC_SUFFIXES)
            or (bool(self.public_prefixes) and path.startswith(self.public_prefixes))
        )

    async def _read_body(self, receive: Receive, *, whole: bool) -> bytes | EffmeshError:
        """The whole body, or why it was refused (too large, or too slow to arrive).
        ``whole``: it has all arrived (:data:`BODY_WHOLE`), so reading it waits for nothing."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            if whole:
                whole = False  # a read after the first (none, for a whole body) is timed
                message = await receive()
            else:
                try:
                    # A deadline, not wait_for: no task of its own for each read.
                    async with asyncio.timeout(self.body_timeout):
                        message = await receive()
                except TimeoutError:
                    return _SlowBody("the request body stopped arriving")
            if message["type"] != "http.request":
                return InvalidRequest("the client left before sending its body")
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                return PayloadTooLarge(f"the body is larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, send: Send, path: str, err: EffmeshError) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": err.public_message})
            return
        status, body, headers = http_error(path, err)
        if self.oauth is not None and isinstance(err, Unauthorized | InsufficientScope):
            headers = {**headers, "www-authenticate": self.oauth.challenge(err)}
        if isinstance(err, _SlowBody):
            status = 408  # the client was slow, not an upstream: Request Timeout
        raw_headers: list[Any] = [(b"content-type", b"application/json")]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        if isinstance(err, _SlowBody | PayloadTooLarge):
            # The rest of the body is not read: the connection cannot carry another request.
            raw_headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


class _SlowBody(Timeout):
    """A request body that stopped arriving (answered 408, not an upstream's 504)."""


class JsonBodies:
    """Refuse a POST whose Content-Type is not JSON with a JSON-RPC error (the MCP SDK
    answers such a request with plain text), and the SDK's status, 415: MCP's own transport
    rule, the one exception to ``adapters.errors.HTTP_STATUS``."""

    def __init__(self, app: ASGIApp, path_prefix: str) -> None:
        self.app = app
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST":
            headers = dict(scope.get("headers", []))
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if ctype != b"application/json":
                err = InvalidRequest("the body must be application/json")
                _status, body, _ = http_error(self.path_prefix, err)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
