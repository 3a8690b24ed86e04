"""What the SQL task stores share (``gateway.runtime.sqlite``, ``gateway.runtime.postgres``):
the columns they read, how a row becomes a stored task, and how a query becomes a WHERE
clause. The two databases differ in how they mark a parameter and compare with NULL; both
are passed in, every value is bound as a parameter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from adapters import _json, a2a
from adapters.model import Task
from gateway.runtime.store import ANYONE, FINISHED, RUNNING, StoredTask, TaskQuery

SELECT: Final = "SELECT body, agent, owner, endpoint, updated FROM tasks"
FINISHED_STATES: Final = tuple(sorted(s.value for s in FINISHED))
RUNNING_STATES: Final = tuple(sorted(s.value for s in RUNNING))
IS_RUNNING: Final = f"state IN ({', '.join(repr(v) for v in RUNNING_STATES)})"
"""The running states written into the statement (the enum's own constants, no input): a
partial index on them matches only literal values, not parameters."""

Row = tuple[str, str, str | None, str, float]


def body(task: Task) -> str:
    """The stored form of ``task``: its A2A task JSON."""
    return _json.dumps_utf8(a2a.encode_task(task)).decode()


def entry(row: Row) -> StoredTask:
    body, agent, owner, endpoint, updated = row
    return StoredTask(a2a.decode_task(_json.loads(body)), agent, owner, endpoint, int(updated))


def entries(rows: Iterable[Row]) -> list[StoredTask]:
    return [entry(row) for row in rows]


def marks(mark: str, count: int) -> str:
    """``count`` parameter marks, comma-separated."""
    return ", ".join([mark] * count)


def where(q: TaskQuery, *, mark: str, same: str) -> tuple[str, list[object]]:
    """The WHERE clause of a listing's filters and its parameters. ``mark`` is the
    database's parameter mark; ``same`` its equality that holds for two NULLs."""
    clauses: list[str] = []
    args: list[object] = []
    for clause, value, given in (
        (f"endpoint = {mark}", q.endpoint, q.endpoint is not None),
        (f"owner {same} {mark}", q.owner, q.owner is not ANYONE),
        (f"context = {mark}", q.context_id, q.context_id is not None),
        (f"state = {mark}", q.state.value if q.state else None, q.state is not None),
        (f"updated >= {mark}", q.updated_since, q.updated_since is not None),
    ):
        if given:
            clauses.append(clause)
            args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def after(where_clause: str, mark: str) -> str:
    """``where_clause`` narrowed to the tasks listed after a position (updated, id)."""
    joined = " AND" if where_clause else " WHERE"
    return f"{where_clause}{joined} (updated < {mark} OR (updated = {mark} AND id < {mark}))"


def upsert(mark: str) -> str:
    """The statement that saves a task (``row`` gives its values), in the database's
    parameter ``mark``: a new one inserted, a known one's state, body, times and lease
    replaced (its agent, owner and endpoint are its first save's). Only marks are formatted
    in; every value is a parameter."""
    columns = "id, agent, state, body, updated, owner, endpoint, context, runner, lease"
    kept = ("state", "body", "updated", "context", "runner", "lease")
    updates = ", ".join(f"{c} = excluded.{c}" for c in kept)
    values = marks(mark, 10)
    into = f"INSERT INTO tasks ({columns}) VALUES ({values})"  # noqa: S608
    return f"{into} ON CONFLICT (id) DO UPDATE SET {updates}"


def row(
    task: Task,
    *,
    agent: str,
    owner: str | None,
    endpoint: str,
    replica: str,
    now: int,
    lease_ns: int,
) -> tuple[object, ...]:
    """The values :func:`upsert` takes for ``task``, saved at ``now`` by ``replica``."""
    return (
        task.task_id,
        agent,
        task.state.value,
        body(task),
        now,
        owner,
        endpoint,
        task.context_id,
        replica,
        now + lease_ns,
    )


def swap(mark: str) -> str:
    """The statement that saves a known task only if it was last saved at a given time
    (compare-and-set); its values: :func:`swapped`'s."""
    kept = ("state", "body", "updated", "context", "runner", "lease")
    sets = ", ".join(f"{c} = {mark}" for c in kept)
    return f"UPDATE tasks SET {sets} WHERE id = {mark} AND updated = {mark}"  # noqa: S608


def swapped(task: Task, *, was: int, replica: str, now: int, lease_ns: int) -> tuple[object, ...]:
    """The values :func:`swap` takes: ``task`` saved at ``now`` (later than ``was``, so that
    the next swap from ``was`` fails) by ``replica``, if it was last saved at ``was``."""
    now = max(now, was + 1)
    return (
        task.state.value,
        body(task),
        now,
        task.context_id,
        replica,
        now + lease_ns,
        task.task_id,
        was,
    )


def prune_statement(mark: str) -> str:
    """Deletes each owner's finished tasks past the newest count or saved before a cutoff;
    parameters: the finished states, the count, the cutoff."""
    return (
        f"DELETE FROM tasks WHERE id IN (SELECT id FROM (SELECT id, updated,"  # noqa: S608
        f" row_number() OVER (PARTITION BY owner ORDER BY updated DESC, id DESC) AS n"
        f" FROM tasks WHERE state IN ({marks(mark, len(FINISHED_STATES))})) AS f"
        f" WHERE n > {mark} OR updated < {mark})"
    )
