"""``effmesh serve``: build the registry from configuration and run the app under uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from adapters.errors import EffmeshError
from agents.echo import EchoAgent
from gateway import config as config_mod
from gateway.app import create_app
from gateway.registry import Registry


def endpoints(base: str) -> list[tuple[str, str]]:
    ws = base.replace("http://", "ws://").replace("https://", "wss://")
    return [
        ("MCP (streamable HTTP)", f"{base}/mcp"),
        ("MCP (WebSocket)", f"{ws}/mcp/ws"),
        ("agents", f"{base}/agents"),
    ]


def serve(*, host: str | None, port: int | None, config: str | None, data_dir: str | None) -> int:
    try:
        cfg = config_mod.load(config, host=host, port=port, data_dir=data_dir)
    except EffmeshError as exc:
        sys.stderr.write(f"effmesh: {exc.public_message}\n")
        return 2
    if not cfg.loopback and cfg.token is None:
        sys.stderr.write(
            f"effmesh: listening on {cfg.host} needs a bearer token: set {cfg.token_env}\n"
        )
        return 2
    registry = Registry()
    for agent in cfg.agents:
        if agent.kind == "echo":
            registry.add(EchoAgent(agent.name))
        else:
            sys.stderr.write(f"effmesh: agents of kind {agent.kind!r} are not supported yet\n")
            return 2
    app = create_app(registry, cfg)
    host, port = cfg.host, cfg.port
    base = f"http://{host}:{port}"
    for label, url in endpoints(base):
        sys.stdout.write(f"{label:24} {url}\n")
    sys.stdout.flush()
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=4 * 1024 * 1024)
    return 0
