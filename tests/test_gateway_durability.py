"""Task state that outlives the gateway process: every protocol's tasks, read back after a
clean stop (on SQLite and on PostgreSQL) and after ``kill -9``, through the official
clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb

from adapters.model import Invocation, Message, Task, TaskState, TextPart
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.postgres import PostgresTaskStore
from gateway.runtime.runner import STOPPED_REASON, Runtime
from gateway.runtime.sqlite import SQLiteTaskStore
from gateway.runtime.store import RESTART_REASON
from gateway.runtime.tasks import TaskManager
from tests.gateway_procs import GatewayProcess
from tests.servers import running

RUN = {"agent_name": "echo.echo", "input": [{"role": "user", "parts": [{"content": "kept"}]}]}
BINDINGS = ["JSONRPC", "HTTP+JSON"]


def _registry() -> Registry:
    registry = Registry()
    registry.add(EchoAgent())
    return registry


def _sqlite(db: Path) -> Runtime:
    return Runtime(SQLiteTaskStore(db))


@pytest.fixture(params=["sqlite", "postgresql"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Runtime]:
    """A fresh runtime on the same store each call, as a restarted gateway opens it."""
    if request.param == "sqlite":
        return lambda: _sqlite(tmp_path / "tasks.sqlite3")
    url = request.getfixturevalue("postgres_url")
    return lambda: Runtime(PostgresTaskStore(url))


def send(text: str, skill: str = "echo", *, immediately: bool = False) -> pb.SendMessageRequest:
    req = pb.SendMessageRequest(
        message=pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text=text)])
    )
    req.metadata.update({"effmesh.skill": skill})
    req.configuration.return_immediately = immediately
    return req


async def a2a_task(url: str, binding: str, request: pb.SendMessageRequest) -> pb.Task:
    config = ClientConfig(streaming=False, supported_protocol_bindings=[binding])
    async with await create_client(url, client_config=config) as client:
        responses = [r async for r in client.send_message(request)]
    return responses[-1].task


async def read_back(url: str, binding: str, ids: list[str]) -> tuple[list[pb.Task], set[str]]:
    """Each task by GetTask, and the ids ListTasks holds."""
    config = ClientConfig(streaming=False, supported_protocol_bindings=[binding])
    async with await create_client(url, client_config=config) as client:
        got = [await client.get_task(pb.GetTaskRequest(id=task_id)) for task_id in ids]
        listed = await client.list_tasks(pb.ListTasksRequest(include_artifacts=True))
    return got, {t.id for t in listed.tasks}


def test_finished_runs_are_readable_after_a_restart(reopen: Callable[[], Runtime]) -> None:
    with running(lambda base: create_app(_registry(), base_url=base, runtime=reopen())) as url:
        done = httpx.post(f"{url}/acp/runs", json={**RUN, "mode": "sync"}).json()
        waiting = httpx.post(
            f"{url}/acp/runs", json={**RUN, "agent_name": "echo.wait", "mode": "async"}
        ).json()
    with running(lambda base: create_app(_registry(), base_url=base, runtime=reopen())) as url:
        again = httpx.get(f"{url}/acp/runs/{done['run_id']}").json()
        stopped = httpx.get(f"{url}/acp/runs/{waiting['run_id']}").json()
    assert again["status"] == "completed"
    assert again["output"][0]["parts"][0]["content"] == "kept"
    assert stopped["status"] == "failed"
    assert stopped["error"]["message"] == STOPPED_REASON


@pytest.mark.parametrize("binding", BINDINGS)
def test_a2a_tasks_outlive_a_clean_stop_and_running_ones_are_failed_with_a_reason(
    reopen: Callable[[], Runtime], binding: str
) -> None:
    with running(lambda base: create_app(_registry(), base_url=base, runtime=reopen())) as url:
        echo = f"{url}/a2a/echo"
        done = asyncio.run(a2a_task(echo, binding, send("kept")))
        waiting = asyncio.run(a2a_task(echo, binding, send("x", "wait", immediately=True)))
    assert waiting.status.state in (pb.TASK_STATE_SUBMITTED, pb.TASK_STATE_WORKING)
    with running(lambda base: create_app(_registry(), base_url=base, runtime=reopen())) as url:
        (again, stopped), listed = asyncio.run(
            read_back(f"{url}/a2a/echo", binding, [done.id, waiting.id])
        )
    assert again.status.state == pb.TASK_STATE_COMPLETED
    assert again.artifacts[0].parts[0].text == "kept"
    assert stopped.status.state == pb.TASK_STATE_FAILED
    assert stopped.status.message.parts[0].text == STOPPED_REASON
    assert listed == {done.id, waiting.id}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path, "crashy", '[[agents]]\nname = "echo"\nkind = "echo"\n')
    try:
        process.start()
        process.wait_up()
        yield process
    finally:
        process.stop()  # also when it never came up: its log file is closed either way


def test_every_protocols_tasks_survive_kill_9_and_those_left_running_fail_with_a_reason(
    gateway: GatewayProcess,
) -> None:
    echo = f"{gateway.base}/a2a/echo"
    done: dict[str, str] = {}
    left: dict[str, str] = {}
    for binding in BINDINGS:
        done[binding] = asyncio.run(a2a_task(echo, binding, send(f"kept over {binding}"))).id
        waiting = asyncio.run(a2a_task(echo, binding, send("x", "wait", immediately=True)))
        left[binding] = waiting.id
    acp_done = httpx.post(f"{gateway.base}/acp/runs", json={**RUN, "mode": "sync"}).json()
    acp_left = httpx.post(
        f"{gateway.base}/acp/runs", json={**RUN, "agent_name": "echo.wait", "mode": "async"}
    ).json()

    gateway.kill()
    gateway.start()
    gateway.wait_up()

    everything = set(done.values()) | set(left.values())
    for binding in BINDINGS:
        got, listed = asyncio.run(read_back(echo, binding, [*done.values(), *left.values()]))
        finished, running_at_kill = got[: len(done)], got[len(done) :]
        assert [t.artifacts[0].parts[0].text for t in finished] == [
            f"kept over {b}" for b in BINDINGS
        ]
        assert {t.status.state for t in finished} == {pb.TASK_STATE_COMPLETED}
        assert {t.status.state for t in running_at_kill} == {pb.TASK_STATE_FAILED}
        assert {t.status.message.parts[0].text for t in running_at_kill} == {RESTART_REASON}
        assert listed == everything
    acp_again = httpx.get(f"{gateway.base}/acp/runs/{acp_done['run_id']}").json()
    acp_failed = httpx.get(f"{gateway.base}/acp/runs/{acp_left['run_id']}").json()
    assert acp_again["output"][0]["parts"][0]["content"] == "kept"
    assert (acp_failed["status"], acp_failed["error"]["message"]) == ("failed", RESTART_REASON)


def test_tasks_left_running_by_a_crash_are_failed_with_a_reason(tmp_path: Path) -> None:
    store = SQLiteTaskStore(tmp_path / "tasks.sqlite3")
    running_task = Task(
        "5f0c0f7e-6a1e-4d8b-9a57-3f3f0a1b2c3d",
        TaskState.WORKING,
        history=(Message("user", (TextPart("q"),), "m-1"),),
    )
    store.save(running_task, agent="echo.wait", owner="ops", endpoint="/acp")
    store.close()
    runtime = _sqlite(tmp_path / "tasks.sqlite3")

    async def read() -> Task:
        assert runtime.start() == 1  # what create_app does as the gateway starts
        return TaskManager(runtime).get(running_task.task_id, "ops").task

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
        manager = TaskManager(_sqlite(tmp_path / "t.sqlite3"))
        ids = []
        for text in ("a", "b", "c", "d"):
            invocation = Invocation("echo", Message("user", (TextPart(text),)))
            record = manager.start(route, invocation, principal=None, endpoint="/acp")
            await record.done.wait()
            ids.append(record.task.task_id)
        assert len(manager._records) <= 2
        return [manager.get(task_id, None).task.state for task_id in ids]

    assert asyncio.run(scenario()) == [TaskState.COMPLETED] * 4
