"""An MCP server that speaks only 2026-07-28: the official SDK's ``MCPServer`` with its tools
served by the SDK's own stateless 2026-07-28 request handler alone, so ``initialize`` (the
handshake era) is refused and there is no session, as on a server written for that revision.

Its tools ask the client the 2026-07-28 way, with the SDK's resolvers: the call ends
``input_required`` with the question, and the client's retry brings the answer. ``greet`` asks
for a name (elicitation), ``poem`` asks the client's model (sampling), ``region`` takes an
argument that the client must mirror into an ``Mcp-Param-Region`` header (the SDK refuses a
call without it), ``now`` answers at once, ``touch`` tells ``subscriptions/listen`` streams
that the resource ``modern://watched`` changed, ``chatty`` logs a debug and an info line (as
far as the request's ``logLevel`` admits) and names the level it was asked for. Every call it
serves is noted in ``seen`` (the method, the ``Mcp-Param-*`` headers and any session id) so a
test can see what reached it.
"""

from __future__ import annotations

from typing import Annotated, Any

import mcp_types as mt
from mcp.server._streamable_http_modern import handle_modern_request
from mcp.server.connection import allowed_log_levels
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve, Sample
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

MODERN = "2026-07-28"


class Name(BaseModel):
    text: str


def ask_name() -> Elicit[Name]:
    return Elicit("What name?", Name)


def ask_model(topic: str) -> Sample:
    text = mt.TextContent(type="text", text=f"a poem about {topic}")
    return Sample([mt.SamplingMessage(role="user", content=text)], max_tokens=40)


def build_modern() -> MCPServer:
    server = MCPServer("modern")

    @server.tool(description="Answers at once.")
    def now(text: str) -> str:
        return f"now: {text}"

    @server.tool(description="Asks for a name and greets it.")
    def greet(name: Annotated[Name, Resolve(ask_name)]) -> str:
        return f"hello {name.text}"

    @server.tool(description="Asks the client's model for a poem about a topic.")
    def poem(topic: str, poem: Annotated[mt.CreateMessageResult, Resolve(ask_model)]) -> str:
        said = poem.content.text if isinstance(poem.content, mt.TextContent) else ""
        return f"poem: {said}"

    @server.resource("modern://watched", mime_type="text/plain")
    def watched() -> str:
        return "watched"

    @server.tool(description="Tells listeners that modern://watched changed.")
    async def touch(ctx: Context) -> str:
        await ctx.notify_resource_updated("modern://watched")
        return "touched"

    @server.tool(description="Logs a debug and an info line, as the request's level admits.")
    async def chatty(ctx: Context) -> str:
        # Sent as the notifications they are: the SDK's helper for them is deprecated.
        allowed = allowed_log_levels(MODERN, ctx.request_context.meta)
        for level, text in (("debug", "fine detail"), ("info", "progress")):
            if level in allowed:
                params = mt.LoggingMessageNotificationParams(level=level, data=text)
                note = mt.LoggingMessageNotification(params=params)
                await ctx.session.send_notification(note, related_request_id=ctx.request_id)
        meta = ctx.request_context.meta or {}
        return f"level: {meta.get(mt.LOG_LEVEL_META_KEY)}"

    @server.tool(description="Names the region it was called for.")
    def region(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        return f"region: {region}"

    return server


class ModernOnly:
    """The ASGI app: ``/mcp`` through the SDK's 2026-07-28 handler, nothing else."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server._lowlevel_server  # the SDK's handlers, served as is
        self.seen: list[dict[str, Any]] = []
        self._state: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http" or scope["path"] != "/mcp":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append(
            {
                "method": headers.get("mcp-method"),
                "params": {k: v for k, v in headers.items() if k.startswith("mcp-param-")},
                "session": headers.get("mcp-session-id"),
            }
        )
        await handle_modern_request(self.server, None, False, self._state, scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with self.server.lifespan(self.server) as state:
            self._state = state
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})
