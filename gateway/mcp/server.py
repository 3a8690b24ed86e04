"""The gateway as an MCP server through the official SDK: every registered skill is one tool,
``<agent>.<skill>``; the MCP agents' resources, prompts, completions and logging pass through
(``gateway.mcp.passthrough``). Streamable HTTP at ``/mcp`` serves both protocol eras with it.

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
from agents.remote.mcp_relay import CALLER
from gateway.mcp.listen import Listens
from gateway.mcp.memory import SCHEME, MemoryResources
from gateway.mcp.passthrough import RESOURCE_NOT_FOUND, Caller, Passthrough
from gateway.mcp.relay import SessionRelay
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


def _wire(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(by_alias=True, mode="json", exclude_none=True))


def _complete(result: dict[str, Any]) -> dict[str, Any]:
    """A passed-through result as 2026-07-28 callers need it too (older ones ignore it): the
    upstream session speaks the handshake era, whose results carry no ``resultType``."""
    return {"resultType": "complete", **result}


def _listing(result: dict[str, Any]) -> dict[str, Any]:
    """A list result: never cached, never shared (it changes with the caller and upstreams)."""
    return {**result, "ttlMs": 0, "cacheScope": "private", "resultType": "complete"}


def _not_found(exc: MCPError, uri: str, version: str | None) -> MCPError:
    """An unknown resource as the caller's revision words it, the URI in ``data``: -32602
    from 2026-07-28 on (SEP-2164), -32002 before."""
    if exc.error.code != RESOURCE_NOT_FOUND:
        return exc
    code = mt.INVALID_PARAMS if version == mcp_adapter.MODERN_VERSION else RESOURCE_NOT_FOUND
    return MCPError(code, exc.error.message, {"uri": uri})


def _mcp_error(exc: EffmeshError) -> MCPError:
    error = mcp_adapter.encode_error(exc)
    return MCPError(error["code"], error["message"], error["data"])


def build_server(
    registry: Registry,
    *,
    name: str = "effmesh",
    version: str = "0.1.0",
    timeout: float = 60.0,
    principal: str | None = None,
    tools: ToolCalls | None = None,
    upstreams: Passthrough | None = None,
) -> Server[Any]:
    """``principal`` fixes the caller (a WebSocket connection's token); ``tools`` lets a
    transport share its ``ToolCalls`` (and so its paused calls) with the server;
    ``upstreams`` its pass-through of the MCP agents (replicas send notifications on)."""
    tools = tools or ToolCalls(registry, Runtime(timeout=timeout))
    upstreams = upstreams or Passthrough(registry)
    # A resource link in a tool's result is read back from the agent that issued it.
    tools.answered.append(lambda agent, result: upstreams.learn(agent, result.get("content")))
    instance = object()  # this server's sessions, apart from another server's

    def caller(ctx: ServerRequestContext[Any]) -> tuple[object, Caller]:
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get("mcp-session-id") if headers is not None else None
        who = _caller(ctx, principal)
        key = (instance, who, session_id)
        return key, upstreams.caller(key, who, ctx.session, session_id)

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

        _, known = caller(ctx)
        relay = CALLER.set(SessionRelay(ctx, known.principal, known.level))
        try:
            result = await tools.call(
                params,
                who=known.principal,
                version=ctx.protocol_version,
                progress=progress,
                elicit=elicit,
            )
        except EffmeshError as exc:
            raise _mcp_error(exc) from None
        finally:
            CALLER.reset(relay)
        return result

    resources = MemoryResources(registry)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams
    ) -> dict[str, Any]:
        who = _caller(ctx, principal)
        own = _wire(await resources.list(who))["resources"]
        return _listing({"resources": own + await upstreams.list_resources(who)})

    async def list_templates(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams
    ) -> dict[str, Any]:
        who = _caller(ctx, principal)
        own = _wire(resources.templates(who))["resourceTemplates"]
        return _listing({"resourceTemplates": own + await upstreams.list_templates(who)})

    async def read_resource(
        ctx: ServerRequestContext[Any], params: mt.ReadResourceRequestParams
    ) -> dict[str, Any]:
        who, uri = _caller(ctx, principal), str(params.uri)
        try:
            if uri.startswith(SCHEME):
                return _wire(await resources.read(uri, who))
            return _complete(await upstreams.read(uri, who))
        except MCPError as exc:
            raise _not_found(exc, uri, ctx.protocol_version) from None

    async def subscribe(
        ctx: ServerRequestContext[Any], params: mt.SubscribeRequestParams
    ) -> dict[str, Any]:
        key, known = caller(ctx)
        try:
            await upstreams.subscribe(str(params.uri), key, known)
        except EffmeshError as exc:
            raise _mcp_error(exc) from None
        return {}

    async def unsubscribe(
        ctx: ServerRequestContext[Any], params: mt.UnsubscribeRequestParams
    ) -> dict[str, Any]:
        key, known = caller(ctx)
        try:
            await upstreams.unsubscribe(str(params.uri), key, known)
        except EffmeshError as exc:
            raise _mcp_error(exc) from None
        return {}

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams
    ) -> dict[str, Any]:
        return _listing({"prompts": await upstreams.list_prompts(_caller(ctx, principal))})

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: mt.GetPromptRequestParams
    ) -> dict[str, Any]:
        try:
            return _complete(
                await upstreams.get_prompt(
                    params.name,
                    params.arguments,
                    _caller(ctx, principal),
                    # A 2026-07-28 caller answers the server's questions itself: they come
                    # back as the server asked them, and its retry goes on as it came.
                    hand_on=ctx.protocol_version == mcp_adapter.MODERN_VERSION,
                    input_responses=params.input_responses,
                    request_state=params.request_state,
                )
            )
        except EffmeshError as exc:
            raise _mcp_error(exc) from None

    async def complete(
        ctx: ServerRequestContext[Any], params: mt.CompleteRequestParams
    ) -> dict[str, Any]:
        try:
            return _complete(await upstreams.complete(params, _caller(ctx, principal)))
        except EffmeshError as exc:
            raise _mcp_error(exc) from None

    async def set_level(
        ctx: ServerRequestContext[Any], params: mt.SetLevelRequestParams
    ) -> dict[str, Any]:
        _, known = caller(ctx)
        try:
            await upstreams.set_level(params.level, known)
        except EffmeshError as exc:
            raise _mcp_error(exc) from None
        return {}

    listens = Listens(upstreams)

    async def listen(
        ctx: ServerRequestContext[Any], params: mt.SubscriptionsListenRequestParams
    ) -> dict[str, Any]:
        return await listens.serve(ctx, params, _caller(ctx, principal))

    def input_schema(tool_name: str) -> Mapping[str, Any] | None:
        # The SDK checks Mcp-Param-* headers against this; without it, it would list every
        # tool on each call to find one schema.
        return tools.input_schema(tool_name, principal)

    server: Server[Any] = Server(name, version=version, get_tool_input_schema=input_schema)
    # Registered here rather than as on_list_tools / on_call_tool and the like, whose types
    # ask for the SDK's result models: the answers are wire JSON, passed through.
    for method, params_type, handler in (
        ("tools/list", mt.PaginatedRequestParams, list_tools),
        ("tools/call", mt.CallToolRequestParams, call_tool),
        ("resources/list", mt.PaginatedRequestParams, list_resources),
        ("resources/templates/list", mt.PaginatedRequestParams, list_templates),
        ("resources/read", mt.ReadResourceRequestParams, read_resource),
        ("resources/subscribe", mt.SubscribeRequestParams, subscribe),
        ("resources/unsubscribe", mt.UnsubscribeRequestParams, unsubscribe),
        ("prompts/list", mt.PaginatedRequestParams, list_prompts),
        ("prompts/get", mt.GetPromptRequestParams, get_prompt),
        ("completion/complete", mt.CompleteRequestParams, complete),
        ("logging/setLevel", mt.SetLevelRequestParams, set_level),
        ("subscriptions/listen", mt.SubscriptionsListenRequestParams, listen),
    ):
        server.add_request_handler(method, params_type, handler)  # type: ignore[arg-type]
    return server
