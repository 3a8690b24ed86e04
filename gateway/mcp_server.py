"""The gateway as an MCP server: every registered skill is one tool, ``<agent>.<skill>``.

Handlers are thin: the request goes through the MCP adapter into the canonical model, the
agent runs, and its outcome goes back through the adapter. Progress events become
``notifications/progress`` when the caller asked for them.
"""

from __future__ import annotations

from typing import Any

import mcp_types as mt
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from adapters import mcp as mcp_adapter
from adapters.errors import EffmeshError, Internal
from adapters.model import ArtifactEvent, Message, ProgressEvent, StatusEvent, Task
from gateway import calls
from gateway.registry import Registry


def _mcp_error(exc: EffmeshError) -> MCPError:
    wire = mcp_adapter.encode_error(exc)
    return MCPError(wire["code"], wire["message"], wire["data"])


def build_server(
    registry: Registry, *, name: str = "effmesh", version: str = "0.1.0"
) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListToolsResult:
        tools = []
        for route in registry.routes():
            skill = route.skill
            tool = mcp_adapter.encode_skill(skill)
            tool["name"] = route.tool_name
            if not skill.description:
                tool["description"] = route.agent.descriptor.description
            tools.append(mt.Tool.model_validate(tool))
        return mt.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        wire = params.model_dump(by_alias=True, exclude_none=True, mode="json")
        try:
            invocation = mcp_adapter.decode_invocation(wire)
            route = registry.route(invocation.skill)
            task_id = calls.new_task_id()
            outcome: Task | Message | None = None
            artifacts = []
            step = 0
            async for item in calls.stream(route, invocation, task_id):
                if isinstance(item, StatusEvent | ProgressEvent):
                    step += 1
                    note = mcp_adapter.encode_stream_item(
                        item, progress_token=invocation.progress_token or 0, step=step
                    )
                    # Scoped to this request: a no-op when the caller gave no progress token.
                    await ctx.session.report_progress(
                        note["progress"], note.get("total"), note.get("message")
                    )
                elif isinstance(item, ArtifactEvent):
                    artifacts.append(item.artifact)
                else:
                    outcome = item
            if outcome is None:
                raise Internal("the agent ended without a result")
            if isinstance(outcome, Task) and not outcome.artifacts and artifacts:
                outcome = Task(
                    outcome.task_id,
                    outcome.state,
                    outcome.context_id,
                    outcome.status_message,
                    tuple(artifacts),
                    outcome.history,
                    outcome.metadata,
                )
            result = mcp_adapter.encode_outcome(outcome, version=ctx.protocol_version)
        except EffmeshError as exc:
            raise _mcp_error(exc) from None
        if result.get("resultType") == "input_required":
            return mt.InputRequiredResult.model_validate(result)
        return mt.CallToolResult.model_validate(result)

    return Server(name, version=version, on_list_tools=list_tools, on_call_tool=call_tool)
