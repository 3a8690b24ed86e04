"""The shared memory as MCP resources: each of the caller's memories is ``memory://<id>``, and
``memory://search/{query}`` reads the memories closest in meaning to a query.

Every list and read is in the caller's own scope (its token), as for the ``memory.*`` tools,
and only for callers the memory agent's allow list admits.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import unquote

import mcp_types as mt
from mcp.shared.exceptions import MCPError

from adapters.errors import EffmeshError, quote
from agents.memory import Memory, MemoryAgent
from agents.memory.scope import scope_for
from gateway.registry import Registry

SCHEME: Final = "memory://"
SEARCH: Final = f"{SCHEME}search/"
RESOURCE_NOT_FOUND: Final = -32002
"""MCP's error code for a resource that does not exist."""
LISTED: Final = 50


def _as_json(memory: Memory, score: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": memory.memory_id,
        "text": memory.text,
        "kind": memory.kind,
        "agent": memory.agent,
        "task": memory.task,
        "context": memory.context,
        "created_ms": memory.created_ms,
        "importance": memory.importance,
    }
    if score is not None:
        out["score"] = round(score, 4)
    return out


class MemoryResources:
    """Resources over the registry's memory agent (none: no resources)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _agent(self, who: str | None) -> MemoryAgent | None:
        for agent in self.registry.agents(who):
            if isinstance(agent, MemoryAgent):
                return agent
        return None

    async def list(self, who: str | None) -> mt.ListResourcesResult:
        agent = self._agent(who)
        if agent is None:
            return mt.ListResourcesResult(resources=[])
        memories = await agent.service.latest(scope_for(who), LISTED)
        return mt.ListResourcesResult(
            resources=[
                mt.Resource(
                    uri=f"{SCHEME}{m.memory_id}",
                    name=" ".join(m.text.split())[:60],
                    description=f"{m.kind} memory" + (f" of {m.agent}" if m.agent else ""),
                    mime_type="application/json",
                )
                for m in memories
            ]
        )

    def templates(self, who: str | None) -> mt.ListResourceTemplatesResult:
        if self._agent(who) is None:
            return mt.ListResourceTemplatesResult(resource_templates=[])
        return mt.ListResourceTemplatesResult(
            resource_templates=[
                mt.ResourceTemplate(
                    uri_template=f"{SCHEME}{{id}}",
                    name="memory",
                    description="One memory of the caller's, by id.",
                    mime_type="application/json",
                ),
                mt.ResourceTemplate(
                    uri_template=f"{SEARCH}{{query}}",
                    name="memory search",
                    description="The caller's memories closest in meaning to the query.",
                    mime_type="application/json",
                ),
            ]
        )

    async def read(self, uri: str, who: str | None) -> mt.ReadResourceResult:
        """Raises MCPError: not a memory URI, or no such memory in the caller's scope."""
        agent = self._agent(who)
        if agent is None or not uri.startswith(SCHEME):
            raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource {quote(uri)}")
        scope = scope_for(who)
        try:
            if uri.startswith(SEARCH):
                hits = await agent.service.search(scope, unquote(uri[len(SEARCH) :]), limit=10)
                body: Any = [_as_json(h.memory, h.score) for h in hits]
            else:
                found = await agent.service.get(scope, [uri[len(SCHEME) :]])
                if not found:
                    raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource {quote(uri)}")
                body = _as_json(found[0])
        except EffmeshError as exc:
            raise MCPError(RESOURCE_NOT_FOUND, exc.public_message) from None
        return mt.ReadResourceResult(
            contents=[
                mt.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(body)
                )
            ]
        )
