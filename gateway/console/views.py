"""What the console shows besides tasks, as JSON for the page: the agents a caller may see,
the federation, a task's trace as a waterfall, and the caller's memory.

Each view is built for one caller (its principal), from what the protocol endpoints use: the
registry's per-principal lists, ``GET /federation``'s status, the trace file through
``observability.tracefile``, and the memory agent called as the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from adapters.errors import NotFound
from adapters.model import DataPart, Invocation, Message, TaskState
from agents.base import Agent
from agents.memory import MemoryAgent
from agents.memory.agent import memory_json
from agents.memory.scope import scope_for
from gateway.console import runtime
from gateway.mesh.dialin import DialInAgent
from gateway.mesh.federation.calls import FederatedAgent
from gateway.mesh.federation.service import Federation
from gateway.registry import Registry
from gateway.routing.agent import RouterAgent
from gateway.settings import Config
from observability import tracefile

KINDS: Final[tuple[tuple[type[Agent], str, str], ...]] = (
    (FederatedAgent, "federated", "mesh"),
    (DialInAgent, "dial-in", "mesh"),
    (RouterAgent, "router", "in-process"),
)
"""Agent classes -> (kind, protocol the gateway reaches them by); the first match wins. A
remote agent is told by its ``remote`` attribute (:data:`REMOTE`), and an agent of neither is
an in-process one of its configured kind."""
REMOTE: Final = {"mcp": "mcp", "mcp-stdio": "mcp (stdio)", "a2a": "a2a", "acp": "acp"}
"""A remote agent's ``remote`` -> the protocol the console shows."""
MEMORIES: Final = 20
"""Recent memories listed, and hits of a search."""


def _kind(agent: Agent, configured: Mapping[str, str]) -> tuple[str, str]:
    if agent.remote is not None:
        return "remote", REMOTE.get(agent.remote, agent.remote)
    for cls, kind, protocol in KINDS:
        if isinstance(agent, cls):
            return kind, protocol
    return configured.get(agent.descriptor.name, "in-process"), "in-process"


def agents(
    registry: Registry,
    config: Config,
    principal: str | None,
    federation: Federation | None,
    models: Callable[[], list[dict[str, object]]] | None,
) -> dict[str, Any]:
    """The agents ``principal`` may see (as ``GET /agents`` lists them), each with its kind,
    protocol, health, the gateways that host it and its skills; and the models in use."""
    configured = {entry.name: entry.kind for entry in config.agents}
    out = []
    for agent in registry.agents(principal):
        d = agent.descriptor
        kind, protocol = _kind(agent, configured)
        hosts = ["local"]
        if isinstance(agent, FederatedAgent) and federation is not None:
            hosts = federation.table.offering(d.name) or ["?"]
        out.append(
            {
                "name": d.name,
                "description": d.description or "",
                "kind": kind,
                "protocol": protocol,
                "state": "up" if agent.healthy else "down",
                "hosts": hosts,
                "skills": [
                    {
                        "name": s.name,
                        "description": s.description or "",
                        "examples": list(s.examples),
                        "input_schema": s.input_schema,
                    }
                    for s in d.skills
                ],
            }
        )
    return {"agents": out, "models": models() if models is not None else []}


def federation_status(
    federation: Federation | None,
    registry: Registry,
    principal: str | None,
    operators: Collection[str],
) -> dict[str, Any]:
    """What ``GET /federation`` answers ``principal``: the agents of other gateways it may
    call (all of them for operators, and on a gateway without tokens)."""
    if federation is None:
        return {"gateway": None, "links": [], "origins": {}}
    if principal is None or principal in operators:
        return federation.status()
    return federation.status(lambda name: registry.allowed(name, principal))


def trace_file(config: Config) -> Path | None:
    """The JSON-lines trace file the gateway writes (None: it writes none)."""
    if "file" not in config.telemetry.exporters:
        return None
    path = Path(config.telemetry.file)
    return path if path.is_absolute() else Path(config.data_dir) / path


def _spans(roots: Sequence[tracefile.Node]) -> list[dict[str, Any]]:
    """The trees' spans in the order a waterfall draws them, each with its depth, its start
    and end in nanoseconds from the trace's first start, and the attributes `effmesh trace`
    shows."""
    flat: list[tuple[int, tracefile.Node, object]] = []

    def walk(node: tracefile.Node, depth: int, service: object) -> None:
        flat.append((depth, node, service))
        for child in node.children:
            walk(child, depth + 1, node.record.get("service"))

    for root in roots:
        walk(root, 0, None)
    starts = [n.record["start"] for _, n, _ in flat if isinstance(n.record.get("start"), int)]
    origin = min(starts, default=0)
    out = []
    for depth, node, parent_service in flat:
        r = node.record
        attrs = r.get("attributes") or {}
        raw_start, raw_end = r.get("start"), r.get("end")
        start = raw_start if isinstance(raw_start, int) else origin
        end = raw_end if isinstance(raw_end, int) else start
        out.append(
            {
                "id": r.get("span_id"),
                "name": str(r.get("name", "?")),
                "depth": depth,
                "start": start - origin,
                "end": end - origin,
                "kind": r.get("kind"),
                # As `effmesh trace` shows it: only where a span's service differs from its
                # parent's (a hop to another process).
                "service": r.get("service") if r.get("service") != parent_service else None,
                "error": r.get("status") == "ERROR",
                "attributes": {
                    short: attrs[key]
                    for key, short in tracefile.SHOWN
                    if attrs.get(key) not in (None, "")
                },
            }
        )
    return out


def _read_trace(path: Path, task_id: str) -> dict[str, Any]:
    records = list(tracefile.read([path]))
    traces = []
    for trace_id in tracefile.trace_ids(records, task_id):
        traces.append({"trace_id": trace_id, "spans": _spans(tracefile.tree(records, trace_id))})
    return {"task": task_id, "traces": traces}


async def trace(path: Path | None, task_id: str) -> dict[str, Any]:
    """Every trace of ``task_id`` in the trace file, as waterfalls (none yet: an empty list;
    spans reach the file in batches).

    Raises:
        NotFound: the gateway writes no trace file.
    """
    if path is None:
        raise NotFound("this gateway writes no trace file ([telemetry] exporters)")
    return await asyncio.to_thread(_read_trace, path, task_id)


def _memory_agent(registry: Registry, principal: str | None) -> MemoryAgent | None:
    for agent in registry.agents(principal):
        if isinstance(agent, MemoryAgent):
            return agent
    return None


def _memory_row(raw: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "text", "kind", "agent", "task", "context", "created", "importance", "score")
    return {k: raw.get(k) for k in keys if k in raw}


async def memory(
    registry: Registry, principal: str | None, query: str, *, timeout: float = 60.0
) -> dict[str, Any]:
    """The caller's newest memories, or (with a ``query``) those closest to it: the memory
    agent's ``search`` skill called as the caller, so its scope holds. ``agent`` is None when
    the caller may reach no memory agent."""
    agent = _memory_agent(registry, principal)
    if agent is None:
        return {"agent": None, "scope": None, "memories": []}
    name = agent.descriptor.name
    scope = scope_for(principal)
    if not query.strip():
        # The newest, as the MCP resources list them: the agent has no skill for it.
        latest = await agent.service.latest(scope, MEMORIES)
        rows = [memory_json(m) for m in latest]
        return {"agent": name, "scope": scope, "query": None, "memories": rows}
    route = registry.route(f"{name}.search", principal)
    ask = Message("user", (DataPart({"query": query, "limit": MEMORIES}),))
    task = await runtime.run_as(route, Invocation("search", ask), principal, timeout=timeout)
    if task.state is not TaskState.COMPLETED:
        why = runtime.text_of(task.status_message.parts) if task.status_message else ""
        return {"agent": name, "scope": scope, "query": query, "error": why, "memories": []}
    hits = [
        _memory_row(hit)
        for artifact in task.artifacts
        for part in artifact.parts
        if isinstance(part, DataPart) and isinstance(part.data, dict)
        for hit in part.data.get("hits", [])
        if isinstance(hit, dict)
    ]
    return {"agent": name, "scope": scope, "query": query, "memories": hits}
