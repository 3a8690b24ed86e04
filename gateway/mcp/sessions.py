"""Who owns each MCP session of the streamable HTTP endpoint, and how many each may hold.

A session (``mcp-session-id``) belongs to the principal whose initialize request the SDK
answered with it. A request that names another principal's session is answered exactly as
the SDK answers an unknown session (404 and the same JSON-RPC error), so a caller cannot
tell the two apart. Each principal may hold ``per_owner`` sessions open at once: an
initialize beyond that is refused with a rate-limit error, so one tenant cannot fill the
SDK's global session limit and lock the others out. With no tokens in use (principal None)
there is no per-owner limit, only the SDK's.

Tool calls in a session go to ``lean`` (``gateway.mcp.lean``) when it takes them, which
learns each session's client capabilities from its initialize request here.

A session is forgotten when it is deleted, when a request for it is answered 404 (the SDK
dropped it), and, as the limit is reached, when the SDK no longer holds it (an idle session
it closed).
"""

from __future__ import annotations

import json
from typing import Any, Final

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.errors import RateLimited
from gateway import bodies
from gateway.errors import http_error
from gateway.mcp.lean import LeanCalls
from gateway.security.guard import principal_of

_HEADER: Final = MCP_SESSION_ID_HEADER.encode()
NOT_FOUND: Final = (
    JSONRPCError(
        jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message="Session not found")
    )
    .model_dump_json(by_alias=True, exclude_unset=True)
    .encode()
)
"""The SDK's own answer to an unknown session id (with status 404)."""


def _initialize(body: bytes) -> dict[str, Any] | None:
    """The request in ``body`` if it is an ``initialize``."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if isinstance(request, dict) and request.get("method") == "initialize":
        return request
    return None


class McpSessions:
    """Pure ASGI: wraps the SDK's streamable HTTP app (``app``) of ``manager``. On the event
    loop; not thread-safe."""

    def __init__(
        self,
        app: ASGIApp,
        manager: StreamableHTTPSessionManager,
        *,
        per_owner: int,
        lean: LeanCalls | None = None,
    ) -> None:
        self.app = app
        self.manager = manager
        self.per_owner = per_owner
        self.lean = lean
        self._owners: dict[str, str | None] = {}

    def owner(self, session_id: str) -> str | None:
        return self._owners.get(session_id)

    def open(self, who: str | None) -> int:
        """How many sessions ``who`` holds open (after forgetting those the SDK closed)."""
        # The SDK has no hook for a session it closes when idle: compare with what it holds.
        live = self.manager._server_instances
        for gone in [s for s in self._owners if s not in live]:
            self._forget(gone)
        return sum(1 for owner in self._owners.values() if owner == who)

    def _forget(self, session: str) -> None:
        self._owners.pop(session, None)
        if self.lean is not None:
            self.lean.closed(session)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        who = principal_of(scope)
        named = dict(scope.get("headers", [])).get(_HEADER)
        if named is not None:
            session = named.decode("latin-1")
            if session in self._owners and self._owners[session] != who:
                await _answer(send, 404, NOT_FOUND)
                return
            if self.lean is not None and session in self._owners and scope["method"] == "POST":
                message = await receive()
                body = message.get("body", b"")
                if await self.lean.take(
                    scope, body, session=session, who=who, receive=receive, send=send
                ):
                    return
                receive = bodies.replay(body, receive)
            status = await _forward(self.app, scope, receive, send)
            if status == 404 or (
                scope.get("method") == "DELETE" and status is not None and status < 300
            ):
                self._forget(session)
            return
        first = await receive()
        if self.lean is not None and scope["method"] == "POST":
            body = first.get("body", b"")
            if await self.lean.take(scope, body, session=None, who=who, receive=receive, send=send):
                return
        initialize = _initialize(first.get("body", b""))
        if who is not None and initialize is not None and self.open(who) >= self.per_owner:
            err = RateLimited(f"at most {self.per_owner} open MCP sessions per caller")
            status, body, _ = http_error("/mcp", err)
            await _answer(send, status, body)
            return

        pending: list[Message] = [first]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == _HEADER:
                        session = value.decode("latin-1")
                        self._owners[session] = who
                        if self.lean is not None and initialize is not None:
                            self.lean.opened(session, initialize)
            await send(message)

        await self.app(scope, replay, record)


async def _forward(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int | None:
    """Run ``app``; return the status it answered with (None: it did not answer)."""
    status: int | None = None

    async def watch(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    await app(scope, receive, watch)
    return status


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
