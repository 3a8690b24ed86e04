"""The gateway as an MCP server: every registered skill is one tool, ``<agent>.<skill>``.

Handlers are thin: the request goes through the MCP adapter into the canonical model, the
agent runs, and its outcome goes back through the adapter. Progress events become
``notifications/progress`` when the caller asked for them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import replace
from typing import Any

import mcp_types as mt
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from adapters import lifecycle
from adapters import mcp as mcp_adapter
from adapters.errors import Canceled, EffmeshError, Internal, InvalidParams, Timeout
from adapters.model import (
    Invocation,
    Message,
    ProgressEvent,
    StatusEvent,
    Task,
    TaskState,
    TextPart,
)
from gateway import calls
from gateway.registry import Registry, Route
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


MAX_INPUT_ROUNDS = 4
"""How many times one call may stop for input before it is answered with the last question."""


def continue_with(invocation: Invocation, question: Message, answer: str) -> Invocation:
    """The invocation that carries on a paused one: the exchange so far becomes history."""
    return replace(
        invocation,
        message=Message("user", (TextPart(answer),)),
        history=(*invocation.history, invocation.message, question),
    )


async def _elicit(ctx: ServerRequestContext[Any], task: Task) -> str:
    request = mcp_adapter.elicitation_request(task)["params"]
    reply = await ctx.session.elicit_form(request["message"], request["requestedSchema"])
    if reply.action != "accept" or not isinstance(reply.content, dict):
        raise Canceled("the user did not answer")
    answer = reply.content.get(mcp_adapter.TEXT_ARGUMENT)
    if not isinstance(answer, str):
        raise InvalidParams("the answer must be text", path="content.text")
    return answer


class PausedCalls:
    """Calls waiting for the client's answer (MCP 2026-07-28 input_required round trips).

    The token handed out is random and names state held here, so a client can only continue
    a call it was given; entries expire, and their number is bounded.
    """

    def __init__(self, ttl: float = 600.0, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._held: dict[str, tuple[float, Route, Invocation, Message, str | None]] = {}

    def hold(self, route: Route, invocation: Invocation, question: Message, who: str | None) -> str:
        now = time.monotonic()
        self._held = {k: v for k, v in self._held.items() if v[0] > now - self.ttl}
        while len(self._held) >= self.limit:
            self._held.pop(next(iter(self._held)))
        token = secrets.token_urlsafe(24)
        self._held[token] = (now, route, invocation, question, who)
        return token

    def resume(self, invocation: Invocation, who: str | None) -> tuple[Route, Invocation] | None:
        """The continued call a retry names, with the answer from its input responses."""
        token = invocation.metadata.get("mcp.requestState")
        if token is None:
            return None
        held = self._held.pop(token, None) if isinstance(token, str) else None
        if held is None or held[4] != who or held[0] < time.monotonic() - self.ttl:
            raise InvalidParams("unknown or expired requestState", path="params.requestState")
        _, route, paused_invocation, question, _ = held
        responses = invocation.metadata.get("mcp.inputResponses")
        reply = responses.get("input") if isinstance(responses, dict) else None
        if not isinstance(reply, dict) or reply.get("action") != "accept":
            raise Canceled("the user did not answer")
        content = reply.get("content")
        answer = content.get(mcp_adapter.TEXT_ARGUMENT) if isinstance(content, dict) else None
        if not isinstance(answer, str):
            raise InvalidParams("the answer must be text", path="params.inputResponses")
        return route, continue_with(paused_invocation, question, answer)


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

    paused = PausedCalls()

    async def run_once(
        ctx: ServerRequestContext[Any], route: Route, invocation: Invocation
    ) -> Task | Message:
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
        return outcome

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        wire = params.model_dump(by_alias=True, exclude_none=True, mode="json")
        who = _caller(ctx, principal)
        try:
            invocation = mcp_adapter.decode_invocation(wire)
            resumed = paused.resume(invocation, who)
            if resumed is not None:
                route, invocation = resumed
            else:
                route = registry.route(invocation.skill, who)
            for _ in range(MAX_INPUT_ROUNDS):
                outcome = await run_once(ctx, route, invocation)
                if not (isinstance(outcome, Task) and outcome.state is TaskState.INPUT_REQUIRED):
                    break
                question = outcome.status_message or Message("agent", ())
                if ctx.protocol_version == mcp_adapter.MODERN_VERSION:
                    # 2026-07-28: hand the question back; the client retries with the answer
                    # and this token, which names the paused call held here.
                    token = paused.hold(route, invocation, question, who)
                    meta = {**outcome.metadata, "mcp.requestState": token}
                    outcome = replace(outcome, metadata=meta)
                    break
                # Older revisions: ask the client in the middle of the call.
                answer = await _elicit(ctx, outcome)
                invocation = continue_with(invocation, question, answer)
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
