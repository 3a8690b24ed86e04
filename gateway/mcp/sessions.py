"""Who owns each MCP session of the streamable HTTP endpoint, and how many each may hold.

A session (``mcp-session-id``) belongs to the principal whose initialize request the SDK
answered with it. A request that names another principal's session is answered exactly as
the SDK answers an unknown session (404 and the same JSON-RPC error), so a caller cannot
tell the two apart. Each principal may hold ``per_owner`` sessions open at once: an
initialize beyond that is refused with a rate-limit error, so one tenant cannot fill the
SDK's global session limit and lock the others out. With no tokens in use (principal None)
there is no per-owner limit, only the SDK's.

A session is forgotten when it is deleted, when a request for it is answered 404 (the SDK
dropped it), and, as the limit is reached, when the SDK no longer holds it (an idle session
it closed).
"""

from __future__ import annotations

import json
from typing import Final

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.errors import RateLimited
from gateway.errors import http_error
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


def _is_initialize(body: bytes) -> bool:
    try:
        request = json.loads(body)
    except ValueError:
        return False
    return isinstance(request, dict) and request.get("method") == "initialize"


class McpSessions:
    """Pure ASGI: wraps the SDK's streamable HTTP app (``app``) of ``manager``. On the event
    loop; not thread-safe."""

    def __init__(
        self, app: ASGIApp, manager: StreamableHTTPSessionManager, *, per_owner: int
    ) -> None:
        self.app = app
        self.manager = manager
        self.per_owner = per_owner
        self._owners: dict[str, str | None] = {}

    def owner(self, session_id: str) -> str | None:
        return self._owners.get(session_id)

    def open(self, who: str | None) -> int:
        """How many sessions ``who`` holds open (after forgetting those the SDK closed)."""
        # The SDK has no hook for a session it closes when idle: compare with what it holds.
        live = self.manager._server_instances
        for gone in [s for s in self._owners if s not in live]:
            del self._owners[gone]
        return sum(1 for owner in self._owners.values() if owner == who)

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
            status = await _forward(self.app, scope, receive, send)
            if status == 404 or (
                scope.get("method") == "DELETE" and status is not None and status < 300
            ):
                self._owners.pop(session, None)
            return
        first = await receive()
        if (
            who is not None
            and _is_initialize(first.get("body", b""))
            and self.open(who) >= self.per_owner
        ):
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
                        self._owners[value.decode("latin-1")] = who
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
