"""The gateway as an MCP server: every registered skill is one tool, ``<agent>.<skill>``.

Handlers are thin: the request goes through the MCP adapter into the canonical model, the
agent runs, and its outcome goes back through the adapter. Progress events become
``notifications/progress`` when the caller asked for them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types as mt
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from adapters import lifecycle
from adapters import mcp as mcp_adapter
from adapters.errors import EffmeshError, Internal, Timeout
from adapters.model import Message, ProgressEvent, StatusEvent, Task, TaskState
from gateway import calls
from gateway.registry import Registry
from gateway.security import principal_of
from gateway.tasks import apply


def _mcp_error(exc: EffmeshError) -> MCPError:
    wire = mcp_adapter.encode_error(exc)
    return MCPError(wire["code"], wire["message"], wire["data"])


_RUNNING = frozenset({TaskState.SUBMITTED, TaskState.WORKING})
_SETTLED = lifecycle.TERMINAL | lifecycle.INTERRUPTED


def _caller(ctx: ServerRequestContext[Any], fixed: str | None) -> str | None:
    """The caller's principal: fixed for a WebSocket connection, else from the HTTP request."""
    if fixed is not None:
        return fixed
    scope = getattr(ctx.request, "scope", None)
    return principal_of(scope) if isinstance(scope, dict) else None


def build_server(
    registry: Registry,
    *,
    name: str = "effmesh",
    version: str = "0.1.0",
    timeout: float = 60.0,
    principal: str | None = None,
) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListToolsResult:
        tools = []
        for route in registry.routes(_caller(ctx, principal)):
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
            route = registry.route(invocation.skill, _caller(ctx, principal))
            task_id = calls.new_task_id()
            snapshot = Task(task_id, TaskState.SUBMITTED, invocation.message.context_id)
            outcome: Task | Message = snapshot
            step = 0
            async with asyncio.timeout(timeout):
                async for item in calls.stream(route, invocation, task_id):
                    if isinstance(item, ProgressEvent) or (
                        isinstance(item, StatusEvent) and item.state in _RUNNING
                    ):
                        step += 1
                        note = mcp_adapter.encode_stream_item(
                            item, progress_token=invocation.progress_token or 0, step=step
                        )
                        # Scoped to this request: a no-op when the caller gave no token.
                        await ctx.session.report_progress(
                            note["progress"], note.get("total"), note.get("message")
                        )
                    snapshot = apply(snapshot, item)
                    outcome = item if isinstance(item, Message) else snapshot
                    if isinstance(item, Message) or snapshot.state in _SETTLED:
                        break
            if isinstance(outcome, Task) and outcome.state in _RUNNING:
                raise Internal("the agent ended without a result")
            result = mcp_adapter.encode_outcome(outcome, version=ctx.protocol_version)
        except TimeoutError:
            raise _mcp_error(Timeout("the agent timed out")) from None
        except EffmeshError as exc:
            raise _mcp_error(exc) from None
        except Exception:  # noqa: BLE001 - the wire gets a generic error, never our text
            raise _mcp_error(Internal()) from None
        if result.get("resultType") == "input_required":
            return mt.InputRequiredResult.model_validate(result)
        return mt.CallToolResult.model_validate(result)

    return Server(name, version=version, on_list_tools=list_tools, on_call_tool=call_tool)
