"""Running one invocation on a registered agent: what every protocol endpoint shares."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from adapters.model import Invocation, StreamItem
from agents.memory.scope import SCOPE_KEY, scope_for
from gateway.registry import Route

__all__ = ["new_task_id", "scope_for", "stream"]


def new_task_id() -> str:
    return str(uuid.uuid4())


def _scoped(route: Route, invocation: Invocation, scope: str) -> Invocation:
    """The caller's memory scope, set by the gateway alone: whatever a caller sent under the
    key is dropped, and only agents that keep memories per caller (``scoped``) get the key,
    so a caller's name never travels to a remote agent."""
    metadata = invocation.metadata
    if SCOPE_KEY in metadata:
        metadata = {k: v for k, v in metadata.items() if k != SCOPE_KEY}
    if getattr(route.agent, "scoped", False):
        metadata = {**metadata, SCOPE_KEY: scope}
    return replace(invocation, skill=route.skill.name, metadata=metadata)


async def stream(
    route: Route, invocation: Invocation, task_id: str, *, scope: str
) -> AsyncIterator[StreamItem]:
    """The agent's items for ``invocation`` addressed to ``route``'s skill, on behalf of a
    caller whose memory scope is ``scope`` (``scope_for(principal)``)."""
    local = _scoped(route, invocation, scope)
    async for item in route.agent.run(local, task_id=task_id):
        yield item
