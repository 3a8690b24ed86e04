"""``tools/call`` from an MCP caller to an MCP server's agent, passed through.

When both ends speak MCP there is nothing to translate: the caller's arguments go to the
server as they came (the tool renamed, the trace context and log level the gateway's), and
the server's result comes back as it was, the caller's request id and revision stamp added
by the endpoint. This skips the canonical model's round trip and the runtime's streaming
loop, which cost more than the call itself, and keeps what they give the call:

- the caller's allow list (the route), its cap on running tasks, the call timeout;
- its task, stored for its owner as :meth:`Runtime.run` stores it (as running if it takes
  longer than ``save_running_after``; settled, failed with a reason, or cancelled);
- a span for the agent call whose context goes upstream, and the agent metrics;
- a server's question for a 2026-07-28 caller, paused as :class:`ToolCalls` pauses it.

A call that does not fit (progress asked for, a retry of a paused call, an agent of another
kind, a caller that cannot be asked the way the server would ask) is left to the canonical
path before anything is sent (:meth:`Splice.call` returns None).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from adapters import mcp as mcp_adapter
from adapters.errors import EffmeshError, Internal, Timeout, Unsupported
from adapters.model import Message, StatusEvent, Task, TaskState
from agents.remote.kinds import is_mcp_server
from gateway.runtime import calls
from gateway.runtime.runner import TIMED_OUT, apply
from gateway.runtime.store import failed
from observability import boundary, metrics, tracing

if TYPE_CHECKING:
    from agents.remote.kinds import McpServerAgent
    from agents.remote.mcp_relay import Relay
    from gateway.mcp.tools import ToolCalls

_PLAIN: Final = frozenset({"name", "arguments", "_meta"})
"""The params a passed-through call may carry (the rest: a task request, a retry)."""
_RESERVED: Final = mcp_adapter.RESERVED_PREFIX
_TRACE_KEYS: Final = ("traceparent", "tracestate", "baggage")


def upstream_params(
    skill: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None
) -> dict[str, Any]:
    """The server's ``tools/call`` params for a caller's, as the canonical path makes them
    (:func:`adapters.mcp.encode_invocation` of the decoded call): the skill's own name, the
    arguments as they came, the caller's ``_meta`` without this hop's reserved keys, and the
    trace context of the current span when spans are recorded (the caller's otherwise)."""
    params: dict[str, Any] = {"name": skill}
    if arguments is not None:
        params["arguments"] = arguments
    out: dict[str, Any] = {}
    if meta:
        out = {k: v for k, v in meta.items() if not k.startswith(_RESERVED)}
    if tracing.recording():
        if type(out.get("traceparent")) is str:
            for key in _TRACE_KEYS:
                if type(out.get(key)) is str:
                    del out[key]
        carrier = tracing.wire_carrier()
        if "traceparent" in carrier:
            out.update(carrier)
    if out:
        params["_meta"] = out
    return params


class _Clock:
    """The one timer of a call in its request's task: after ``running`` seconds it saves the
    task as running (``on_running``), as :meth:`Runtime.run` does, and at ``limit`` seconds
    it cancels the task, as ``asyncio.timeout`` would: :meth:`stop` then says it timed out."""

    __slots__ = ("_cancelling", "_expired", "_handle", "_limit", "_loop", "_on_running", "_task")

    def __init__(self, running: float, limit: float, on_running: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # a request is served in a task
        self._task = task
        self._cancelling = task.cancelling()
        self._on_running = on_running
        self._limit = self._loop.time() + limit
        self._expired = False
        if running < limit:
            self._handle = self._loop.call_later(running, self._ran)
        else:
            self._handle = self._loop.call_at(self._limit, self._expire)

    def _ran(self) -> None:
        self._on_running()
        self._handle = self._loop.call_at(self._limit, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def stop(self) -> bool:
        """Stop the timer; whether the call timed out (its cancel is then taken back)."""
        self._handle.cancel()
        return self._expired and self._task.uncancel() <= self._cancelling


class Splice:
    """The pass-through of ``tools``' calls (the registry, runtime and pauses it has)."""

    def __init__(self, tools: ToolCalls) -> None:
        self.tools = tools

    async def call(
        self, params: dict[str, Any], req: boundary.Request, *, who: str | None, version: str
    ) -> dict[str, Any] | None:
        """The wire result of ``tools/call`` with ``params``, passed through; None when the
        call is not one to pass through (nothing was sent).

        Raises:
            EffmeshError: as :meth:`ToolCalls.call` (the task is stored failed).
        """
        name, arguments, meta = params.get("name"), params.get("arguments"), params.get("_meta")
        if (
            type(name) is not str
            or not (arguments is None or type(arguments) is dict)
            or not (meta is None or type(meta) is dict)
            or not _PLAIN.issuperset(params)
            or (meta is not None and "progressToken" in meta)
        ):
            return None
        tools = self.tools
        try:
            route = tools.registry.route(name, who)
        except EffmeshError:
            return None  # the canonical path answers it, in the same words
        agent = route.agent
        if not is_mcp_server(agent):
            return None
        relay = agent.passes()
        if relay is None:
            return None
        runtime = tools.runtime
        agent_name, skill = agent.descriptor.name, route.skill.name
        req.routed(agent_name, skill)
        task_id = calls.new_task_id()

        def asked() -> Task:
            message = Message("user", mcp_adapter.arguments_parts(arguments))
            return Task(task_id, TaskState.SUBMITTED, history=(message,))

        def save(task: Task) -> None:
            runtime.store.save(task, agent=route.tool_name, owner=who, endpoint=tools.endpoint)

        with runtime.admit(who):
            clock = _Clock(runtime.save_running_after, runtime.timeout, lambda: save(asked()))
            try:
                result, item = await self._sent(
                    agent, relay, skill=skill, task_id=task_id, arguments=arguments, meta=meta
                )
            except asyncio.CancelledError:
                if clock.stop():
                    save(failed(asked(), TIMED_OUT))
                    raise Timeout(TIMED_OUT) from None
                save(runtime.interrupted(asked()))
                raise
            except EffmeshError as exc:
                clock.stop()
                save(failed(asked(), exc.public_message))
                raise
            except Exception:
                clock.stop()
                save(failed(asked(), Internal().public_message))
                raise
            clock.stop()
            task = apply(asked(), item)
            save(task)
        if task.state is TaskState.INPUT_REQUIRED:
            if version != mcp_adapter.MODERN_VERSION:
                raise Unsupported("input-required needs elicitation on this protocol revision")
            invocation = mcp_adapter.decode_invocation(params)
            result = tools.paused_result(route, invocation, task, who)
        elif task.state is TaskState.FAILED:
            req.outcome = "failed"
        if version == mcp_adapter.MODERN_VERSION:
            result["resultType"] = result.get("resultType", "complete")
        else:
            result.pop("resultType", None)  # none before 2026-07-28, as the canonical path
        for listener in tools.answered:
            listener(agent_name, result)
        return result

    async def _sent(
        self,
        agent: McpServerAgent,
        relay: Relay,
        *,
        skill: str,
        task_id: str,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], StatusEvent | Task]:
        """The call on the server, in its agent span and metrics, as
        ``gateway.runtime.calls.stream`` runs an agent."""
        name = agent.descriptor.name
        span, ctx = tracing.start(
            f"invoke_agent {name}",
            parent=tracing.current(),
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": name,
                "effmesh.skill": skill,
                "effmesh.task_id": task_id,
            },
        )
        token = tracing.attach(ctx) if tracing.recording() else None
        metrics.TASKS_ACTIVE.add(name, skill, 1)
        began = time.perf_counter()
        outcome = "error"
        try:
            params = upstream_params(skill, arguments, meta)
            result, item = await agent.pass_call(params, relay, task_id=task_id)
            outcome = calls.outcome_of(item) or "incomplete"
        except BaseException as exc:
            outcome = "canceled" if isinstance(exc, asyncio.CancelledError) else "error"
            tracing.failed(span, exc)
            raise
        finally:
            if token is not None:
                tracing.detach(token)
            metrics.TASKS_ACTIVE.add(name, skill, -1)
            metrics.AGENT_DURATION.record(time.perf_counter() - began, name, skill, outcome)
            span.set_attribute("effmesh.outcome", outcome)
            span.end()
        return result, item
