"""The gateway as an MCP server through the official SDK: every registered skill is one tool,
``<agent>.<skill>``. Streamable HTTP at ``/mcp`` serves both protocol eras with it.

The handlers only bridge the SDK's typed values and request context to ``gateway.mcp.tools``,
which does the work for every MCP transport. The tool handlers answer in wire JSON, which the
SDK takes as it is (a handler may return a dict) and checks against the result schema of the
caller's protocol revision: a typed result would be a model built only for the SDK to dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as mt
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from adapters import mcp as mcp_adapter
from adapters.errors import EffmeshError
from gateway.mcp.memory import MemoryResources
from gateway.mcp.tools import ToolCalls
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.security.guard import principal_of


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
    tools: ToolCalls | None = None,
) -> Server[Any]:
    """``principal`` fixes the caller (a WebSocket connection's token); ``tools`` lets a
    transport share its ``ToolCalls`` (and so its paused calls) with the server."""
    tools = tools or ToolCalls(registry, Runtime(timeout=timeout))

    async def list_tools(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams
    ) -> dict[str, Any]:
        # The list changes with the registry and with the caller: never cache it, never share it.
        return {
            "tools": tools.list(_caller(ctx, principal)),
            "ttlMs": 0,
            "cacheScope": "private",
            "resultType": "complete",
        }

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
    ) -> dict[str, Any]:
        async def progress(note: dict[str, Any]) -> None:
            await ctx.session.report_progress(
                note["progress"], note.get("total"), note.get("message")
            )

        async def elicit(request: dict[str, Any]) -> dict[str, Any]:
            asked = request["params"]
            reply = await ctx.session.elicit_form(asked["message"], asked["requestedSchema"])
            return reply.model_dump(mode="json", exclude_none=True)

        try:
            return await tools.call(
                params,
                who=_caller(ctx, principal),
                version=ctx.protocol_version,
                progress=progress,
                elicit=elicit,
            )
        except EffmeshError as exc:
            error = mcp_adapter.encode_error(exc)
            raise MCPError(error["code"], error["message"], error["data"]) from None

    resources = MemoryResources(registry)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourcesResult:
        return await resources.list(_caller(ctx, principal))

    async def list_templates(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListResourceTemplatesResult:
        return resources.templates(_caller(ctx, principal))

    async def read_resource(
        ctx: ServerRequestContext[Any], params: mt.ReadResourceRequestParams
    ) -> mt.ReadResourceResult:
        return await resources.read(str(params.uri), _caller(ctx, principal))

    def input_schema(tool_name: str) -> Mapping[str, Any] | None:
        # The SDK checks Mcp-Param-* headers against this; without it, it would list every
        # tool on each call to find one schema.
        return tools.input_schema(tool_name, principal)

    server: Server[Any] = Server(
        name,
        version=version,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        get_tool_input_schema=input_schema,
    )
    # Registered here rather than as on_list_tools / on_call_tool, whose types ask for the
    # SDK's result models.
    server.add_request_handler("tools/list", mt.PaginatedRequestParams, list_tools)
    server.add_request_handler("tools/call", mt.CallToolRequestParams, call_tool)
    return server
