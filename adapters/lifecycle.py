"""The task lifecycle, kept as data: which state may follow which.

Every protocol's own lifecycle (A2A task states, ACP run statuses, MCP's implicit
request/response) maps onto these canonical states; the one table below decides what is legal.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.errors import IllegalTransition
from adapters.model import TaskState

S = TaskState

TERMINAL: frozenset[TaskState] = frozenset({S.COMPLETED, S.FAILED, S.CANCELED, S.REJECTED})
"""States a task never leaves."""

INTERRUPTED: frozenset[TaskState] = frozenset({S.INPUT_REQUIRED, S.AUTH_REQUIRED})
"""States in which a task waits for its caller."""

TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    S.SUBMITTED: frozenset(
        {
            S.WORKING,
            S.INPUT_REQUIRED,
            S.AUTH_REQUIRED,
            S.COMPLETED,
            S.FAILED,
            S.CANCELED,
            S.REJECTED,
        }
    ),
    S.WORKING: frozenset(
        {S.WORKING, S.INPUT_REQUIRED, S.AUTH_REQUIRED, S.COMPLETED, S.FAILED, S.CANCELED}
    ),
    S.INPUT_REQUIRED: frozenset({S.WORKING, S.COMPLETED, S.FAILED, S.CANCELED}),
    S.AUTH_REQUIRED: frozenset({S.WORKING, S.FAILED, S.CANCELED, S.REJECTED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
}
"""Allowed next states. WORKING -> WORKING is a progress update, not a change."""


def can_transition(current: TaskState, new: TaskState) -> bool:
    return new in TRANSITIONS[current]


def check_transition(current: TaskState, new: TaskState) -> TaskState:
    """Return ``new`` if a task in ``current`` may move to it.

    Raises:
        IllegalTransition: the table does not allow the move.
    """
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(current.value, new.value)
    return new


def is_terminal(state: TaskState) -> bool:
    return state in TERMINAL
