"""The one interface every agent runtime implements, whatever protocol it speaks.

An agent turns an invocation into a stream of canonical items. The stream ends with the final
outcome: a :class:`Task` in a terminal or interrupted state, or a direct :class:`Message`.
Cancellation is asyncio cancellation of the consuming task; an agent that talks to a remote
peer forwards it to that peer's own cancel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from adapters.model import AgentDescriptor, Invocation, StreamItem


class Agent(Protocol):
    @property
    def descriptor(self) -> AgentDescriptor:
        """Name and skills; stable for the agent's lifetime unless it is re-registered."""
        ...

    def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        """Run one invocation under ``task_id``.

        Yields status, progress and artifact events, then the outcome as the last item.
        Raises an ``adapters.errors.EffmeshError`` for failures the caller should see as a
        protocol error (unknown skill, bad input, upstream down).
        """
        ...
