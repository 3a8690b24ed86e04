"""Running one invocation on a registered agent: what every protocol endpoint shares."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from adapters.model import Invocation, StreamItem
from gateway.registry import Route


def new_task_id() -> str:
    return str(uuid.uuid4())


async def stream(route: Route, invocation: Invocation, task_id: str) -> AsyncIterator[StreamItem]:
    """The agent's items for ``invocation`` addressed to ``route``'s skill."""
    local = replace(invocation, skill=route.skill.name)
    async for item in route.agent.run(local, task_id=task_id):
        yield item
