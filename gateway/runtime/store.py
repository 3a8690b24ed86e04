"""Where task state survives the process: a small interface, SQLite behind it by default, and
an in-memory twin. A PostgreSQL store implements the same four methods.

Tasks are stored as canonical values serialized through the A2A task JSON (the richest of the
three wire forms, and exact for canonical tasks).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Protocol

from adapters import _json, a2a
from adapters.model import Message, Task, TaskState, TextPart

RESTART_REASON = "the gateway restarted while the task was running"
_OPEN = (TaskState.SUBMITTED.value, TaskState.WORKING.value)


class TaskStore(Protocol):
    def save(self, task: Task, agent_name: str) -> None: ...

    def load(self, task_id: str) -> tuple[Task, str] | None: ...

    def fail_unfinished(self) -> int:
        """Fail every task left running by a previous process; return how many."""
        ...

    def close(self) -> None: ...


def _failed(task: Task) -> Task:
    reason = Message("agent", (TextPart(RESTART_REASON),))
    return Task(
        task.task_id,
        TaskState.FAILED,
        task.context_id,
        reason,
        task.artifacts,
        task.history,
        task.metadata,
    )


class MemoryTaskStore:
    def __init__(self) -> None:
        self._tasks: dict[str, tuple[Task, str]] = {}

    def save(self, task: Task, agent_name: str) -> None:
        self._tasks[task.task_id] = (task, agent_name)

    def load(self, task_id: str) -> tuple[Task, str] | None:
        return self._tasks.get(task_id)

    def fail_unfinished(self) -> int:
        stale = [(t, a) for t, a in self._tasks.values() if t.state.value in _OPEN]
        for task, agent in stale:
            self._tasks[task.task_id] = (_failed(task), agent)
        return len(stale)

    def close(self) -> None:
        pass


class SQLiteTaskStore:
    """One table in one file. Calls are short and local, so they run on the event loop."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, agent TEXT NOT NULL,"
            " state TEXT NOT NULL, body TEXT NOT NULL, updated REAL NOT NULL)"
        )

    def save(self, task: Task, agent_name: str) -> None:
        body = _json.dumps(a2a.encode_task(task)).decode()
        self._db.execute(
            "INSERT INTO tasks (id, agent, state, body, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET agent=excluded.agent, state=excluded.state,"
            " body=excluded.body, updated=excluded.updated",
            (task.task_id, agent_name, task.state.value, body, time.time()),
        )

    def load(self, task_id: str) -> tuple[Task, str] | None:
        row = self._db.execute("SELECT body, agent FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        return a2a.decode_task(_json.loads(row[0])), row[1]

    def fail_unfinished(self) -> int:
        rows = self._db.execute(
            "SELECT body, agent FROM tasks WHERE state IN (?, ?)", _OPEN
        ).fetchall()
        for body, agent in rows:
            self.save(_failed(a2a.decode_task(_json.loads(body))), agent)
        return len(rows)

    def close(self) -> None:
        self._db.close()
