"""An agent's side of a task waiting for its caller, stored with the task.

A remote A2A agent answers a follow-up only in its own task that asked (its task and context
ids), which the gateway's agent object keeps in memory by the gateway's task id. So that the
caller's answer reaches that task after a restart, or through another replica sharing the
store, what such an agent keeps (:class:`agents.base.KeepsConversations`) is stored in the
waiting task's metadata under :data:`KEY`, and handed back to the agent before the follow-up
runs. It is the gateway's own record: callers never see it (every read that answers a caller
goes through :func:`shown`). An agent that holds the call itself open in this process
(:class:`agents.base.HoldsCalls`) has the task name this replica instead (:data:`HELD`): the
caller's answer is carried on here, wherever it arrives (``gateway.mcp.handover`` for MCP
callers, ``gateway.runtime.held`` for the runtime's tasks).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from adapters.model import JSON, Task
from agents.base import Agent, HoldsCalls, KeepsConversations

KEY: Final = "effmesh.conversation"
"""Task metadata key (stored, never shown): what the task's agent keeps for it."""
HELD: Final = "effmesh.held"
"""Task metadata key (stored, never shown): the replica whose process holds the task's call
open, waiting for the caller (:class:`agents.base.HoldsCalls`); its answer must go there."""
_HIDDEN: Final = (KEY, HELD)


def waiting(agent: Agent, task_id: str) -> JSON | None:
    """What ``agent`` keeps for gateway task ``task_id`` waiting for its caller, if anything."""
    return agent.waiting(task_id) if isinstance(agent, KeepsConversations) else None


def kept(task: Task, note: JSON | None) -> Task:
    """``task`` as stored, with ``note`` (what its agent keeps for it) when there is one."""
    if note is None:
        return task
    return replace(task, metadata={**task.metadata, KEY: note})


def held(task: Task, agent: Agent, replica: str) -> Task:
    """``task`` as stored, naming ``replica`` (this process) when ``agent`` holds its call
    open here."""
    if not (isinstance(agent, HoldsCalls) and agent.holds(task.task_id)):
        return task
    return held_by(task, replica)


def held_by(task: Task, replica: str | None) -> Task:
    """``task`` as stored, naming ``replica`` as the one that holds its call open (None:
    none does)."""
    if replica is None:
        return task
    return replace(task, metadata={**task.metadata, HELD: replica})


def holder(task: Task) -> str | None:
    """The replica that holds ``task``'s call open (as read from the store), if one does."""
    found = task.metadata.get(HELD)
    return found if isinstance(found, str) else None


def shown(task: Task) -> Task:
    """``task`` as a caller sees it: without what its agent keeps for it, or where."""
    if not any(key in task.metadata for key in _HIDDEN):
        return task
    return replace(task, metadata={k: v for k, v in task.metadata.items() if k not in _HIDDEN})


def carry_on(agent: Agent, task: Task) -> None:
    """Hand ``agent`` back what was stored with ``task`` (as read from the store)."""
    note = task.metadata.get(KEY)
    if note is not None and isinstance(agent, KeepsConversations):
        agent.carry_on(task.task_id, note)
