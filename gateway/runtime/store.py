"""Where every protocol's tasks live: a small interface, SQLite behind it by default, and an
in-memory twin. A PostgreSQL store implements the same methods.

Each stored task records its owner (the caller's token name; None when the gateway uses no
tokens or the caller is not known) and the endpoint it was started through (``/acp``,
``/a2a/<agent>``, ``/mcp``, ...; ``agent/<name>`` for a call one of the gateway's agents makes,
such as a routed subtask). Both are fixed by the first save. Reads, listings and deletes take
an owner filter (:func:`visible_to` makes it from the caller): another owner's task is simply
not there, exactly like a task that never existed. This is the one place the rule lives.

Finished tasks are pruned as tasks are saved (every ``PRUNE_EVERY`` saves): those finished
longer ago than the retention period, and each owner's beyond the newest ``count``
(:class:`Retention`). Tasks still running or waiting for their caller are never pruned.

Tasks are stored as canonical values serialized through the A2A task JSON (the richest of the
three wire forms, and exact for canonical tasks). ``updated`` is the time of the last save in
nanoseconds; listings run newest change first, ties broken by task id, both descending.
"""

from __future__ import annotations

import contextlib
import enum
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal, Protocol, TypeAlias

from adapters import _json, a2a
from adapters.model import Message, Task, TaskState, TextPart

RESTART_REASON: Final = "the gateway restarted while the task was running"
RUNNING: Final = frozenset({TaskState.SUBMITTED, TaskState.WORKING})
"""States of a task whose agent is still at work (not settled, not waiting for its caller)."""


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
PRUNE_EVERY: Final = 100
"""Saves between two prunings of finished tasks."""


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


class TaskStore(Protocol):
    """Calls are short and local: they run on the event loop. Not thread-safe."""

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        """Insert or update ``task``; ``agent``, ``owner`` and ``endpoint`` are kept from the
        first save (a later caller cannot take a task over)."""
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
        many. Tasks waiting for their caller (input- or auth-required) are left as they are."""
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

    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        self._tasks: dict[str, StoredTask] = {}
        self._saves = 0

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        known = self._tasks.get(task.task_id)
        if known is not None:
            agent, owner, endpoint = known.agent, known.owner, known.endpoint
        self._tasks[task.task_id] = StoredTask(task, agent, owner, endpoint, time.time_ns())
        self._saves += 1
        if self._saves % PRUNE_EVERY == 0:
            self.prune()

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

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        stale = [e for e in self._tasks.values() if e.task.state in RUNNING]
        for e in stale:
            self.save(failed(e.task, reason), agent=e.agent, owner=e.owner, endpoint=e.endpoint)
        return len(stale)

    def close(self) -> None:
        pass


_COLUMNS: Final = (
    ("owner", "TEXT"),
    ("endpoint", "TEXT NOT NULL DEFAULT ''"),
    ("context", "TEXT"),
)
"""Columns added after the first schema (id, agent, state, body, updated): a file made
before them gains them in place."""
_SELECT: Final = "SELECT body, agent, owner, endpoint, updated FROM tasks"
CHECKPOINT_EVERY: Final = 200
"""Saves between two checkpoints of the write-ahead log."""


class Checkpoints(threading.Thread):
    """Copies an SQLite file's write-ahead log into the file, on a connection and thread of
    its own: a checkpoint waits for the disk to sync, and the event loop must not (measured:
    auto-checkpoints on the writer's connection tripled the mean time of a save)."""

    def __init__(self, path: str) -> None:
        super().__init__(name="effmesh-task-checkpoints", daemon=True)
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False
        self.done = threading.Event()
        """Set after each checkpoint."""

    def request(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        """Finish the checkpoint under way, if any, and end the thread."""
        self._stopping = True
        self._wanted.set()
        self.join()

    def run(self) -> None:
        db = sqlite3.connect(self._path)
        try:
            while self._wanted.wait() and not self._stopping:
                self._wanted.clear()
                # PASSIVE never blocks the writer; frames it cannot copy now go next time.
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.done.set()
        finally:
            db.close()


class SQLiteTaskStore:
    """One table in one file. WAL: a save is a short local write with no sync of its own; the
    log is copied into the file (and synced) by :class:`Checkpoints`, off the event loop."""

    def __init__(self, path: str | Path, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self.checkpoints = Checkpoints(str(path))
        self._saves = 0
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, agent TEXT NOT NULL,"
                " state TEXT NOT NULL, body TEXT NOT NULL, updated INTEGER NOT NULL)"
            )
            self._migrate()
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS tasks_listing ON tasks (endpoint, updated, id)"
            )
        self.checkpoints.start()

    def _migrate(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
        for name, declaration in _COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {declaration}")
        if "owner" not in have:
            # A file of the first schema: it kept no context column and counted seconds.
            self._db.execute(
                "UPDATE tasks SET context = json_extract(body, '$.contextId'),"
                " updated = CAST(updated * 1e9 AS INTEGER)"
            )

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        body = _json.dumps(a2a.encode_task(task)).decode()
        self._db.execute(
            "INSERT INTO tasks (id, agent, state, body, updated, owner, endpoint, context)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " state=excluded.state, body=excluded.body, updated=excluded.updated,"
            " context=excluded.context",
            (
                task.task_id,
                agent,
                task.state.value,
                body,
                time.time_ns(),
                owner,
                endpoint,
                task.context_id,
            ),
        )
        self._saves += 1
        if self._saves % PRUNE_EVERY == 0:
            self.prune()
        if self._saves % CHECKPOINT_EVERY == 0:
            self.checkpoints.request()

    def prune(self, now: int | None = None) -> int:
        cutoff = self.retention.cutoff(time.time_ns() if now is None else now)
        finished = tuple(s.value for s in FINISHED)
        marks = ", ".join("?" * len(finished))
        # Each owner's finished tasks, newest first; past the count or the cutoff, they go.
        gone = self._db.execute(
            f"DELETE FROM tasks WHERE id IN (SELECT id FROM (SELECT id, updated,"  # noqa: S608
            f" row_number() OVER (PARTITION BY owner ORDER BY updated DESC, id DESC) AS n"
            f" FROM tasks WHERE state IN ({marks})) WHERE n > ? OR updated < ?)",
            (*finished, self.retention.count, cutoff),
        )
        return gone.rowcount

    def load(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> StoredTask | None:
        if owner is ANYONE:
            row = self._db.execute(f"{_SELECT} WHERE id = ?", (task_id,)).fetchone()
        else:
            where = f"{_SELECT} WHERE id = ? AND owner IS ?"
            row = self._db.execute(where, (task_id, owner)).fetchone()
        return None if row is None else _entry(row)

    def list(self, query: TaskQuery) -> TaskPage:
        # Every clause is one of _where's constants; values are bound as parameters.
        where, args = _where(query)
        count = f"SELECT count(*) FROM tasks{where}"  # noqa: S608
        total = self._db.execute(count, args).fetchone()[0]
        if query.after is not None:
            updated, task_id = query.after
            where += (" AND" if where else " WHERE") + " (updated < ? OR (updated = ? AND id < ?))"
            args = [*args, updated, updated, task_id]
        rows = self._db.execute(
            f"{_SELECT}{where} ORDER BY updated DESC, id DESC LIMIT ?", [*args, query.limit + 1]
        ).fetchall()
        page = tuple(_entry(row) for row in rows[: query.limit])
        return TaskPage(page, int(total), len(rows) > query.limit)

    def delete(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> None:
        if owner is ANYONE:
            self._db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
        else:
            self._db.execute("DELETE FROM tasks WHERE id = ? AND owner IS ?", (task_id, owner))

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        open_states = tuple(s.value for s in RUNNING)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                f"{_SELECT} WHERE state IN ({', '.join('?' * len(open_states))})", open_states
            ).fetchall()
            for e in _entries(rows):
                self.save(failed(e.task, reason), agent=e.agent, owner=e.owner, endpoint=e.endpoint)
        return len(rows)

    def close(self) -> None:
        self.checkpoints.stop()
        self._db.close()


def _entry(row: tuple[str, str, str | None, str, float]) -> StoredTask:
    body, agent, owner, endpoint, updated = row
    return StoredTask(a2a.decode_task(_json.loads(body)), agent, owner, endpoint, int(updated))


def _entries(rows: Iterable[tuple[str, str, str | None, str, float]]) -> list[StoredTask]:
    return [_entry(row) for row in rows]


def _where(q: TaskQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    for clause, value, given in (
        ("endpoint = ?", q.endpoint, q.endpoint is not None),
        ("owner IS ?", q.owner, q.owner is not ANYONE),
        ("context = ?", q.context_id, q.context_id is not None),
        ("state = ?", q.state.value if q.state else None, q.state is not None),
        ("updated >= ?", q.updated_since, q.updated_since is not None),
    ):
        if given:
            clauses.append(clause)
            args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args
