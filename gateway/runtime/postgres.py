"""The task store that gateway replicas share: PostgreSQL through psycopg 3 and a small
connection pool. The contract is ``gateway.runtime.store.TaskStore``'s; the schema is the
SQLite store's, plus the event log the replicas follow (``gateway.runtime.channel``) and the
MCP sessions they share (``gateway.runtime.sessions``).

The gateway makes and migrates the schema itself: each replica, as it opens the store, takes
a transaction-scoped advisory lock (so replicas starting together migrate once) and applies
the steps of :data:`MIGRATIONS` past the version the ``effmesh_schema`` table records.

Calls run on the event loop like the SQLite store's: each takes a pooled connection (in
autocommit), runs one statement or one short transaction, and gives it back. Commits do not
wait for the disk (``synchronous_commit=off``), as SQLite's WAL saves do not, unless the
store URL sets ``synchronous_commit`` itself. Sweeps of
expired leases lock the rows they fail (``FOR UPDATE SKIP LOCKED``): two replicas sweeping at
once fail each task once.
"""

from __future__ import annotations

import time
from typing import Final

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

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
    StoreUnavailable,
    TaskPage,
    TaskQuery,
    failed,
    replica_name,
)

MIGRATIONS: Final = (
    (
        "CREATE TABLE tasks (id TEXT PRIMARY KEY, agent TEXT NOT NULL, state TEXT NOT NULL,"
        " body TEXT NOT NULL, updated BIGINT NOT NULL, owner TEXT,"
        " endpoint TEXT NOT NULL DEFAULT '', context TEXT, runner TEXT,"
        " lease BIGINT NOT NULL DEFAULT 0)",
        "CREATE INDEX tasks_listing ON tasks (endpoint, updated, id)",
        f"CREATE INDEX tasks_running ON tasks (lease) WHERE {sql.IS_RUNNING}",
        "CREATE TABLE task_events (id BIGSERIAL PRIMARY KEY, task_id TEXT NOT NULL,"
        " body TEXT NOT NULL)",
        "CREATE INDEX task_events_task ON task_events (task_id, id)",
    ),
    (
        "CREATE TABLE mcp_sessions (id TEXT PRIMARY KEY, owner TEXT, version TEXT NOT NULL,"
        " client TEXT NOT NULL, level TEXT, updated BIGINT NOT NULL)",
        "CREATE TABLE mcp_messages (id BIGSERIAL PRIMARY KEY, session TEXT NOT NULL,"
        " body BYTEA NOT NULL, at BIGINT NOT NULL)",
    ),
)
"""Each schema version's statements, in order: version n is reached by step n-1."""
_LOCK: Final = 0x6566_666D_6573_68
"""The advisory lock key replicas migrate under."""
SAME: Final = "IS NOT DISTINCT FROM"
ASYNC_COMMIT: Final = "-c synchronous_commit=off"
"""The connections' setting unless the store URL names ``synchronous_commit`` itself
(``?options=-c%20synchronous_commit%3Don`` for commits that wait for the disk)."""


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Bring the database's schema to the newest version; return the version it had."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS effmesh_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM effmesh_schema").fetchone()
        had = int(str(row[0])) if row is not None else 0
        for steps in MIGRATIONS[had:]:
            for statement in steps:
                conn.execute(statement.encode())
        if row is None:
            conn.execute("INSERT INTO effmesh_schema VALUES (%s)", (len(MIGRATIONS),))
        else:
            conn.execute("UPDATE effmesh_schema SET version = %s", (len(MIGRATIONS),))
    return had


class PostgresTaskStore:
    """Tasks in a PostgreSQL database, shared by every replica that opens it."""

    shared = True

    def __init__(
        self,
        url: str,
        retention: Retention | None = None,
        *,
        replica: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        pool_size: int = 4,
        pool_timeout: float = 30.0,
    ) -> None:
        """Opens the pool (waiting up to ``pool_timeout`` seconds for its first connection)
        and migrates the schema.

        Raises:
            StoreUnavailable: the database cannot be reached or migrated.
        """
        self.url = url
        self.retention = retention or Retention()
        self.replica = replica or replica_name()
        self.lease_ns = int(lease_seconds * 1e9)
        # Commits do not wait for the disk, unless the URL says otherwise: the SQLite store's
        # durability (a crash of the database machine may lose the last moment of writes,
        # never their consistency), at a fraction of a synced commit's cost.
        options = {} if "synchronous_commit" in url else {"options": ASYNC_COMMIT}
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, **options},
            open=False,
            name="effmesh-tasks",
        )
        self._prunes = PruneClock()
        try:
            self.pool.open(wait=True, timeout=pool_timeout)
            with self.pool.connection() as conn:
                migrate(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            self.pool.close()
            where = psycopg.conninfo.conninfo_to_dict(url)
            named = f"{where.get('dbname', '')} on {where.get('host', 'localhost')}"
            raise StoreUnavailable(f"the task store ({named}) cannot be opened: {exc}") from None

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        now = time.time_ns()
        with self.pool.connection() as conn:
            conn.execute(
                sql.upsert("%s"),
                sql.row(
                    task,
                    agent=agent,
                    owner=owner,
                    endpoint=endpoint,
                    replica=self.replica,
                    now=now,
                    lease_ns=self.lease_ns,
                ),
            )
        if self._prunes.due(now):
            self.prune(now)

    def swap(self, task: Task, *, was: int) -> bool:
        values = sql.swapped(
            task, was=was, replica=self.replica, now=time.time_ns(), lease_ns=self.lease_ns
        )
        with self.pool.connection() as conn:
            return conn.execute(sql.swap("%s").encode(), values).rowcount == 1

    def prune(self, now: int | None = None) -> int:
        cutoff = self.retention.cutoff(time.time_ns() if now is None else now)
        with self.pool.connection() as conn, conn.transaction():
            gone = conn.execute(
                f"{sql.prune_statement('%s')} RETURNING id",
                (*sql.FINISHED_STATES, self.retention.count, cutoff),
            ).fetchall()
            ids = [str(row[0]) for row in gone]
            if ids:
                conn.execute("DELETE FROM task_events WHERE task_id = ANY(%s)", (ids,))
        return len(ids)

    def load(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> StoredTask | None:
        with self.pool.connection() as conn:
            if owner is ANYONE:
                row = conn.execute(f"{sql.SELECT} WHERE id = %s", (task_id,)).fetchone()
            else:
                where = f"{sql.SELECT} WHERE id = %s AND owner {SAME} %s"
                row = conn.execute(where.encode(), (task_id, owner)).fetchone()
        return None if row is None else sql.entry(row)

    def list(self, query: TaskQuery) -> TaskPage:
        # Every clause is one of sql.where's constants; values are bound as parameters.
        where, args = sql.where(query, mark="%s", same=SAME)
        with self.pool.connection() as conn:
            count = f"SELECT count(*) FROM tasks{where}"  # noqa: S608
            total = conn.execute(count.encode(), args).fetchone()
            if query.after is not None:
                updated, task_id = query.after
                where = sql.after(where, "%s")
                args = [*args, updated, updated, task_id]
            rows = conn.execute(
                f"{sql.SELECT}{where} ORDER BY updated DESC, id DESC LIMIT %s".encode(),
                [*args, query.limit + 1],
            ).fetchall()
        page = tuple(sql.entry(row) for row in rows[: query.limit])
        matched = int(str(total[0])) if total is not None else 0
        return TaskPage(page, matched, len(rows) > query.limit)

    def delete(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> None:
        with self.pool.connection() as conn, conn.transaction():
            if owner is ANYONE:
                gone = conn.execute("DELETE FROM tasks WHERE id = %s", (task_id,))
            else:
                where = f"DELETE FROM tasks WHERE id = %s AND owner {SAME} %s"  # noqa: S608
                gone = conn.execute(where.encode(), (task_id, owner))
            if gone.rowcount:
                conn.execute("DELETE FROM task_events WHERE task_id = %s", (task_id,))

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        # Other replicas' running tasks are theirs: only this name's, and the lost ones.
        return self._fail(
            " AND (runner = %s OR lease < %s)", (self.replica, time.time_ns()), reason
        )

    def renew(self) -> int:
        mine = f"UPDATE tasks SET lease = %s WHERE runner = %s AND {sql.IS_RUNNING}"  # noqa: S608
        with self.pool.connection() as conn:
            renewed = conn.execute(mine.encode(), (time.time_ns() + self.lease_ns, self.replica))
        return renewed.rowcount

    def fail_expired(self, reason: str = LOST_REASON, now: int | None = None) -> int:
        return self._fail(" AND lease < %s", (time.time_ns() if now is None else now,), reason)

    def _fail(self, narrower: str, args: tuple[object, ...], reason: str) -> int:
        """Fail the running tasks that also match ``narrower`` (a clause and its ``args``)."""
        now = time.time_ns()
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                f"{sql.SELECT} WHERE {sql.IS_RUNNING}{narrower} FOR UPDATE SKIP LOCKED".encode(),
                args,
            ).fetchall()
            ended = [sql.entry(row) for row in rows]
            for e in ended:
                task = failed(e.task, reason)
                conn.execute(
                    "UPDATE tasks SET state = %s, body = %s, updated = %s, runner = %s"
                    " WHERE id = %s",
                    (task.state.value, sql.body(task), now, self.replica, task.task_id),
                )
        return len(ended)

    def close(self) -> None:
        self.pool.close()
