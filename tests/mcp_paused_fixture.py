"""Upstreams and replicas for the paused-call tests across replicas
(``tests/test_replicas_mcp_paused.py``, ``tests/test_replicas_held_calls.py``): a 2026-07-28
server with tools that ask two things at once, a handshake-era server whose tools ask two
questions at once or ask and then work until cancelled, an ASGI wrapper that records what
reached a server, and an ``effmesh serve`` replica with two tokens."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import mcp_types as mt
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.mcp_fixture import _elicit
from tests.mcp_modern_fixture import Name, ask_model, ask_name, build_modern
from tests.replicas import Replica

ENV = {"ide": "MCPR_TOKEN_IDE", "ops": "MCPR_TOKEN_OPS"}
"""The tokens' environment variables: not ``EFFMESH_*``, which a replica starts without."""


def build_upstream() -> MCPServer:
    """The 2026-07-28 fixture, with tools that ask two things at once."""
    server = build_modern()

    @server.tool(description="Asks for a name and a poem at once.")
    def pair(
        topic: str,
        name: Annotated[Name, Resolve(ask_name)],
        poem: Annotated[mt.CreateMessageResult, Resolve(ask_model)],
    ) -> str:
        said = poem.content.text if isinstance(poem.content, mt.TextContent) else ""
        return f"{name.text}: {said}"

    @server.tool(description="Asks for a name and a town at once.")
    def where(
        name: Annotated[Name, Resolve(ask_name)], town: Annotated[Name, Resolve(ask_town)]
    ) -> str:
        return f"{name.text} from {town.text}"

    return server


def ask_town() -> Elicit[Name]:
    return Elicit("What town?", Name)


def build_asking() -> MCPServer:
    """A handshake-era server: ``both`` asks two questions at once, ``linger`` asks one and
    then works until the client cancels."""
    server = MCPServer("asking")
    schema = {"type": "object", "properties": {"text": {"type": "string"}}}

    @server.tool(description="Asks for a name and a town at once.")
    async def both(ctx: Context) -> str:
        name, town = await asyncio.gather(
            _elicit(ctx, "What name?", schema), _elicit(ctx, "What town?", schema)
        )
        return f"{(name.content or {}).get('text')} from {(town.content or {}).get('text')}"

    @server.tool(description="Asks for a name, then works until the client cancels.")
    async def linger(ctx: Context) -> str:
        await _elicit(ctx, "What name?", schema)
        await asyncio.Event().wait()  # nothing sets it: only a cancel ends the call
        return "never"

    return server


class Recorded:
    """An ASGI app, with the JSON bodies of the POSTs that reached it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def reading() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.bodies.append(json.loads(b"".join(chunks) or b"null"))
            return message

        await self.app(scope, reading, send)

    def retried(self) -> list[Any]:
        """The params of the ``tools/call`` retries it got (with the client's responses)."""
        return [
            b["params"]
            for b in self.bodies
            if isinstance(b, dict)
            and b.get("method") == "tools/call"
            and "inputResponses" in b.get("params", {})
        ]

    def answers(self) -> list[Any]:
        """The client's answers to the server's requests (JSON-RPC responses) it got."""
        return [b for b in self.bodies if isinstance(b, dict) and "result" in b]


class PausingReplica(Replica):
    """A replica with two tokens and the MCP upstreams ``agents`` (callable by both tokens)."""

    def __init__(self, folder: Path, name: str, store: str, public_url: str, agents: str) -> None:
        super().__init__(folder, name, store, public_url)
        self.agents = agents

    def config(self) -> str:
        tokens = "".join(f'{who} = "{env}"\n' for who, env in ENV.items())
        base = super().config().replace("[gateway]\n", '[gateway]\ntoken_env = "MCPR_UNSET"\n')
        timeout = "call_timeout_seconds = 30\nhealth_interval_seconds = 0\n"
        base = base.replace("health_interval_seconds = 0\n", timeout)
        return f"{base}{self.agents}[tokens]\n{tokens}"
