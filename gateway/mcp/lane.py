"""``/mcp`` past Starlette's router and middleware: its requests go straight to the MCP
endpoint once the guard has let them in.

Every request to ``/mcp`` (most of them tool calls) would otherwise pass Starlette's error
middleware, its exception middleware and its router, which tries each route's pattern in turn
before it finds this one; none of them changes what the endpoint does. What they give it is
kept here: a fault of the endpoint's own is answered as the app's handler answers it (an MCP
internal error, status 500, no exception text) and re-raised for the server's log, and a
method the route does not take still goes to Starlette, which answers 405 in MCP's form.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.errors import Internal
from gateway.errors import http_error

PATHS: Final = frozenset({"/mcp", "/mcp/"})
METHODS: Final = frozenset({"GET", "POST", "DELETE"})
"""The methods the ``/mcp`` route takes (the rest are Starlette's to refuse)."""


class McpLane:
    """Pure ASGI: ``/mcp`` requests of the methods it takes to ``endpoint``, everything else
    (other paths, lifespan, WebSockets) to ``app``."""

    def __init__(self, app: ASGIApp, endpoint: ASGIApp) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.endpoint(scope, receive, watched)
        except Exception:
            if not started:
                status, body, _ = http_error(scope["path"], Internal())
                head = [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                ]
                await send({"type": "http.response.start", "status": status, "headers": head})
                await send({"type": "http.response.body", "body": body})
            raise
