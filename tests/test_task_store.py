"""The task store's contract, held by the SQLite and PostgreSQL stores and the in-memory twin
alike (leases and their expiry included), the SQLite file's migration from the first schema,
and the PostgreSQL schema made once by replicas that open it together."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.model import Message, Task, TaskState, TextPart
from gateway.runtime.postgres import MIGRATIONS, PostgresTaskStore
from gateway.runtime.sqlite import CHECKPOINT_EVERY, SQLiteTaskStore
from gateway.runtime.store import (
    LOST_REASON,
    RESTART_REASON,
    MemoryTaskStore,
    Retention,
    StoredTask,
    StoreUnavailable,
    TaskQuery,
    TaskStore,
    open_store,
)
from gateway.settings.errors import SettingsError
from gateway.settings.file import load

KINDS = ["memory", "sqlite", "postgresql"]


def make(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    retention: Retention | None = None,
    **options: Any,
) -> TaskStore:
    """A store of ``kind``; PostgreSQL's in a fresh database of the session's server."""
    if kind == "memory":
        return MemoryTaskStore(retention, **options)
    if kind == "sqlite":
        return SQLiteTaskStore(tmp_path / "t.db", retention, **options)
    url = request.getfixturevalue("postgres_url")
    return PostgresTaskStore(url, retention, **options)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    made = make(request.param, request, tmp_path)
    yield made
    made.close()


def task(task_id: str, state: TaskState = TaskState.COMPLETED, context: str | None = None) -> Task:
    return Task(task_id, state, context, history=(Message("user", (TextPart(task_id),), "m"),))


def ids(entries: tuple[StoredTask, ...]) -> list[str]:
    return [e.task.task_id for e in entries]


def test_a_saved_task_reads_back_with_its_owner_endpoint_and_agent(store: TaskStore) -> None:
    store.save(task("t1"), agent="echo.echo", owner="ide", endpoint="/acp")
    got = store.load("t1")
    assert got is not None
    assert (got.task, got.agent, got.owner, got.endpoint) == (
        task("t1"),
        "echo.echo",
        "ide",
        "/acp",
    )
    assert store.load("nope") is None


def test_owner_and_endpoint_are_fixed_by_the_first_save(store: TaskStore) -> None:
    store.save(task("t1", TaskState.WORKING), agent="echo.echo", owner="ide", endpoint="/acp")
    store.save(task("t1"), agent="other.x", owner="ops", endpoint="/a2a/other")
    got = store.load("t1")
    assert got is not None
    assert (got.task.state, got.agent, got.owner, got.endpoint) == (
        TaskState.COMPLETED,
        "echo.echo",
        "ide",
        "/acp",
    )


def test_reads_take_an_owner_filter(store: TaskStore) -> None:
    store.save(task("mine"), agent="a.b", owner="ide", endpoint="/acp")
    store.save(task("open"), agent="a.b", owner=None, endpoint="/acp")
    assert store.load("mine", owner="ide") is not None
    assert store.load("mine", owner="ops") is None
    assert store.load("open", owner=None) is not None
    assert store.load("open", owner="ide") is None
    assert ids(store.list(TaskQuery(owner="ide")).tasks) == ["mine"]
    store.delete("mine", owner="ops")
    assert store.load("mine") is not None
    store.delete("mine", owner="ide")
    assert store.load("mine") is None


def test_a_listing_filters_and_runs_newest_change_first(store: TaskStore) -> None:
    for n in range(6):
        state = TaskState.WORKING if n % 2 else TaskState.COMPLETED
        endpoint = "/a2a/x" if n < 5 else "/a2a/y"
        store.save(
            task(f"t{n}", state, "c1" if n < 3 else "c2"), agent="x", owner=None, endpoint=endpoint
        )
    store.save(task("t0", context="c1"), agent="x", owner=None, endpoint="/a2a/x")  # last change
    listed = store.list(TaskQuery(endpoint="/a2a/x"))
    assert ids(listed.tasks) == ["t0", "t4", "t3", "t2", "t1"]
    assert (listed.total, listed.more) == (5, False)
    assert ids(store.list(TaskQuery(endpoint="/a2a/x", context_id="c1")).tasks) == [
        "t0",
        "t2",
        "t1",
    ]
    working = store.list(TaskQuery(endpoint="/a2a/x", state=TaskState.WORKING))
    assert ids(working.tasks) == ["t3", "t1"]
    since = listed.tasks[1].updated
    assert ids(store.list(TaskQuery(endpoint="/a2a/x", updated_since=since)).tasks) == ["t0", "t4"]


def test_pages_follow_each_other_without_gaps_or_repeats(store: TaskStore) -> None:
    for n in range(7):
        store.save(task(f"t{n}"), agent="x", owner=None, endpoint="/a2a/x")
    everything = ids(store.list(TaskQuery(endpoint="/a2a/x", limit=100)).tasks)
    seen: list[str] = []
    after = None
    while True:
        page = store.list(TaskQuery(endpoint="/a2a/x", after=after, limit=3))
        assert page.total == 7
        seen += ids(page.tasks)
        if not page.more:
            break
        last = page.tasks[-1]
        after = (last.updated, last.task.task_id)
    assert seen == everything


def test_failing_unfinished_tasks_leaves_finished_and_waiting_ones(store: TaskStore) -> None:
    for name, state in (
        ("s", TaskState.SUBMITTED),
        ("w", TaskState.WORKING),
        ("i", TaskState.INPUT_REQUIRED),
        ("c", TaskState.COMPLETED),
    ):
        store.save(task(name, state), agent="x", owner="ops", endpoint="/acp")
    assert store.fail_unfinished() == 2
    states = {e.task.task_id: e.task for e in store.list(TaskQuery()).tasks}
    assert {k: t.state for k, t in states.items()} == {
        "s": TaskState.FAILED,
        "w": TaskState.FAILED,
        "i": TaskState.INPUT_REQUIRED,
        "c": TaskState.COMPLETED,
    }
    reason = states["w"].status_message
    assert reason is not None
    assert reason.parts == (TextPart(RESTART_REASON),)
    assert states["w"].history == task("w").history


def test_a_file_of_the_first_schema_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE tasks (id TEXT PRIMARY KEY, agent TEXT NOT NULL,"
        " state TEXT NOT NULL, body TEXT NOT NULL, updated REAL NOT NULL)"
    )
    for task_id, seconds in (("older", 1_700_000_000.0), ("newer", 1_700_000_100.0)):
        body = {
            "id": task_id,
            "contextId": "ctx",
            "status": {"state": "TASK_STATE_COMPLETED"},
        }
        db.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?)",
            (task_id, "echo.echo", "completed", json.dumps(body), seconds),
        )
    db.commit()
    db.close()
    store = SQLiteTaskStore(path)
    old = store.load("older")
    assert old is not None
    assert (old.owner, old.endpoint, old.task.context_id) == (None, "", "ctx")
    assert old.updated == 1_700_000_000 * 10**9  # seconds became nanoseconds
    assert ids(store.list(TaskQuery(context_id="ctx")).tasks) == ["newer", "older"]
    store.save(task("fresh"), agent="echo.echo", owner="ide", endpoint="/acp")
    assert ids(store.list(TaskQuery()).tasks)[0] == "fresh"
    store.close()
    again = SQLiteTaskStore(path)  # opening a migrated file changes nothing
    reread = again.load("older")
    assert reread is not None
    assert reread.updated == old.updated
    again.close()


def test_the_write_ahead_log_is_copied_into_the_file_off_the_writers_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    store = SQLiteTaskStore(path)
    before = path.stat().st_size
    for n in range(CHECKPOINT_EVERY):
        store.save(task(f"t{n}"), agent="x", owner=None, endpoint="/mcp")
    assert store.checkpoints.done.wait(10)
    assert path.stat().st_size > before
    store.close()
    assert not store.checkpoints.is_alive()


@pytest.mark.parametrize("kind", KINDS)
def test_retention_prunes_finished_tasks_by_count_per_owner_and_by_age(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    keep = Retention(days=1.0, count=2)
    made = make(kind, request, tmp_path, keep)
    try:
        for i in range(4):
            made.save(task(f"a{i}"), agent="echo", owner="a", endpoint="/acp")
        made.save(task("b0"), agent="echo", owner="b", endpoint="/acp")
        made.save(task("w0", TaskState.WORKING), agent="echo", owner="a", endpoint="/acp")
        made.save(task("q0", TaskState.INPUT_REQUIRED), agent="echo", owner="a", endpoint="/acp")
        assert made.prune() == 2  # a's two oldest finished tasks; b has one, under its count
        kept = {e.task.task_id for e in made.list(TaskQuery()).tasks}
        assert kept == {"a2", "a3", "b0", "w0", "q0"}
        two_days_on = time.time_ns() + int(2 * 86_400e9)
        assert made.prune(now=two_days_on) == 3  # every finished task is now too old
        left = {e.task.task_id for e in made.list(TaskQuery()).tasks}
        assert left == {"w0", "q0"}  # running and waiting tasks are never pruned
    finally:
        made.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_running_task_whose_lease_ran_out_is_failed_with_a_reason(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    made = make(kind, request, tmp_path, lease_seconds=60.0)
    try:
        made.save(task("w", TaskState.WORKING), agent="x", owner="ops", endpoint="/acp")
        made.save(task("i", TaskState.INPUT_REQUIRED), agent="x", owner="ops", endpoint="/acp")
        made.save(task("c"), agent="x", owner="ops", endpoint="/acp")
        assert made.fail_expired() == 0  # the lease runs for another minute
        assert made.renew() == 1  # only the running task has a lease to renew
        later = time.time_ns() + int(61e9)
        assert made.fail_expired(now=later) == 1
        states = {e.task.task_id: e.task for e in made.list(TaskQuery()).tasks}
        assert {k: t.state for k, t in states.items()} == {
            "w": TaskState.FAILED,
            "i": TaskState.INPUT_REQUIRED,
            "c": TaskState.COMPLETED,
        }
        reason = states["w"].status_message
        assert reason is not None
        assert reason.parts == (TextPart(LOST_REASON),)
        assert made.fail_expired(now=later) == 0  # failed once
    finally:
        made.close()


def test_a_replica_starting_on_a_shared_store_fails_only_its_own_and_lost_tasks(
    postgres_url: str,
) -> None:
    one = PostgresTaskStore(postgres_url, replica="one", lease_seconds=60.0)
    two = PostgresTaskStore(postgres_url, replica="two", lease_seconds=60.0)
    try:
        one.save(task("ones", TaskState.WORKING), agent="x", owner=None, endpoint="/acp")
        two.save(task("twos", TaskState.WORKING), agent="x", owner=None, endpoint="/acp")
        again = PostgresTaskStore(postgres_url, replica="one")  # "one", restarted
        try:
            assert again.fail_unfinished() == 1
        finally:
            again.close()
        got = {e.task.task_id: e.task.state for e in two.list(TaskQuery()).tasks}
        assert got == {"ones": TaskState.FAILED, "twos": TaskState.WORKING}
        # Two replicas sweeping at once fail each lost task once.
        later = time.time_ns() + int(61e9)
        assert one.fail_expired(now=later) + two.fail_expired(now=later) == 1
    finally:
        one.close()
        two.close()


def test_replicas_opening_a_database_together_make_its_schema_once(postgres_url: str) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        stores = list(
            pool.map(lambda n: PostgresTaskStore(postgres_url, replica=f"r{n}"), range(4))
        )
    try:
        with stores[0].pool.connection() as conn:
            version = conn.execute("SELECT version FROM effmesh_schema").fetchall()
        assert version == [(len(MIGRATIONS),)]
    finally:
        for made in stores:
            made.close()


def test_the_store_setting_picks_the_database(tmp_path: Path, postgres_url: str) -> None:
    chosen = [open_store(url, tmp_path) for url in ("", postgres_url)]
    try:
        assert [type(s).__name__ for s in chosen] == ["SQLiteTaskStore", "PostgresTaskStore"]
        assert [s.shared for s in chosen] == [False, True]
    finally:
        for made in chosen:
            made.close()
    with pytest.raises(ValueError, match="unknown task store 'mysql'"):
        open_store("mysql://user:secret@x/db", tmp_path)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('store = "mysql://user:secret@x/db"', "gateway.store"),
        ('store = "tasks.db"', "gateway.store"),
        ('public_url = "balancer:8080"', "gateway.public_url"),
    ],
)
def test_a_store_or_public_url_of_an_unknown_kind_is_refused_at_its_key(
    tmp_path: Path, line: str, key: str
) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(f"[gateway]\n{line}\n")
    with pytest.raises(SettingsError) as info:
        load(path)
    assert info.value.key == key


def test_a_database_that_cannot_be_reached_is_named_without_its_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://effmesh:hunter2@/tasks?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StoreUnavailable) as info:
        PostgresTaskStore(url, pool_timeout=3)
    assert "tasks on " in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_swap_saves_only_over_the_save_it_was_read_at(store: TaskStore) -> None:
    """Compare-and-set: a task read once can be swapped from that read once; a swap from a
    stale read, or of a task that is not stored, saves nothing."""
    store.save(task("t1", TaskState.INPUT_REQUIRED), agent="echo.ask", owner="ide", endpoint="/acp")
    read = store.load("t1")
    assert read is not None
    assert store.swap(task("t1", TaskState.WORKING), was=read.updated)
    assert not store.swap(task("t1", TaskState.CANCELED), was=read.updated)
    now = store.load("t1")
    assert now is not None
    assert (now.task.state, now.owner, now.agent) == (TaskState.WORKING, "ide", "echo.ask")
    assert now.updated > read.updated
    assert store.swap(task("t1", TaskState.COMPLETED), was=now.updated)
    assert not store.swap(task("nope", TaskState.WORKING), was=now.updated)
    assert store.load("nope") is None


def test_replicas_swapping_from_one_read_at_once_let_exactly_one_win(postgres_url: str) -> None:
    """Eight replicas (each its own store and pool) read a task waiting for input, then all
    swap it from that read at once, on threads: one swap saves, seven find it taken."""
    import concurrent.futures
    import threading

    stores = [PostgresTaskStore(postgres_url, replica=f"r{n}") for n in range(8)]
    try:
        stores[0].save(task("t1", TaskState.INPUT_REQUIRED), agent="a", owner=None, endpoint="")
        reads = [s.load("t1") for s in stores]
        start = threading.Barrier(len(stores))

        def swap(n: int) -> bool:
            read = reads[n]
            assert read is not None
            start.wait(30)
            return stores[n].swap(task("t1", TaskState.WORKING), was=read.updated)

        with concurrent.futures.ThreadPoolExecutor(len(stores)) as pool:
            won = list(pool.map(swap, range(len(stores))))
        assert won.count(True) == 1, won
    finally:
        for made in stores:
            made.close()


def test_saves_on_an_event_loop_are_read_back_at_once_and_written_in_one_step(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.sqlite3"
    store = SQLiteTaskStore(path)
    other = sqlite3.connect(path)

    def on_disk() -> int:
        return int(other.execute("SELECT count(*) FROM tasks").fetchone()[0])

    async def saves() -> tuple[int, int, bool, int]:
        for n in range(3):
            running = task(f"t{n}", TaskState.WORKING)
            store.save(running, agent="a.s", owner="alice", endpoint="/mcp")
        store.save(task("t0"), agent="a.s", owner="alice", endpoint="/mcp")
        waiting = on_disk()  # none written yet: they wait for the end of this step
        await asyncio.sleep(0)  # the step ends: all of them go in one transaction
        written = on_disk()
        store.save(task("t3"), agent="a.s", owner="alice", endpoint="/mcp")
        found = store.load("t3", owner="alice")  # a read writes what waits first
        return waiting, written, found is not None, on_disk()

    try:
        waiting, written, found, after_read = asyncio.run(saves())
        assert (waiting, written, found, after_read) == (0, 3, True, 4)
        stored = store.load("t0")
        assert stored is not None
        assert stored.task.state is TaskState.COMPLETED
    finally:
        other.close()
        store.close()


def test_a_lone_save_is_written_as_one_statement_and_a_step_of_several_in_one_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.sqlite3"
    store = SQLiteTaskStore(path)
    other = sqlite3.connect(path)
    ran: list[str] = []
    store._db.set_trace_callback(ran.append)

    async def saves() -> list[list[str]]:
        steps: list[list[str]] = []
        store.save(task("t0", TaskState.WORKING), agent="a.s", owner="alice", endpoint="/mcp")
        await asyncio.sleep(0)
        steps.append([s.split()[0] for s in ran])
        ran.clear()
        store.save(task("t0"), agent="b.s", owner="bob", endpoint="/a2a")
        store.save(task("t1"), agent="a.s", owner="alice", endpoint="/mcp")
        await asyncio.sleep(0)
        steps.append([s.split()[0] for s in ran])
        ran.clear()
        store.save(task("t1", TaskState.FAILED), agent="b.s", owner="bob", endpoint="/a2a")
        await asyncio.sleep(0)
        steps.append([s.split()[0] for s in ran])
        return steps

    try:
        steps = asyncio.run(saves())
        assert steps == [["INSERT"], ["BEGIN", "INSERT", "INSERT", "COMMIT"], ["INSERT"]]
        rows = other.execute("SELECT id, state, owner, endpoint FROM tasks ORDER BY id").fetchall()
        # The upsert of a lone save keeps a known task's first owner and endpoint too.
        assert rows == [("t0", "completed", "alice", "/mcp"), ("t1", "failed", "alice", "/mcp")]
    finally:
        other.close()
        store.close()
