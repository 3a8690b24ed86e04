"""Where every protocol's tasks live: a small interface, an in-memory twin, and two
databases behind it: SQLite, the embedded default (``gateway.runtime.sqlite``), and
PostgreSQL, which several gateway replicas share (``gateway.runtime.postgres``).
:func:`open_store` picks one from the ``store`` setting.

Each stored task records its owner (the caller's token name; None when the gateway uses no
tokens or the caller is not known) and the endpoint it was started through (``/acp``,
``/a2a/<agent>``, ``/mcp``, ...; ``agent/<name>`` for a call one of the gateway's agents makes,
such as a routed subtask). Both are fixed by the first save. Reads, listings and deletes take
an owner filter (:func:`visible_to` makes it from the caller): another owner's task is simply
not there, exactly like a task that never existed. This is the one place the rule lives.

Finished tasks are pruned as tasks are saved (by a save at most every ``PRUNE_SECONDS``): those
finished longer ago than the retention period, and each owner's beyond the newest ``count``
(:class:`Retention`). Tasks still running or waiting for their caller are never pruned.

Leases: each store is opened by one process, its *replica* (named by :func:`replica_name`).
A save records the replica that made it as the task's runner, and a lease that lasts
``lease_seconds``; the runtime's heartbeat renews its running tasks' leases (:meth:`renew`)
and fails any running task whose lease ran out (:meth:`fail_expired`): the replica that ran
it stopped without saying how it ended. At start-up, :meth:`fail_unfinished` fails what a
previous process left running: every running task in a store of one process (memory,
SQLite), and in a shared store only those of this replica's own name or whose lease ran out.

Tasks are stored as canonical values serialized through the A2A task JSON (the richest of the
three wire forms, and exact for canonical tasks). ``updated`` is the time of the last save in
nanoseconds; listings run newest change first, ties broken by task id, both descending.
"""

from __future__ import annotations

import builtins
import enum
import os
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal, Protocol, TypeAlias

from adapters.model import Message, Task, TaskState, TextPart

RESTART_REASON: Final = "the gateway restarted while the task was running"
LOST_REASON: Final = "the gateway replica running the task stopped"
"""The reason a task whose lease ran out is failed with."""
LEASE_SECONDS: Final = 15.0
"""How long a running task's lease lasts unless its replica renews it."""
RUNNING: Final = frozenset({TaskState.SUBMITTED, TaskState.WORKING})
"""States of a task whose agent is still at work (not settled, not waiting for its caller)."""


class StoreUnavailable(Exception):
    """The task store cannot be opened; ``str()`` says which and why, without credentials."""


class _Anyone(enum.Enum):
    ANYONE = "anyone"


ANYONE: Final = _Anyone.ANYONE
"""An owner filter that matches every owner."""
OwnerFilter: TypeAlias = str | Literal[_Anyone.ANYONE] | None
"""Whose tasks a read may see: one owner (None: tasks without one), or ``ANYONE``."""


def visible_to(principal: str | None, operators: frozenset[str]) -> OwnerFilter:
    """The owner filter of a caller: an operator sees every owner's tasks, anyone else only
    their own (with no tokens in use, every caller is None and sees every task, all None's)."""
    return ANYONE if principal is not None and principal in operators else principal


def owned(owner: str | None, wanted: OwnerFilter) -> bool:
    """Whether a task of ``owner`` passes the filter ``wanted``."""
    return wanted is ANYONE or owner == wanted


FINISHED: Final = frozenset(
    {TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED}
)
"""States of a task that will not change again: the ones retention prunes."""
PRUNE_SECONDS: Final = 60.0
"""Seconds between two prunings of finished tasks. A pruning ranks every finished task of
every owner, so its cost grows with the store (10 ms at 8,000 tasks in SQLite, measured);
paid by every hundredth save, it was most of the cost of a save."""


class PruneClock:
    """When the next save prunes: the first save ``every_ns`` after the last pruning (or
    after the store opened). On one thread; each store holds its own."""

    __slots__ = ("_every", "_next")

    def __init__(self, every_ns: int = int(PRUNE_SECONDS * 1e9)) -> None:
        self._every = every_ns
        self._next = time.time_ns() + every_ns

    def due(self, now: int) -> bool:
        """Whether a save at ``now`` (nanoseconds) prunes; if so, the next one is due later."""
        if now < self._next:
            return False
        self._next = now + self._every
        return True


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished tasks are kept."""

    days: float = 7.0
    """Finished tasks last saved longer ago than this are pruned."""
    count: int = 10_000
    """Each owner's finished tasks beyond the newest ``count`` are pruned."""

    def cutoff(self, now: int) -> int:
        """The time (nanoseconds) before which a finished task is pruned."""
        return now - int(self.days * 86_400e9)


Position: TypeAlias = tuple[int, str]
"""A place in a listing: (updated, task id) of the last task already seen."""


@dataclass(frozen=True, slots=True)
class StoredTask:
    task: Task
    agent: str
    """The skill it runs (``<agent>.<skill>``), or the agent an A2A endpoint serves."""
    owner: str | None
    endpoint: str
    updated: int
    """When it was last saved, in nanoseconds since the epoch."""


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Which tasks a listing holds: every given filter must match."""

    endpoint: str | None = None
    owner: OwnerFilter = ANYONE
    context_id: str | None = None
    state: TaskState | None = None
    updated_since: int | None = None
    """Only tasks saved at or after this time (nanoseconds)."""
    after: Position | None = None
    """Only tasks listed after this position (the last one of the previous page)."""
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: tuple[StoredTask, ...]
    total: int
    """How many tasks match the query's filters, over every page."""
    more: bool
    """Tasks follow the last one of this page."""


def replica_name() -> str:
    """This process's name in a shared store: its host and process id, unique among the
    processes alive at one time (a container's restarted gateway gets its own name back)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class TaskStore(Protocol):
    """Calls are short: they run on the event loop. Not thread-safe."""

    @property
    def replica(self) -> str:
        """This process's name in the store (:func:`replica_name` unless given)."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes (gateway replicas) use this store too."""
        ...

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        """Insert or update ``task``; ``agent``, ``owner`` and ``endpoint`` are kept from the
        first save (a later caller cannot take a task over)."""
        ...

    def swap(self, task: Task, *, was: int) -> bool:
        """Save ``task``, a stored one, only if it is as it was read: last saved at ``was``
        (its ``StoredTask.updated``). Whether it was saved; False when another save came
        between (or the task is gone). Of two callers that read the same save and swap from
        it, on any replica, exactly one succeeds."""
        ...

    def load(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> StoredTask | None: ...

    def list(self, query: TaskQuery) -> TaskPage: ...

    def delete(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> None: ...

    def prune(self, now: int | None = None) -> int:
        """Delete finished tasks beyond the retention (at time ``now``, nanoseconds; default:
        the clock); return how many."""
        ...

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        """Fail every task still submitted or working, with ``reason`` as its status message
        (at start-up: tasks a previous process left running can never finish); return how
        many. Tasks waiting for their caller (input- or auth-required) are left as they are.
        In a shared store, only this replica's own tasks and those whose lease ran out."""
        ...

    def renew(self) -> int:
        """Extend the leases of the running tasks this replica saved; return how many."""
        ...

    def fail_expired(self, reason: str = LOST_REASON, now: int | None = None) -> int:
        """Fail every running task whose lease ended before ``now`` (nanoseconds; default:
        the clock), with ``reason``; return how many."""
        ...

    def close(self) -> None: ...


def failed(task: Task, reason: str) -> Task:
    """``task`` failed, with ``reason`` as its status message."""
    return replace(
        task, state=TaskState.FAILED, status_message=Message("agent", (TextPart(reason),))
    )


def _matches(entry: StoredTask, q: TaskQuery) -> bool:
    return (
        (q.endpoint is None or entry.endpoint == q.endpoint)
        and owned(entry.owner, q.owner)
        and (q.context_id is None or entry.task.context_id == q.context_id)
        and (q.state is None or entry.task.state is q.state)
        and (q.updated_since is None or entry.updated >= q.updated_since)
    )


class MemoryTaskStore:
    """The in-memory twin: the same contract, gone with the process."""

    shared = False

    def __init__(
        self,
        retention: Retention | None = None,
        *,
        replica: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.retention = retention or Retention()
        self.replica = replica or replica_name()
        self.lease_ns = int(lease_seconds * 1e9)
        self._tasks: dict[str, StoredTask] = {}
        self._leases: dict[str, tuple[str, int]] = {}
        """Each task's runner (the replica that saved it last) and the end of its lease."""
        self._prunes = PruneClock()

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        known = self._tasks.get(task.task_id)
        if known is not None:
            agent, owner, endpoint = known.agent, known.owner, known.endpoint
        now = time.time_ns()
        self._tasks[task.task_id] = StoredTask(task, agent, owner, endpoint, now)
        self._leases[task.task_id] = (self.replica, now + self.lease_ns)
        if self._prunes.due(now):
            self.prune(now)

    def swap(self, task: Task, *, was: int) -> bool:
        known = self._tasks.get(task.task_id)
        if known is None or known.updated != was:
            return False
        now = max(time.time_ns(), was + 1)
        self._tasks[task.task_id] = replace(known, task=task, updated=now)
        self._leases[task.task_id] = (self.replica, now + self.lease_ns)
        return True

    def prune(self, now: int | None = None) -> int:
        cutoff = self.retention.cutoff(time.time_ns() if now is None else now)
        finished = [e for e in self._tasks.values() if e.task.state in FINISHED]
        finished.sort(key=lambda e: (e.updated, e.task.task_id), reverse=True)
        kept: dict[str | None, int] = {}
        gone = []
        for e in finished:
            kept[e.owner] = kept.get(e.owner, 0) + 1
            if e.updated < cutoff or kept[e.owner] > self.retention.count:
                gone.append(e.task.task_id)
        for task_id in gone:
            del self._tasks[task_id]
            del self._leases[task_id]
        return len(gone)

    def load(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> StoredTask | None:
        entry = self._tasks.get(task_id)
        return entry if entry is not None and owned(entry.owner, owner) else None

    def list(self, query: TaskQuery) -> TaskPage:
        found = [e for e in self._tasks.values() if _matches(e, query)]
        found.sort(key=lambda e: (e.updated, e.task.task_id), reverse=True)
        start = 0
        if query.after is not None:
            after = query.after
            later = (i for i, e in enumerate(found) if (e.updated, e.task.task_id) < after)
            start = next(later, len(found))
        page = found[start : start + query.limit]
        return TaskPage(tuple(page), len(found), start + query.limit < len(found))

    def delete(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> None:
        if self.load(task_id, owner=owner) is not None:
            del self._tasks[task_id]
            del self._leases[task_id]

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        return self._fail([e for e in self._tasks.values() if e.task.state in RUNNING], reason)

    def renew(self) -> int:
        until = time.time_ns() + self.lease_ns
        mine = [
            task_id
            for task_id, (runner, _) in self._leases.items()
            if runner == self.replica and self._tasks[task_id].task.state in RUNNING
        ]
        for task_id in mine:
            self._leases[task_id] = (self.replica, until)
        return len(mine)

    def fail_expired(self, reason: str = LOST_REASON, now: int | None = None) -> int:
        now = time.time_ns() if now is None else now
        stale = [
            e
            for e in self._tasks.values()
            if e.task.state in RUNNING and self._leases[e.task.task_id][1] < now
        ]
        return self._fail(stale, reason)

    def _fail(self, stale: builtins.list[StoredTask], reason: str) -> int:
        for e in stale:
            self.save(failed(e.task, reason), agent=e.agent, owner=e.owner, endpoint=e.endpoint)
        return len(stale)

    def close(self) -> None:
        pass


def open_store(
    url: str,
    data_dir: str | Path,
    retention: Retention | None = None,
    *,
    lease_seconds: float = LEASE_SECONDS,
) -> TaskStore:
    """The store the ``store`` setting names: empty for ``tasks.sqlite3`` in ``data_dir``;
    ``postgresql://...`` (or ``postgres://``) for a PostgreSQL database that replicas share.

    Raises:
        ValueError: any other value.
        StoreUnavailable: the database cannot be reached or its schema cannot be made.
    """
    if not url:
        from gateway.runtime.sqlite import SQLiteTaskStore  # noqa: PLC0415 - avoids a cycle

        path = Path(data_dir) / "tasks.sqlite3"
        return SQLiteTaskStore(path, retention, lease_seconds=lease_seconds)
    if url.split("://", 1)[0] in ("postgresql", "postgres"):
        from gateway.runtime.postgres import PostgresTaskStore  # noqa: PLC0415 - optional

        return PostgresTaskStore(url, retention, lease_seconds=lease_seconds)
    raise ValueError(f"unknown task store {url.split('://', 1)[0]!r}")
