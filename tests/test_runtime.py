"""The one loop every call runs through (``gateway.runtime.runner``): how a call settles, fails,
times out and is cancelled, with the echo agent and agents that misbehave on cue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from adapters.errors import IllegalTransition, Internal, NotFound, Timeout
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent
from agents.echo import EchoAgent
from gateway.registry import Route
from gateway.runtime.runner import (
    STOPPED_REASON,
    TIMED_OUT,
    UNSETTLED,
    Runtime,
    caught_up,
    settle,
)
from gateway.runtime.store import MemoryTaskStore, TaskQuery

pytestmark = pytest.mark.anyio
WORKING = Message("agent", (TextPart("working"),))


def ask(text: str, skill: str) -> Invocation:
    return Invocation(skill, Message("user", (TextPart(text),), "m-1"))


def submitted(task_id: str = "t-1") -> Task:
    return Task(task_id, TaskState.SUBMITTED)


class Scripted(Agent):
    """An agent whose ``run`` is the given generator function; ``closed`` is set when its
    stream is closed, whatever ended it."""

    def __init__(
        self, script: Callable[[str], AsyncIterator[StreamItem]], name: str = "scripted"
    ) -> None:
        self.script = script
        self.closed = asyncio.Event()
        self._descriptor = AgentDescriptor(name, (Skill("go"),))

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        try:
            async for item in self.script(task_id):
                yield item
        finally:
            self.closed.set()


def route_to(agent: Scripted | EchoAgent, skill: str = "go") -> Route:
    return Route(agent, next(s for s in agent.descriptor.skills if s.name == skill))


async def test_a_message_answer_completes_the_task_with_the_message_as_its_status() -> None:
    answer = Message("agent", (TextPart("42"),), "a-1")

    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield answer

    done = await settle(
        route_to(Scripted(script)), ask("q", "go"), submitted(), timeout=5, scope=""
    )
    assert (done.task.state, done.task.status_message, done.error) == (
        TaskState.COMPLETED,
        answer,
        None,
    )
    assert done.outcome == answer


async def test_each_item_is_seen_with_the_snapshot_after_it() -> None:
    seen: list[tuple[str, TaskState]] = []

    async def note(item: StreamItem, snapshot: Task) -> None:
        seen.append((type(item).__name__, snapshot.state))

    echo = EchoAgent()
    done = await settle(
        route_to(echo, "echo"), ask("hi", "echo"), submitted(), timeout=5, scope="", on_item=note
    )
    assert seen == [
        ("StatusEvent", TaskState.WORKING),
        ("ArtifactEvent", TaskState.WORKING),
        ("Task", TaskState.COMPLETED),
    ]
    assert done.outcome is done.task
    assert done.task.artifacts[0].parts == (TextPart("hi"),)


async def test_a_task_waiting_for_its_caller_is_settled() -> None:
    done = await settle(
        route_to(EchoAgent(), "ask"), ask("x", "ask"), submitted(), timeout=5, scope=""
    )
    assert done.task.state is TaskState.INPUT_REQUIRED
    assert done.error is None


async def test_a_settled_call_closes_the_agents_stream() -> None:
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield Task(task_id, TaskState.COMPLETED)
        yield StatusEvent(task_id, TaskState.WORKING)  # never read

    agent = Scripted(script)
    done = await settle(route_to(agent), ask("q", "go"), submitted(), timeout=5, scope="")
    assert done.task.state is TaskState.COMPLETED
    assert agent.closed.is_set()


async def test_an_illegal_move_fails_the_task_with_the_reason() -> None:
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING, message=WORKING)
        yield Task(task_id, TaskState.SUBMITTED)

    done = await settle(
        route_to(Scripted(script)), ask("q", "go"), submitted(), timeout=5, scope=""
    )
    assert isinstance(done.error, IllegalTransition)
    assert done.task.state is TaskState.FAILED
    assert done.task.status_message == Message("agent", (TextPart(done.error.public_message),))


async def test_an_error_the_agent_raises_fails_the_task_with_its_public_text() -> None:
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING)
        raise NotFound("no such thing")

    done = await settle(
        route_to(Scripted(script)), ask("q", "go"), submitted(), timeout=5, scope=""
    )
    assert isinstance(done.error, NotFound)
    assert done.task.state is TaskState.FAILED
    assert done.task.status_message == Message("agent", (TextPart("no such thing"),))


async def test_a_stream_that_ends_unsettled_fails_the_task() -> None:
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING)

    done = await settle(
        route_to(Scripted(script)), ask("q", "go"), submitted(), timeout=5, scope=""
    )
    assert isinstance(done.error, Internal)
    assert done.task.status_message == Message("agent", (TextPart(UNSETTLED),))


async def test_a_call_past_its_timeout_fails_and_its_agent_is_stopped() -> None:
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING)
        await asyncio.Event().wait()

    agent = Scripted(script)
    done = await settle(route_to(agent), ask("q", "go"), submitted(), timeout=0.05, scope="")
    assert isinstance(done.error, Timeout)
    assert done.task.state is TaskState.FAILED
    assert done.task.status_message == Message("agent", (TextPart(TIMED_OUT),))
    assert agent.closed.is_set()


async def test_an_agents_bug_reaches_the_caller_as_its_own_exception() -> None:
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING)
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await settle(route_to(Scripted(script)), ask("q", "go"), submitted(), timeout=5, scope="")


async def test_a_quick_stored_call_is_saved_once_settled_with_its_owner_and_endpoint() -> None:
    runtime = Runtime(MemoryTaskStore(), timeout=5, save_running_after=60)
    unsaved: list[bool] = []

    async def look(item: StreamItem, snapshot: Task) -> None:
        unsaved.append(runtime.store.load(snapshot.task_id) is None)

    done = await runtime.run(
        route_to(EchoAgent(), "echo"), ask("hi", "echo"), owner="ide", endpoint="/mcp", on_item=look
    )
    assert unsaved == [True, True, True]
    stored = runtime.store.load(done.task.task_id)
    assert stored is not None
    assert (stored.owner, stored.endpoint, stored.agent) == ("ide", "/mcp", "echo.echo")
    assert stored.task.state is TaskState.COMPLETED
    assert stored.task.history == (ask("hi", "echo").message,)


async def test_a_long_stored_call_is_saved_while_it_runs() -> None:
    runtime = Runtime(MemoryTaskStore(), timeout=30, save_running_after=0)
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def look(item: StreamItem, snapshot: Task) -> None:
        if not started.done():
            started.set_result(snapshot.task_id)

    call = asyncio.create_task(
        runtime.run(
            route_to(EchoAgent(), "wait"),
            ask("x", "wait"),
            owner="ops",
            endpoint="/mcp",
            on_item=look,
        )
    )
    async with asyncio.timeout(10):
        task_id = await started
        # The save is a timer callback on this loop, with nothing to wait on: let it run.
        while (stored := runtime.store.load(task_id)) is None:
            await asyncio.sleep(0)
    assert (stored.task.state, stored.owner) == (TaskState.WORKING, "ops")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


@pytest.mark.parametrize(
    ("stopping", "state", "reason"),
    [(False, TaskState.CANCELED, None), (True, TaskState.FAILED, STOPPED_REASON)],
)
async def test_a_cancelled_stored_call_is_stored_cancelled_or_failed_when_the_gateway_stops(
    stopping: bool, state: TaskState, reason: str | None
) -> None:
    runtime = Runtime(MemoryTaskStore(), timeout=30)
    working = asyncio.Event()

    async def look(item: StreamItem, snapshot: Task) -> None:
        working.set()

    call = asyncio.create_task(
        runtime.run(
            route_to(EchoAgent(), "wait"),
            ask("x", "wait"),
            owner=None,
            endpoint="/mcp",
            on_item=look,
        )
    )
    async with asyncio.timeout(10):
        await working.wait()
    runtime.stopping = stopping
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    (stored,) = runtime.store.list(TaskQuery(endpoint="/mcp")).tasks
    assert stored.task.state is state
    if reason is not None:
        assert stored.task.status_message == Message("agent", (TextPart(reason),))


async def test_a_stored_call_whose_agent_has_a_bug_is_stored_failed_and_the_bug_propagates() -> (
    None
):
    async def script(task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING)
        raise ZeroDivisionError

    runtime = Runtime(MemoryTaskStore(), timeout=5)
    with pytest.raises(ZeroDivisionError):
        await runtime.run(route_to(Scripted(script)), ask("q", "go"), owner=None, endpoint="/x")
    (stored,) = runtime.store.list(TaskQuery(endpoint="/x")).tasks
    assert stored.task.state is TaskState.FAILED
    assert stored.task.status_message == Message("agent", (TextPart(Internal().public_message),))


async def test_tasks_left_running_are_failed_at_start_up_and_interrupted_ones_kept() -> None:
    store = MemoryTaskStore()
    for task_id, state in (("a", TaskState.WORKING), ("b", TaskState.INPUT_REQUIRED)):
        store.save(Task(task_id, state), agent="echo.echo", owner="ops", endpoint="/acp")
    assert Runtime(store).start() == 1
    a, b = store.load("a"), store.load("b")
    assert a is not None
    assert b is not None
    assert (a.task.state, a.owner) == (TaskState.FAILED, "ops")
    assert b.task.state is TaskState.INPUT_REQUIRED


def test_a_stored_running_task_is_caught_up_with_what_its_runner_published_since() -> None:
    """What another replica reads of a task running elsewhere: the snapshot stored when it
    started, then its published items (an earlier round's, before a settled snapshot that
    was resumed since, are not applied again)."""
    stored = submitted()
    asked = Message("agent", (TextPart("which?"),))
    chunk = Artifact("a-1", (TextPart("one "),))
    more = Artifact("a-1", (TextPart("two"),))
    log: list[StreamItem] = [
        Task("t-1", TaskState.SUBMITTED),
        StatusEvent("t-1", TaskState.INPUT_REQUIRED, None, asked),
        Task("t-1", TaskState.INPUT_REQUIRED, status_message=asked),
        StatusEvent("t-1", TaskState.WORKING, None, WORKING),
        ArtifactEvent("t-1", chunk, None),
        ArtifactEvent("t-1", more, None, append=True),
    ]
    now = caught_up(replace(stored, state=TaskState.WORKING), log)
    assert (now.state, now.status_message) == (TaskState.WORKING, WORKING)
    assert [[p.text for p in a.parts] for a in now.artifacts] == [["one ", "two"]]  # type: ignore[attr-defined]
    # Resumed, and stored working, before the new round published anything: not the
    # question of the round before.
    resumed = replace(stored, state=TaskState.WORKING)
    assert caught_up(resumed, log[:3]) == resumed
    assert caught_up(stored, []) == stored
