"""Tasks the gateway runs for callers that poll, stream or cancel (ACP runs, A2A-style tasks).

A task record keeps the latest canonical snapshot and every streamed item, so a late
subscriber replays from the start. Each task runs to its settled outcome through the runtime
(``gateway.runtime.runner``), which also stores it: saved when it starts and when it settles.

With replicas sharing the store (the runtime's channel is shared), any replica answers for
any task: each item is published on the channel as it is streamed, a task running elsewhere
is *mirrored* here (its record follows the channel until it settles), a cancel of it is sent
to the replica that runs it, and a task waiting for input is resumed here, its invocation
rebuilt from the stored task (the registry names its route). A settled record is then not
kept in memory: another replica may resume it, so the store is the one to ask. A gateway
restarted on its own store resumes a waiting task the same way. What the task's agent keeps
for it while it waits (a remote A2A agent's own task) is stored with it and handed back
(``gateway.runtime.conversations``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

from adapters import lifecycle
from adapters.errors import EffmeshError, IllegalTransition, Internal, TaskNotFound
from adapters.model import (
    DataPart,
    Invocation,
    Message,
    Part,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.llm.backend import dumps
from gateway.registry import Registry, Route
from gateway.runtime import calls, conversations
from gateway.runtime.runner import Runtime, Slot, caught_up
from gateway.runtime.store import RUNNING, failed


@dataclass
class TaskRecord:
    task: Task
    agent_name: str
    items: list[StreamItem] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None
    route: Route | None = None
    invocation: Invocation | None = None
    """What the task runs; kept in memory so a task waiting for input can be resumed."""
    scope: str = ""
    """The memory scope of the caller that started it."""
    principal: str | None = None
    """The token name of the caller that started it (None: the gateway uses no tokens)."""
    endpoint: str = ""
    """The endpoint it was started through (``/acp``, ``/a2a/ws``, ...)."""
    kept: Task | None = None
    """The task as read back from the store, with what its agent keeps for it while it
    waits for its caller (``gateway.runtime.conversations``); ``task`` is what callers see."""
    version: int | None = None
    """When the store last saved it, as read from there (None: a record of this process)."""
    held: str | None = None
    """The replica the stored task named as holding its call open, as the answer read it:
    the answer is carried on there (``gateway.runtime.held``)."""

    async def follow(self, start: int = 0) -> AsyncIterator[StreamItem]:
        """Every item from ``start`` on, then new ones as they come, until the task ends."""
        index = start
        while True:
            async with self.changed:
                await self.changed.wait_for(
                    lambda i=index: i < len(self.items) or self.done.is_set()  # type: ignore[misc]
                )
                batch = self.items[index:]
            for item in batch:
                yield item
            index += len(batch)
            if self.done.is_set() and index >= len(self.items):
                return


def text_of(parts: Sequence[Part]) -> str:
    return "\n".join(p.text for p in parts if isinstance(p, TextPart)).strip()


def result_text(task: Task) -> str:
    """What a task returned, as text: its artifacts' text, else their data as JSON, else its
    status message."""
    parts = [p for a in task.artifacts for p in a.parts]
    data = [p.data for p in parts if isinstance(p, DataPart)]
    text = text_of(parts) or (dumps(data[0] if len(data) == 1 else data) if data else "")
    if text or task.status_message is None:
        return text
    return text_of(task.status_message.parts)


KEEP = 10_000
"""Finished tasks kept in memory; older ones are served from the store."""
CANCEL_WAIT = 10.0
"""Seconds a cancel sent to another replica waits for the task to settle there."""


class TaskManager:
    """Runs invocations as tasks on the gateway's event loop, stored in the runtime's store.
    Not thread-safe."""

    def __init__(self, runtime: Runtime, registry: Registry | None = None) -> None:
        """``registry``: where a task started on another replica finds its route when it is
        resumed here (None: such a task cannot be resumed here)."""
        self.runtime = runtime
        self.registry = registry
        self._records: dict[str, TaskRecord] = {}
        self._mirrors: dict[str, TaskRecord] = {}
        """Tasks running on other replicas that a caller here follows."""
        self._following: set[asyncio.Task[None]] = set()

    def get(self, task_id: str, who: str | None) -> TaskRecord:
        """The task's record, if ``who`` may see it: live while it runs, else read back from
        the store.

        Raises:
            TaskNotFound: no such task, or another owner's (the same error: ``who`` cannot
                tell them apart).
        """
        record = self._records.get(task_id)
        mirror = self._mirrors.get(task_id) if record is None else None
        if mirror is not None and self.runtime.may_see(who, mirror.principal):
            # Followed through the channel, it may lag the store by a signal: a task its
            # replica has stored as settled is read settled here at once.
            stored = self.runtime.store.load(task_id)
            if stored is not None and stored.task.state not in RUNNING:
                mirror.task = stored.task
        record = record or mirror
        if record is not None:
            if not self.runtime.may_see(who, record.principal):
                raise TaskNotFound(task_id)
            return record
        stored = self.runtime.store.load(task_id, owner=self.runtime.visible_to(who))
        if stored is None:
            raise TaskNotFound(task_id)
        channel = self.runtime.channel
        items = channel.log(task_id)
        record = TaskRecord(
            conversations.shown(stored.task),
            stored.agent,
            items=items,
            principal=stored.owner,
            endpoint=stored.endpoint,
            kept=stored.task,
            version=stored.updated,
        )
        if channel.shared and stored.task.state in RUNNING:
            record.task = caught_up(record.task, items)
            self._mirrors[task_id] = record
            following = asyncio.get_running_loop().create_task(self._mirror(record, len(items)))
            self._following.add(following)
            following.add_done_callback(self._following.discard)
            return record
        if not items or items[-1] != record.task:
            items.append(record.task)
        record.done.set()
        return record

    async def _mirror(self, record: TaskRecord, seen: int) -> None:
        """Follow a task running on another replica until it settles."""
        task_id = record.task.task_id
        try:
            async for item in self.runtime.channel.follow(task_id, seen):
                if isinstance(item, Task):
                    record.task = item
                await self._publish(record, item)
        finally:
            del self._mirrors[task_id]
            async with record.changed:
                record.done.set()
                record.changed.notify_all()

    def _forget_old(self) -> None:
        """Keep memory bounded: finished tasks beyond the newest ``KEEP`` are read back from
        the store when asked for (their live event streams are over anyway)."""
        if len(self._records) <= KEEP:
            return
        finished = [tid for tid, r in self._records.items() if r.done.is_set()]
        for task_id in finished[: len(self._records) - KEEP]:
            del self._records[task_id]

    def start(
        self, route: Route, invocation: Invocation, *, principal: str | None, endpoint: str
    ) -> TaskRecord:
        """Start ``invocation`` as a task of ``principal``, through ``endpoint``.

        Raises:
            RateLimited: ``principal`` runs as many tasks as it may.
        """
        slot = self.runtime.admit(principal)
        task_id = calls.new_task_id()
        task = Task(
            task_id,
            TaskState.SUBMITTED,
            invocation.message.context_id,
            history=(invocation.message,),
        )
        record = TaskRecord(task, route.tool_name, route=route, invocation=invocation)
        record.scope = calls.scope_for(principal)
        record.principal = principal
        record.endpoint = endpoint
        self._records[task_id] = record
        self._save(record)
        self._launch(record, route, invocation, slot)
        return record

    def _launch(self, record: TaskRecord, route: Route, invocation: Invocation, slot: Slot) -> None:
        runner = asyncio.get_running_loop().create_task(self._run(record, route, invocation, slot))
        record.runner = runner
        self.runtime.cancellers[record.task.task_id] = runner.cancel

    def _save(self, record: TaskRecord) -> None:
        task = record.task
        if task.state in lifecycle.INTERRUPTED and record.route is not None:
            # With what its agent keeps for it, or where it holds the call open: the answer
            # may come to another replica.
            agent = record.route.agent
            task = conversations.kept(task, conversations.waiting(agent, task.task_id))
            task = conversations.held_by(task, self.runtime.held.holder(agent, task.task_id))
        self.runtime.store.save(
            task, agent=record.agent_name, owner=record.principal, endpoint=record.endpoint
        )

    async def _publish(self, record: TaskRecord, item: StreamItem) -> None:
        async with record.changed:
            record.items.append(item)
            record.changed.notify_all()

    async def _finish(self, record: TaskRecord) -> None:
        task_id = record.task.task_id
        self.runtime.cancellers.pop(task_id, None)
        self._save(record)
        channel = self.runtime.channel
        channel.publish(task_id, record.task)
        if channel.shared:
            # Settled, it may be resumed or read on any replica: the store answers for it.
            self._records.pop(task_id, None)
        self._forget_old()
        async with record.changed:
            record.items.append(record.task)
            record.done.set()
            record.changed.notify_all()

    async def _run(
        self, record: TaskRecord, route: Route, invocation: Invocation, slot: Slot
    ) -> None:
        async def publish(item: StreamItem, snapshot: Task) -> None:
            record.task = snapshot
            if not isinstance(item, Task | Message):
                self.runtime.channel.publish(record.task.task_id, item)
                await self._publish(record, item)

        try:
            result = await self.runtime.settle(
                route,
                invocation,
                record.task,
                scope=record.scope,
                principal=record.principal,
                on_item=publish,
                held=record.held,
            )
            record.task = result.task
        except asyncio.CancelledError:
            # The runner is this task's own: cancelling it is how the task is cancelled.
            record.task = self.runtime.interrupted(record.task)
        except Exception:  # noqa: BLE001 - an agent's own bug must not reach the caller
            record.task = failed(record.task, Internal().public_message)
        finally:
            slot.release()
            await self._finish(record)

    def resume(self, task_id: str, message: Message, who: str | None) -> TaskRecord:
        """Give a task waiting in input-required its answer and run it again.

        The agent sees the earlier exchange as history: the first message, its question, and
        now the answer.

        With replicas, two answers may come at once, to two replicas: the store's
        compare-and-set on the task as read gives it to exactly one, and the other is
        refused as an answer to a task no longer waiting.

        Raises:
            TaskNotFound: no such task, or not one ``who`` may see.
            IllegalTransition: the task is not waiting for input (or was read back from the
                store and its agent is not registered for its owner any more), or another
                answer took it first.
            RateLimited: its owner runs as many tasks as it may.
        """
        record = self.get(task_id, who)
        if record.task.state is not TaskState.INPUT_REQUIRED:
            raise IllegalTransition(record.task.state.value, TaskState.WORKING.value)
        if record.invocation is None:
            self._rebuild(record)
        previous, route = record.invocation, record.route
        if previous is None or route is None:
            raise IllegalTransition(record.task.state.value, TaskState.WORKING.value)
        slot = self.runtime.admit(record.principal)
        asked = (record.task.status_message,) if record.task.status_message else ()
        # Answered, it works again (an ACP caller polling an async resume sees it running),
        # and its question moves into the history.
        working = replace(
            record.task,
            state=TaskState.WORKING,
            status_message=None,
            history=(*record.task.history, *asked, message),
        )
        store = self.runtime.store
        if record.version is not None and not store.swap(working, was=record.version):
            slot.release()
            now = store.load(task_id)
            current = now.task.state if now is not None else record.task.state
            raise IllegalTransition(current.value, TaskState.WORKING.value)
        record.held = None if record.kept is None else conversations.holder(record.kept)
        if record.kept is not None:
            conversations.carry_on(route.agent, record.kept)
            record.kept = None
        record.invocation = replace(
            previous,
            message=message,
            history=(*previous.history, previous.message, *asked),
        )
        record.task = working
        invocation = record.invocation
        record.done = asyncio.Event()
        self._records[task_id] = record
        self._launch(record, route, invocation, slot)
        return record

    def _rebuild(self, record: TaskRecord) -> None:
        """The route and invocation of a stored task waiting for input, so that this replica
        can resume what another one (or this gateway before a restart) started: the task's
        history is the exchange so far (its last message the one the agent answered with its
        question). Left unset when the registry has no such route for its owner."""
        history = record.task.history
        if self.registry is None or not history:
            return
        try:
            route = self.registry.route(record.agent_name, record.principal)
        except EffmeshError:
            return
        record.route = route
        record.invocation = Invocation(record.agent_name, history[-1], history=history[:-1])
        record.scope = calls.scope_for(record.principal)

    async def cancel(self, task_id: str, who: str | None) -> TaskRecord:
        """Cancel a running task ``who`` may see; a finished one raises IllegalTransition,
        one it may not see TaskNotFound."""
        record = self.get(task_id, who)
        if record.done.is_set():
            raise IllegalTransition(record.task.state.value, TaskState.CANCELED.value)
        if record.runner is not None:
            record.runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await record.runner
        else:
            # It runs on another replica: ask it there, and wait to hear how it ended.
            self.runtime.channel.cancel(task_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.done.wait(), CANCEL_WAIT)
        return record

    async def close(self) -> None:
        """Stop every running task as the gateway stops; each is failed with a reason, not
        left half-written."""
        self.runtime.stopping = True
        for following in list(self._following):
            following.cancel()
        for record in self._records.values():
            if record.runner is not None and not record.runner.done():
                record.runner.cancel()
        for record in self._records.values():
            if record.runner is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await record.runner
