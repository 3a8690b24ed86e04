"""The embedded task store: one table in one SQLite file under the data folder, opened by one
gateway process at a time (``gateway.datadir`` holds the folder). The contract is
``gateway.runtime.store.TaskStore``'s."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Final

from adapters.model import Task
from gateway.runtime import sql
from gateway.runtime.store import (
    ANYONE,
    LEASE_SECONDS,
    LOST_REASON,
    RESTART_REASON,
    OwnerFilter,
    PruneClock,
    Retention,
    StoredTask,
    TaskPage,
    TaskQuery,
    failed,
    replica_name,
)

_COLUMNS: Final = (
    ("owner", "TEXT"),
    ("endpoint", "TEXT NOT NULL DEFAULT ''"),
    ("context", "TEXT"),
    ("runner", "TEXT"),
    ("lease", "INTEGER NOT NULL DEFAULT 0"),
)
"""Columns added after the first schema (id, agent, state, body, updated): a file made
before them gains them in place."""
UPSERT: Final = sql.upsert("?")
CHECKPOINT_EVERY: Final = 200
"""Saves between two checkpoints of the write-ahead log."""
WRITE_AT: Final = 256
"""Saves waiting that are written at once, without waiting for the end of the step."""


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
    log is copied into the file (and synced) by :class:`Checkpoints`, off the event loop.

    Saves made on an event loop are written together at the end of the loop's current step,
    in one transaction, one row per task (the last save of a task saved twice meanwhile):
    calls that settle in the same step share the write. The write is queued before any
    answer of that step goes out (responses are joined and sent at the end of a step, after
    it: :mod:`gateway.writes`), so a task a caller was told of survives the process being
    killed next; a crash loses only the saves of the step it happens in.
    Every other use of the store writes them first, so a read finds every save made before
    it. A save with no event loop running is written at once."""

    shared = False

    def __init__(
        self,
        path: str | Path,
        retention: Retention | None = None,
        *,
        replica: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.retention = retention or Retention()
        self.replica = replica or replica_name()
        self.lease_ns = int(lease_seconds * 1e9)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self.checkpoints = Checkpoints(str(path))
        self._saves = 0
        self._pending: dict[str, tuple[object, ...]] = {}
        """Rows saved but not yet written, by task id."""
        self._writing: asyncio.Handle | None = None
        self._prunes = PruneClock()
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

    def swap(self, task: Task, *, was: int) -> bool:
        self.flush()
        values = sql.swapped(
            task, was=was, replica=self.replica, now=time.time_ns(), lease_ns=self.lease_ns
        )
        return self._db.execute(sql.swap("?"), values).rowcount == 1

    def _row(self, task: Task, agent: str, owner: str | None, endpoint: str) -> tuple[object, ...]:
        return sql.row(
            task,
            agent=agent,
            owner=owner,
            endpoint=endpoint,
            replica=self.replica,
            now=time.time_ns(),
            lease_ns=self.lease_ns,
        )

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        self._pending[task.task_id] = self._row(task, agent, owner, endpoint)
        if len(self._pending) >= WRITE_AT:
            self.flush()
        elif self._writing is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._writing = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the saves waiting, in one transaction."""
        if self._writing is not None:
            self._writing.cancel()
            self._writing = None
        if not self._pending:
            return
        rows = list(self._pending.values())
        self._pending.clear()
        if len(rows) == 1:
            # One statement is its own transaction (the connection is in autocommit): no
            # BEGIN and COMMIT of ours, the same row written as atomically.
            self._db.execute(UPSERT, rows[0])
        else:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(UPSERT, rows)
        before, self._saves = self._saves, self._saves + len(rows)
        now = time.time_ns()
        if self._prunes.due(now):
            self.prune(now)
        if self._saves // CHECKPOINT_EVERY != before // CHECKPOINT_EVERY:
            self.checkpoints.request()

    def prune(self, now: int | None = None) -> int:
        self.flush()
        cutoff = self.retention.cutoff(time.time_ns() if now is None else now)
        gone = self._db.execute(
            sql.prune_statement("?"), (*sql.FINISHED_STATES, self.retention.count, cutoff)
        )
        return gone.rowcount

    def load(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> StoredTask | None:
        self.flush()
        if owner is ANYONE:
            row = self._db.execute(f"{sql.SELECT} WHERE id = ?", (task_id,)).fetchone()
        else:
            where = f"{sql.SELECT} WHERE id = ? AND owner IS ?"
            row = self._db.execute(where, (task_id, owner)).fetchone()
        return None if row is None else sql.entry(row)

    def list(self, query: TaskQuery) -> TaskPage:
        self.flush()
        # Every clause is one of sql.where's constants; values are bound as parameters.
        where, args = sql.where(query, mark="?", same="IS")
        count = f"SELECT count(*) FROM tasks{where}"  # noqa: S608
        total = self._db.execute(count, args).fetchone()[0]
        if query.after is not None:
            updated, task_id = query.after
            where = sql.after(where, "?")
            args = [*args, updated, updated, task_id]
        rows = self._db.execute(
            f"{sql.SELECT}{where} ORDER BY updated DESC, id DESC LIMIT ?", [*args, query.limit + 1]
        ).fetchall()
        page = tuple(sql.entry(row) for row in rows[: query.limit])
        return TaskPage(page, int(total), len(rows) > query.limit)

    def delete(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> None:
        self.flush()
        if owner is ANYONE:
            self._db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
        else:
            self._db.execute("DELETE FROM tasks WHERE id = ? AND owner IS ?", (task_id, owner))

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        return self._fail("", (), reason)

    def renew(self) -> int:
        self.flush()
        states = sql.RUNNING_STATES
        renewed = self._db.execute(
            f"UPDATE tasks SET lease = ? WHERE runner = ?"  # noqa: S608
            f" AND state IN ({sql.marks('?', len(states))})",
            (time.time_ns() + self.lease_ns, self.replica, *states),
        )
        return renewed.rowcount

    def fail_expired(self, reason: str = LOST_REASON, now: int | None = None) -> int:
        return self._fail(" AND lease < ?", (time.time_ns() if now is None else now,), reason)

    def _fail(self, narrower: str, args: tuple[object, ...], reason: str) -> int:
        """Fail the running tasks that also match ``narrower`` (a clause and its ``args``)."""
        states = sql.RUNNING_STATES
        self.flush()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                f"{sql.SELECT} WHERE state IN ({sql.marks('?', len(states))}){narrower}",
                (*states, *args),
            ).fetchall()
            self._db.executemany(
                UPSERT,
                [
                    self._row(failed(e.task, reason), e.agent, e.owner, e.endpoint)
                    for e in sql.entries(rows)
                ],
            )
        return len(rows)

    def close(self) -> None:
        self.flush()
        self.checkpoints.stop()
        self._db.close()
