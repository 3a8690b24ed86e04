"""The gateway's Starlette application: the only place where the layers are wired together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from gateway.mcp_server import build_server
from gateway.mcp_ws import serve_websocket
from gateway.registry import Registry


def create_app(registry: Registry, *, host: str = "127.0.0.1") -> Starlette:
    mcp_server = build_server(registry)
    mcp_http = mcp_server.streamable_http_app(streamable_http_path="/", host=host)

    async def list_agents(request: Request) -> JSONResponse:
        return JSONResponse({
            "agents": [
                {
                    "name": a.descriptor.name,
                    "description": a.descriptor.description,
                    "skills": [s.name for s in a.descriptor.skills],
                    "state": "up",
                }
                for a in registry.agents()
            ]
        })

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp_server.session_manager.run():
            yield

    async def mcp_websocket(websocket: WebSocket) -> None:
        await serve_websocket(websocket, build_server(registry))

    routes: list[Any] = [
        Route("/agents", list_agents, methods=["GET"]),
        WebSocketRoute("/mcp/ws", mcp_websocket),
        Mount("/mcp", app=mcp_http),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
