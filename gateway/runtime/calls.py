"""Running one invocation on a registered agent: what every protocol endpoint shares."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Final

from adapters import lifecycle
from adapters.model import (
    Invocation,
    Message,
    StatusEvent,
    StreamItem,
    Task,
    TraceContext,
)
from agents.base import PRINCIPAL_KEY
from agents.memory.scope import SCOPE_KEY, scope_for
from gateway.registry import Route
from observability import metrics, tracing

__all__ = [
    "PRINCIPAL_KEY",
    "UNKNOWN",
    "new_task_id",
    "outcome_of",
    "scope_for",
    "stream",
    "traced",
]

UNKNOWN: Final = object()
"""``principal`` when the caller of :func:`stream` does not know who is calling."""


def new_task_id() -> str:
    """A random (version 4) UUID, written as ``str(uuid.uuid4())`` writes it, without the
    UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _scoped(route: Route, invocation: Invocation, scope: str, principal: object) -> Invocation:
    """The caller's memory scope, set by the gateway alone: whatever a caller sent under the
    key is dropped, and only agents that keep memories per caller (``scoped``) get the key,
    so a caller's name never travels to a remote agent."""
    metadata = invocation.metadata
    if SCOPE_KEY in metadata or PRINCIPAL_KEY in metadata:
        metadata = {k: v for k, v in metadata.items() if k not in (SCOPE_KEY, PRINCIPAL_KEY)}
    if route.agent.scoped:
        metadata = {**metadata, SCOPE_KEY: scope}
    if principal is not UNKNOWN and route.agent.delegating:
        metadata = {**metadata, PRINCIPAL_KEY: principal}
    return replace(invocation, skill=route.skill.name, metadata=metadata)


async def stream(
    route: Route,
    invocation: Invocation,
    task_id: str,
    *,
    scope: str,
    principal: str | object | None = UNKNOWN,
) -> AsyncGenerator[StreamItem]:
    """The agent's items for ``invocation`` addressed to ``route``'s skill, on behalf of a
    caller whose memory scope is ``scope`` (``scope_for(principal)``). ``principal`` is the
    caller's token name when the caller of this function knows it; a delegating agent called
    without it may reach only agents open to every token."""
    local = _scoped(route, invocation, scope, principal)
    agent = route.agent.descriptor.name
    span, ctx = tracing.start(
        f"invoke_agent {agent}",
        parent=tracing.current(),
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "effmesh.skill": route.skill.name,
            "effmesh.task_id": task_id,
        },
    )
    # The call's own span travels on: remote agents put it on the wire, so the next process
    # continues this trace under it.
    local = traced(local, ctx)
    metrics.TASKS_ACTIVE.add(agent, route.skill.name, 1)
    began = time.perf_counter()
    outcome = "incomplete"
    items: AsyncIterator[StreamItem] | None = None
    try:
        items = route.agent.run(local, task_id=task_id)
        if tracing.recording():
            items = tracing.carry(ctx, items)
        async for item in items:
            outcome = outcome_of(item) or outcome
            yield item
    except GeneratorExit:
        # The caller stopped reading, usually once the call had settled.
        if outcome == "incomplete":
            outcome = "closed"
        raise
    except BaseException as exc:
        outcome = "canceled" if isinstance(exc, asyncio.CancelledError) else "error"
        tracing.failed(span, exc)
        raise
    finally:
        # A caller that stops reading closes this stream: the agent's closes with it now, not
        # whenever the garbage collector gets to it (every agent's stream is a generator).
        closer = getattr(items, "aclose", None)
        if closer is not None:
            await closer()
        metrics.TASKS_ACTIVE.add(agent, route.skill.name, -1)
        metrics.AGENT_DURATION.record(time.perf_counter() - began, agent, route.skill.name, outcome)
        span.set_attribute("effmesh.outcome", outcome)
        span.end()


def outcome_of(item: StreamItem) -> str | None:
    """The outcome an item settles the call with (a task state's value, or "message"), as
    the agent metrics and spans label it."""
    if isinstance(item, Message):
        return "message"
    if isinstance(item, Task | StatusEvent) and (
        lifecycle.is_terminal(item.state) or item.state in lifecycle.INTERRUPTED
    ):
        return str(item.state.value)
    return None


def traced(invocation: Invocation, ctx: tracing.Context | None = None) -> Invocation:
    """``invocation`` carrying ``ctx``'s trace context (default: the current one), for a hop
    that does not pass through :func:`stream`; unchanged when this process records no spans
    (the caller's context then travels on as it came)."""
    if not tracing.recording():
        return invocation
    return replace(invocation, trace=_trace_context(tracing.wire_carrier(ctx)))


def _trace_context(carrier: dict[str, str]) -> TraceContext | None:
    if "traceparent" not in carrier:
        return None
    return TraceContext(carrier["traceparent"], carrier.get("tracestate"), carrier.get("baggage"))
