"""``effmesh serve``: build the registry from configuration and run the app under uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry


def endpoints(base: str) -> list[tuple[str, str]]:
    ws = base.replace("http://", "ws://").replace("https://", "wss://")
    return [
        ("MCP (streamable HTTP)", f"{base}/mcp"),
        ("MCP (WebSocket)", f"{ws}/mcp/ws"),
        ("agents", f"{base}/agents"),
    ]


def serve(*, host: str, port: int, config: str | None, data_dir: str | None) -> int:
    registry = Registry()
    registry.add(EchoAgent())
    app = create_app(registry, host=host)
    base = f"http://{host}:{port}"
    for label, url in endpoints(base):
        sys.stdout.write(f"{label:24} {url}\n")
    sys.stdout.flush()
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=4 * 1024 * 1024)
    return 0
