"""The registry as a specialist's tool box: every registered skill is a tool it may be given.

A specialist names its tools in configuration (``calculator.evaluate``, or ``files.*`` for all
of an agent's skills); calls go through the same route and agent streams as a protocol
caller's, so a remote MCP, A2A or ACP agent is as usable as a local one. The specialist's
caller travels with each call: it is offered, and may call, only the tools whose agents that
caller may call itself, and its tool calls are stored as that caller's. A tool's failure comes
back as a result the model can read (``ok=False`` with the error's public text).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from adapters.errors import EffmeshError, quote
from adapters.mcp.calls import arguments_parts
from adapters.mcp.tools import TEXT_INPUT_SCHEMA
from adapters.model import (
    DataPart,
    Invocation,
    Message,
    TaskState,
)
from agents.specialists.agent import ToolResult
from agents.tools.index import ToolInfo
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.runtime.tasks import result_text, text_of

MAX_RESULT_CHARS = 2000
"""Tool output fed back to a small model is cut here; the full result stays in the record."""


class RegistryTools:
    """Tools from ``registry`` for the specialist named ``owner`` (never its own skills);
    calls run and are stored in ``runtime`` (default: its own, in memory)."""

    def __init__(self, registry: Registry, owner: str, runtime: Runtime | None = None) -> None:
        self.registry = registry
        self.owner = owner
        self.runtime = runtime or Runtime()

    def tools(self, patterns: Sequence[str], *, principal: str | None) -> list[ToolInfo]:
        out = []
        for route in self.registry.routes(principal):
            if route.agent.descriptor.name == self.owner:
                continue
            qualified = f"{route.agent.descriptor.name}.{route.skill.name}"
            if any(fnmatch.fnmatchcase(qualified, p) for p in patterns):
                skill = route.skill
                out.append(
                    ToolInfo(
                        qualified,
                        skill.description or route.agent.descriptor.description or "",
                        skill.input_schema or TEXT_INPUT_SCHEMA,
                    )
                )
        return out

    async def call(
        self, name: str, arguments: dict[str, Any], *, scope: str, principal: str | None
    ) -> ToolResult:
        # The same arguments convention as an MCP caller's tools/call.
        invocation = Invocation(name, Message("user", arguments_parts(arguments)))
        try:
            route = self.registry.route(name, principal)
        except EffmeshError as exc:
            return ToolResult(False, exc.public_message)
        if route.agent.descriptor.name == self.owner:
            return ToolResult(False, f"unknown tool {quote(name)}")
        settled = await self.runtime.delegate(
            route, invocation, via=self.owner, principal=principal, scope=scope
        )
        if settled.error is not None:
            return ToolResult(False, settled.error.public_message)
        task = settled.task
        if task.state is not TaskState.COMPLETED:
            why = text_of(task.status_message.parts) if task.status_message else ""
            return ToolResult(False, why or f"the tool ended {task.state.value}")
        data = [p.data for a in task.artifacts for p in a.parts if isinstance(p, DataPart)]
        text = result_text(task)
        return ToolResult(True, text[:MAX_RESULT_CHARS], data[0] if len(data) == 1 else None)
