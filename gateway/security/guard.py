"""Pure ASGI middleware: bearer-token auth, request size limit and per-client rate limit.

Every refusal is answered in the caller's own protocol, chosen by path (see
``gateway.errors``). Agent cards stay public: A2A clients read them before they
authenticate, and the card says how to.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.errors import (
    EffmeshError,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from gateway.errors import http_error

PUBLIC_SUFFIXES = ("/.well-known/agent-card.json",)
PRINCIPAL = "effmesh.principal"
"""The scope-state key holding the caller's token name (absent or None: no tokens in use)."""


def principal_of(scope: Scope) -> str | None:
    state = scope.get("state")
    return state.get(PRINCIPAL) if isinstance(state, dict) else None


PUBLIC_PATHS = ("/health",)


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
    ) -> None:
        """``tokens``: bearer token -> principal name; none means no authentication.
        ``peers``: tokens of peer gateways -> principal name, accepted beside ``tokens``
        (with no ``tokens``, callers without a token still pass, as no one)."""
        self.app = app
        self.tokens = [(t.encode(), name) for t, name in tokens.items()]
        self.peers = [(t.encode(), name) for t, name in (peers or {}).items()]
        self.max_body = max_body
        self.bucket = TokenBucket(rate_per_minute) if rate_per_minute > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        refusal = self._check(scope, path)
        if isinstance(refusal, EffmeshError):
            await self._refuse(scope, send, path, refusal)
            return
        # Starlette's request.state, the SDKs' contexts and the endpoints read it from here.
        scope.setdefault("state", {})[PRINCIPAL] = refusal
        if scope["type"] == "http":
            receive = self._limited(receive)
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, path: str) -> EffmeshError | str | None:
        """A refusal, or the caller's principal (None: no tokens are configured)."""
        if self.bucket is not None:
            client = scope.get("client") or ("?", 0)
            if not self.bucket.take(str(client[0])):
                return RateLimited()
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                    return PayloadTooLarge(f"the body is larger than {self.max_body} bytes")
        if not self.tokens and not self.peers:
            return None
        headers = dict(scope.get("headers", []))
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer":
            for token, principal in self.peers:
                if hmac.compare_digest(given, token):
                    return principal
        if not self.tokens:
            return None
        if scheme.lower() == b"bearer":
            for token, principal in self.tokens:
                if hmac.compare_digest(given, token):
                    return principal
        if path in PUBLIC_PATHS or path.endswith(PUBLIC_SUFFIXES):
            return None
        return Unauthorized("a valid bearer token is required")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Chunked bodies have no Content-Length: end the request as a disconnect.
                    return {"type": "http.disconnect"}
            return message

        return wrapped

    async def _refuse(self, scope: Scope, send: Send, path: str, err: EffmeshError) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": err.public_message})
            return
        status, body, headers = http_error(path, err)
        raw_headers: list[Any] = [(b"content-type", b"application/json")]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


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
