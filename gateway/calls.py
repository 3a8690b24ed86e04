"""Running one invocation on a registered agent: what every protocol endpoint shares."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Final

from adapters.model import Invocation, StreamItem
from agents.memory.scope import SCOPE_KEY, scope_for
from gateway.registry import Route

__all__ = ["PRINCIPAL_KEY", "UNKNOWN", "new_task_id", "scope_for", "stream"]

PRINCIPAL_KEY: Final = "effmesh.principal"
"""Invocation metadata: the caller's token name (None: the gateway uses no tokens), set by the
gateway alone and only for agents that call other agents on the caller's behalf
(``delegating``), so they reach only what the caller may reach."""
UNKNOWN: Final = object()
"""``principal`` when the caller of :func:`stream` does not know who is calling."""


def new_task_id() -> str:
    return str(uuid.uuid4())


def _scoped(route: Route, invocation: Invocation, scope: str, principal: object) -> Invocation:
    """The caller's memory scope, set by the gateway alone: whatever a caller sent under the
    key is dropped, and only agents that keep memories per caller (``scoped``) get the key,
    so a caller's name never travels to a remote agent."""
    metadata = invocation.metadata
    if SCOPE_KEY in metadata or PRINCIPAL_KEY in metadata:
        metadata = {k: v for k, v in metadata.items() if k not in (SCOPE_KEY, PRINCIPAL_KEY)}
    if getattr(route.agent, "scoped", False):
        metadata = {**metadata, SCOPE_KEY: scope}
    if principal is not UNKNOWN and getattr(route.agent, "delegating", False):
        metadata = {**metadata, PRINCIPAL_KEY: principal}
    return replace(invocation, skill=route.skill.name, metadata=metadata)


async def stream(
    route: Route,
    invocation: Invocation,
    task_id: str,
    *,
    scope: str,
    principal: str | object | None = UNKNOWN,
) -> AsyncIterator[StreamItem]:
    """The agent's items for ``invocation`` addressed to ``route``'s skill, on behalf of a
    caller whose memory scope is ``scope`` (``scope_for(principal)``). ``principal`` is the
    caller's token name when the caller of this function knows it; a delegating agent called
    without it may reach only agents open to every token."""
    local = _scoped(route, invocation, scope, principal)
    async for item in route.agent.run(local, task_id=task_id):
        yield item
