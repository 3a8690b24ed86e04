"""MCP ``tools/list`` and ``tools/call`` over the registry, in wire JSON, for every MCP transport.

The streamable HTTP endpoint (through the SDK's server) and the WebSocket endpoint (its own
frame loop) both answer tool calls here, so the two behave the same: the request goes through
the MCP adapter into the canonical model, the agent runs, and its outcome goes back through the
adapter. Progress and the question of an agent waiting for input reach the client through
callbacks that each transport supplies.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import mcp_types as mt

from adapters import mcp as mcp_adapter
from adapters.errors import Canceled, EffmeshError, Internal, InvalidParams, Timeout
from adapters.model import (
    DataPart,
    Invocation,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from gateway.mcp.splice import Splice
from gateway.registry import Registry, Route
from gateway.runtime.paused import StoredPauses
from gateway.runtime.runner import Runtime
from observability import boundary, tracing

if TYPE_CHECKING:
    from gateway.mcp.handover import Handover

Progress = Callable[[dict[str, Any]], Awaitable[None]]
"""Sends one ``notifications/progress`` (its params) to the caller."""
Elicit = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Sends an ``elicitation/create`` request (method and params) and returns the client's result."""

_RUNNING = frozenset({TaskState.SUBMITTED, TaskState.WORKING})

MAX_INPUT_ROUNDS = 4
"""How many times one call may stop for input before it is answered with the last question."""


def continue_with(invocation: Invocation, question: Message, answer: str | Message) -> Invocation:
    """The invocation that carries on a paused one: the exchange so far becomes history."""
    message = answer if isinstance(answer, Message) else Message("user", (TextPart(answer),))
    return replace(
        invocation, message=message, history=(*invocation.history, invocation.message, question)
    )


def _reply(question: Message, responses: Any) -> str | Message:
    """A retry's answer to ``question``: the client's responses as they came when the
    question was an upstream's own input requests (handed on to it), else the text the
    client answered the gateway's elicitation with."""
    parts = question.parts
    first = parts[0] if len(parts) == 1 else None
    if isinstance(first, DataPart) and first.metadata.get(mcp_adapter.INPUT_REQUESTS_KEY):
        if not isinstance(responses, dict):
            raise InvalidParams("needs inputResponses", path="params.inputResponses")
        flag = {mcp_adapter.INPUT_RESPONSES_KEY: True}
        return Message("user", (DataPart(responses, flag),))
    reply = responses.get("input") if isinstance(responses, dict) else None
    return _answer(reply, "params.inputResponses")


def _answer(reply: Any, path: str) -> str:
    """The text a client answered an elicitation with."""
    if not isinstance(reply, dict) or reply.get("action") != "accept":
        raise Canceled("the user did not answer")
    content = reply.get("content")
    answer = content.get(mcp_adapter.TEXT_ARGUMENT) if isinstance(content, dict) else None
    if not isinstance(answer, str):
        raise InvalidParams("the answer must be text", path=path)
    return answer


def url_elicitations(err: EffmeshError) -> list[dict[str, Any]] | None:
    """The URL elicitations an error asks the user to complete (a missing authorization at
    an upstream: ``gateway.security.upstream``), or None."""
    asked = (err.data or {}).get("elicitations")
    if not isinstance(asked, list) or not asked:
        return None
    return [e for e in asked if isinstance(e, dict) and e.get("mode") == "url"] or None


def _wire(params: Any) -> dict[str, Any]:
    """``tools/call`` params as wire JSON, from the SDK's model or as they came."""
    if isinstance(params, mt.CallToolRequestParams):
        return dict(params.model_dump(by_alias=True, mode="json", exclude_none=True))
    return dict(params)


def _action(reply: Any) -> Any:
    return reply.get("action") if isinstance(reply, dict) else None


class PausedCalls:
    """Calls waiting for the client's answer (MCP 2026-07-28 input_required round trips).

    The token handed out is random and names state held here, so a client can only continue
    a call it was given; entries expire, and their number is bounded. With ``stored`` (the
    task store), a call paused with a question is kept there instead, and a retry that
    reaches another replica, or this gateway restarted, carries it on
    (``gateway.runtime.paused``); one waiting for URL elicitations stays here.
    """

    def __init__(
        self, ttl: float = 600.0, limit: int = 10_000, *, stored: StoredPauses | None = None
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.stored = stored
        self._held: dict[
            str, tuple[float, Route, Invocation, Message | None, str | None, Task | None]
        ] = {}

    def hold(
        self,
        route: Route,
        invocation: Invocation,
        question: Message | None,
        who: str | None,
        *,
        task: Task | None = None,
        endpoint: str = "/mcp",
    ) -> str:
        """A token for the paused call; ``task``: the call's settled task (stored with it);
        ``question`` None: it waits for URL elicitations (the user authorizing at a page),
        after which it runs again as it was. Those stay with this replica."""
        if self.stored is not None and task is not None and question is not None:
            return self.stored.hold(task, route, invocation, who, endpoint)
        now = time.monotonic()
        self._held = {k: v for k, v in self._held.items() if v[0] > now - self.ttl}
        while len(self._held) >= self.limit:
            self._held.pop(next(iter(self._held)))
        token = secrets.token_urlsafe(24)
        self._held[token] = (now, route, invocation, question, who, task)
        return token

    def elsewhere(self, invocation: Invocation, who: str | None) -> str | None:
        """The other replica that holds open the paused call a retry names (None: none)."""
        token = invocation.metadata.get("mcp.requestState")
        if self.stored is None or not isinstance(token, str) or "." not in token:
            return None
        return self.stored.elsewhere(token, who)

    def resume(
        self, invocation: Invocation, who: str | None
    ) -> tuple[Route, Invocation, Task | None] | None:
        """The continued call a retry names, with the answer from its input responses, and
        the paused task it answers (None: the call runs again as it was)."""
        token = invocation.metadata.get("mcp.requestState")
        if token is None:
            return None
        responses = invocation.metadata.get("mcp.inputResponses")
        # A stored pause's token is "<task id>.<secret>"; one held here has no dot.
        if self.stored is not None and isinstance(token, str) and "." in token:
            paused = self.stored.take(token, who, invocation.metadata, tool=invocation.skill)
            if paused is None:
                raise InvalidParams("unknown or expired requestState", path="params.requestState")
            answer = _reply(paused.question, responses)
            continued = continue_with(paused.invocation, paused.question, answer)
            return paused.route, continued, paused.task
        held = self._held.get(token) if isinstance(token, str) else None
        # Another caller's token is unknown to it, and leaves the paused call to its owner.
        if held is None or held[4] != who or held[0] < time.monotonic() - self.ttl:
            raise InvalidParams("unknown or expired requestState", path="params.requestState")
        del self._held[token]
        _, route, paused_invocation, question, _, task = held
        if question is None:
            replies = responses.values() if isinstance(responses, dict) else ()
            if not replies or any(_action(r) != "accept" for r in replies):
                raise Canceled("the user did not complete the authorization")
            return route, paused_invocation, None
        answer = _reply(question, responses)
        return route, continue_with(paused_invocation, question, answer), task


class ToolCalls:
    """The registry as MCP tools, for one server (one per endpoint or connection)."""

    def __init__(self, registry: Registry, runtime: Runtime, *, endpoint: str = "/mcp") -> None:
        """``endpoint``: the path the calls come through, recorded with their tasks."""
        self.registry = registry
        self.runtime = runtime
        self.endpoint = endpoint
        # Paused calls are kept in the task store: a retry that reaches another replica, or
        # this gateway restarted, carries the call on.
        self.paused = PausedCalls(stored=StoredPauses(runtime.store, registry))
        self.handover: Handover | None = None
        """Where a retry of a call another replica holds open is sent (None: one process)."""
        self.splice = Splice(self)
        """Calls from MCP to an MCP server's agent, passed through (``gateway.mcp.splice``)."""
        self.answered: list[Callable[[str, dict[str, Any]], None]] = []
        """Told of every result: the agent that gave it and its wire form (the pass-through
        remembers which agent issued the resource links in it)."""

    def list(self, who: str | None) -> list[dict[str, Any]]:
        """Every tool ``who`` may call, as wire ``Tool`` objects."""
        tools = []
        for route in self.registry.routes(who):
            tool = mcp_adapter.encode_skill(route.skill)
            tool["name"] = route.tool_name
            if not route.skill.description:
                tool["description"] = route.agent.descriptor.description
            tools.append(tool)
        return tools

    def input_schema(self, tool_name: str, who: str | None) -> Mapping[str, Any] | None:
        """The input schema of the tool ``tool_name`` (read-only), None if ``who`` has none."""
        try:
            route = self.registry.route(tool_name, who)
        except EffmeshError:
            return None
        return mcp_adapter.input_schema(route.skill)

    async def _run_once(
        self,
        route: Route,
        invocation: Invocation,
        progress: Progress,
        who: str | None,
        answering: Task | None,
    ) -> Task | Message:
        """One call to its settled outcome, as a stored task of ``who``; ``answering``: the
        task waiting for the input ``invocation`` gives, which it carries on.

        Raises:
            EffmeshError: the call failed (the agent's error, the timeout, an illegal move).
        """
        token = invocation.progress_token
        step = 0

        async def report(item: StreamItem, snapshot: Task) -> None:
            nonlocal step
            if token is not None and (
                isinstance(item, ProgressEvent)
                or (isinstance(item, StatusEvent) and item.state in _RUNNING)
            ):
                step += 1
                await progress(
                    mcp_adapter.encode_stream_item(item, progress_token=token, step=step)
                )

        settled = await self.runtime.run(
            route,
            invocation,
            owner=who,
            endpoint=self.endpoint,
            principal=who,
            on_item=None if token is None else report,
            answering=answering,
        )
        if settled.error is not None:
            raise settled.error
        return settled.outcome

    async def call(
        self,
        params: Any,
        *,
        who: str | None,
        version: str,
        progress: Progress,
        elicit: Elicit,
    ) -> dict[str, Any]:
        """The wire result of ``tools/call`` with ``params``: the SDK's validated
        ``CallToolRequestParams`` (``/mcp``) or wire JSON (``/mcp/ws``).

        Raises:
            EffmeshError: every failure, already canonical; unexpected ones become Internal,
                so the transport maps one error type and never leaks text.
        """
        decode: Callable[[], Invocation]
        if isinstance(params, mt.CallToolRequestParams):
            meta = params.meta
            decode = partial(mcp_adapter.decode_call_params, params)
        else:
            meta = params.get("_meta") if isinstance(params, dict) else None
            decode = partial(mcp_adapter.decode_invocation, params)
        with boundary.request("mcp", "tools/call", tracing.carrier_of(meta)) as req:
            try:
                if type(params) is dict:
                    passed = await self.splice.call(params, req, who=who, version=version)
                    if passed is not None:
                        return passed
                invocation = self._decoded(decode)
                holder = None if self.handover is None else self.paused.elsewhere(invocation, who)
                if holder is not None and self.handover is not None:
                    # The call waits open on that replica: the retry is served there.
                    return await self.handover.carry(holder, _wire(params), who)
                return await self._call(
                    invocation, req, who=who, version=version, progress=progress, elicit=elicit
                )
            except TimeoutError:
                req.failed(Timeout())
                raise Timeout("the agent timed out") from None
            except EffmeshError as exc:
                req.failed(exc)
                raise
            except Exception as exc:  # noqa: BLE001 - the wire gets a generic error, never our text
                req.failed(exc)
                raise Internal() from None

    def _paused(self, route: Route, invocation: Invocation, task: Task, who: str | None) -> Task:
        """``task``, settled waiting for its 2026-07-28 caller's input, held for the retry:
        its metadata names the paused call by a token of its own."""
        question = task.status_message or Message("agent", ())
        token = self.paused.hold(
            route, invocation, question, who, task=task, endpoint=self.endpoint
        )
        return replace(task, metadata={**task.metadata, "mcp.requestState": token})

    def paused_result(
        self, route: Route, invocation: Invocation, task: Task, who: str | None
    ) -> dict[str, Any]:
        """The 2026-07-28 ``input_required`` result of ``task`` (settled waiting for input,
        stored) held for its caller's retry, as :meth:`call` answers it."""
        outcome = self._paused(route, invocation, task, who)
        with boundary.translation("canonical", "mcp"):
            return mcp_adapter.encode_outcome(outcome, version=mcp_adapter.MODERN_VERSION)

    @staticmethod
    def _decoded(decode: Callable[[], Invocation]) -> Invocation:
        with boundary.translation("mcp", "canonical"):
            return decode()

    async def _call(
        self,
        invocation: Invocation,
        req: boundary.Request,
        *,
        who: str | None,
        version: str,
        progress: Progress,
        elicit: Elicit,
    ) -> dict[str, Any]:
        resumed = self.paused.resume(invocation, who)
        answering: Task | None = None
        if resumed is not None:
            route, invocation, answering = resumed
        else:
            route = self.registry.route(invocation.skill, who)
        req.routed(route.agent.descriptor.name, route.skill.name)
        for _ in range(MAX_INPUT_ROUNDS):
            try:
                outcome = await self._run_once(route, invocation, progress, who, answering)
            except EffmeshError as exc:
                asked = url_elicitations(exc)
                if asked is None or version != mcp_adapter.MODERN_VERSION:
                    raise  # older revisions: the error itself carries them (-32042)
                # 2026-07-28: the user completes them (authorizes at a page), then the client
                # retries and the call runs again.
                token = self.paused.hold(route, invocation, None, who)
                requests = {
                    f"url{i}": {"method": "elicitation/create", "params": params}
                    for i, params in enumerate(asked)
                }
                return {
                    "resultType": "input_required",
                    "inputRequests": requests,
                    "requestState": token,
                }
            if not (isinstance(outcome, Task) and outcome.state is TaskState.INPUT_REQUIRED):
                break
            question = outcome.status_message or Message("agent", ())
            if version == mcp_adapter.MODERN_VERSION:
                # 2026-07-28: hand the question back; the client retries with the answer
                # and this token, which names the paused call held here.
                outcome = self._paused(route, invocation, outcome, who)
                break
            # Older revisions: ask the client in the middle of the call.
            reply = await elicit(mcp_adapter.elicitation_request(outcome))
            invocation = continue_with(invocation, question, _answer(reply, "content.text"))
            answering = outcome
        if isinstance(outcome, Task) and outcome.state is TaskState.FAILED:
            req.outcome = "failed"
        with boundary.translation("canonical", "mcp"):
            result = mcp_adapter.encode_outcome(outcome, version=version)
        for listener in self.answered:
            listener(route.agent.descriptor.name, result)
        return result
