"""Task state that outlives the gateway process (SQLite), read back through the ACP endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from adapters.model import Invocation, Message, Task, TaskState, TextPart
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.store import RESTART_REASON, SQLiteTaskStore
from gateway.runtime.tasks import STOPPED_REASON, TaskManager
from tests.servers import running

RUN = {"agent_name": "echo.echo", "input": [{"role": "user", "parts": [{"content": "kept"}]}]}


def _registry() -> Registry:
    registry = Registry()
    registry.add(EchoAgent())
    return registry


def test_finished_runs_are_readable_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "tasks.sqlite3"
    with running(
        lambda base: create_app(_registry(), base_url=base, store=SQLiteTaskStore(db))
    ) as url:
        done = httpx.post(f"{url}/acp/runs", json={**RUN, "mode": "sync"}).json()
        waiting = httpx.post(
            f"{url}/acp/runs", json={**RUN, "agent_name": "echo.wait", "mode": "async"}
        ).json()
    with running(
        lambda base: create_app(_registry(), base_url=base, store=SQLiteTaskStore(db))
    ) as url:
        again = httpx.get(f"{url}/acp/runs/{done['run_id']}").json()
        stopped = httpx.get(f"{url}/acp/runs/{waiting['run_id']}").json()
    assert again["status"] == "completed"
    assert again["output"][0]["parts"][0]["content"] == "kept"
    assert stopped["status"] == "failed"
    assert stopped["error"]["message"] == STOPPED_REASON


def test_tasks_left_running_by_a_crash_are_failed_with_a_reason(tmp_path: Path) -> None:
    store = SQLiteTaskStore(tmp_path / "tasks.sqlite3")
    running_task = Task(
        "5f0c0f7e-6a1e-4d8b-9a57-3f3f0a1b2c3d",
        TaskState.WORKING,
        history=(Message("user", (TextPart("q"),), "m-1"),),
    )
    store.save(running_task, "echo.wait")
    store.close()
    reopened = SQLiteTaskStore(tmp_path / "tasks.sqlite3")

    async def read() -> Task:
        manager = TaskManager(store=reopened)
        return manager.get(running_task.task_id).task

    task = asyncio.run(read())
    assert task.state is TaskState.FAILED
    assert task.status_message is not None
    assert task.status_message.parts == (TextPart(RESTART_REASON),)
    assert task.history == running_task.history


def test_finished_tasks_beyond_the_memory_bound_are_read_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.registry import Route
    from gateway.runtime import tasks as tasks_module

    monkeypatch.setattr(tasks_module, "KEEP", 2)
    agent = EchoAgent()
    route = Route(agent, agent.descriptor.skills[0])

    async def scenario() -> list[TaskState]:
        manager = TaskManager(store=SQLiteTaskStore(tmp_path / "t.sqlite3"))
        ids = []
        for text in ("a", "b", "c", "d"):
            invocation = Invocation("echo", Message("user", (TextPart(text),)))
            record = manager.start(route, invocation, principal=None)
            await record.done.wait()
            ids.append(record.task.task_id)
        assert len(manager._records) <= 2
        return [manager.get(task_id).task.state for task_id in ids]

    assert asyncio.run(scenario()) == [TaskState.COMPLETED] * 4
