"""``effmesh serve``: build the registry from configuration and run the app under uvicorn."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn

from adapters.errors import EffmeshError
from agents.base import Agent
from agents.echo import EchoAgent
from agents.remote import RemoteA2AAgent, RemoteACPAgent, RemoteMCPAgent, RemoteMCPStdioAgent
from gateway import config as config_mod
from gateway.addresses import check_agent_url
from gateway.app import create_app
from gateway.registry import Registry
from gateway.store import SQLiteTaskStore

RemoteKind = type[RemoteMCPAgent] | type[RemoteA2AAgent] | type[RemoteACPAgent]
REMOTE_KINDS: dict[str, RemoteKind] = {
    "mcp": RemoteMCPAgent,
    "a2a": RemoteA2AAgent,
    "acp": RemoteACPAgent,
}


def endpoints(base: str, registry: Registry) -> list[tuple[str, str]]:
    ws = base.replace("http://", "ws://").replace("https://", "wss://")
    out = [
        ("MCP (streamable HTTP)", f"{base}/mcp"),
        ("MCP (WebSocket)", f"{ws}/mcp/ws"),
        ("A2A (WebSocket)", f"{ws}/a2a/ws"),
        ("ACP", f"{base}/acp"),
        ("ACP (WebSocket)", f"{ws}/acp/ws"),
        ("mesh (dial-in agents)", f"{ws}/ws"),
        ("agents", f"{base}/agents"),
        ("A2A (all agents)", f"{base}/a2a"),
    ]
    out += [
        (f"A2A agent {a.descriptor.name}", f"{base}/a2a/{a.descriptor.name}")
        for a in registry.agents()
    ]
    return out


async def build_registry(cfg: config_mod.Config) -> Registry:
    """Every configured agent; a remote one that cannot be reached is kept, marked down."""
    registry = Registry()
    for entry in cfg.agents:
        agent: Agent
        if entry.kind == "echo":
            agent = EchoAgent(entry.name)
        elif entry.kind in REMOTE_KINDS:
            remote: RemoteMCPAgent | RemoteA2AAgent | RemoteACPAgent
            if entry.kind == "mcp" and entry.command and entry.url is None:
                remote = RemoteMCPStdioAgent(
                    entry.name, entry.command, timeout=cfg.call_timeout_seconds
                )
            elif entry.url is None:
                raise config_mod.InvalidParams("is required", path=f"agents.{entry.name}.url")
            else:
                url = check_agent_url(entry.url, allow_private=cfg.allow_private_agents)
                remote = REMOTE_KINDS[entry.kind](entry.name, url, timeout=cfg.call_timeout_seconds)
            try:
                await remote.connect()
            except EffmeshError as exc:
                sys.stderr.write(f"effmesh: {exc.public_message}; it is listed as down\n")
            agent = remote
        else:
            raise config_mod.InvalidParams(
                f"unknown agent kind {entry.kind!r}", path=f"agents.{entry.name}.kind"
            )
        registry.add(agent, allow=entry.allow, prefix=entry.prefix)
    return registry


def serve(*, host: str | None, port: int | None, config: str | None, data_dir: str | None) -> int:
    try:
        cfg = config_mod.load(config, host=host, port=port, data_dir=data_dir)
        if not cfg.loopback and not cfg.principals():
            sys.stderr.write(
                f"effmesh: listening on {cfg.host} needs a bearer token: set {cfg.token_env}\n"
            )
            return 2
        registry = asyncio.run(build_registry(cfg))
    except EffmeshError as exc:
        sys.stderr.write(f"effmesh: {exc.public_message}\n")
        return 2
    base = f"http://{cfg.host}:{cfg.port}"
    store = SQLiteTaskStore(Path(cfg.data_dir) / "tasks.sqlite3")
    app = create_app(registry, cfg, base_url=base, store=store)
    for label, url in endpoints(base, registry):
        sys.stdout.write(f"{label:24} {url}\n")
    sys.stdout.flush()
    uvicorn.run(
        app, host=cfg.host, port=cfg.port, log_level="warning", ws_max_size=cfg.max_body_bytes
    )
    return 0
