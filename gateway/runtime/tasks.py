"""Tasks the gateway runs for callers that poll, stream or cancel (ACP runs, A2A-style tasks).

A task record keeps the latest canonical snapshot and every streamed item, so a late
subscriber replays from the start. Each task runs to its settled outcome through the runtime
(``gateway.runtime.runner``), which also stores it: saved when it starts and when it settles.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

from adapters.errors import IllegalTransition, Internal, TaskNotFound
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
from gateway.registry import Route
from gateway.runtime import calls
from gateway.runtime.runner import Runtime, Slot
from gateway.runtime.store import failed


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


class TaskManager:
    """Runs invocations as tasks on the gateway's event loop, stored in the runtime's store.
    Not thread-safe."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._records: dict[str, TaskRecord] = {}

    def get(self, task_id: str, who: str | None) -> TaskRecord:
        """The task's record, if ``who`` may see it: live while it runs, else read back from
        the store.

        Raises:
            TaskNotFound: no such task, or another owner's (the same error: ``who`` cannot
                tell them apart).
        """
        record = self._records.get(task_id)
        if record is not None:
            if not self.runtime.may_see(who, record.principal):
                raise TaskNotFound(task_id)
            return record
        stored = self.runtime.store.load(task_id, owner=self.runtime.visible_to(who))
        if stored is None:
            raise TaskNotFound(task_id)
        record = TaskRecord(
            stored.task,
            stored.agent,
            items=[stored.task],
            principal=stored.owner,
            endpoint=stored.endpoint,
        )
        record.done.set()
        return record

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
        record.runner = asyncio.get_running_loop().create_task(
            self._run(record, route, invocation, slot)
        )
        return record

    def _save(self, record: TaskRecord) -> None:
        self.runtime.store.save(
            record.task, agent=record.agent_name, owner=record.principal, endpoint=record.endpoint
        )

    async def _publish(self, record: TaskRecord, item: StreamItem) -> None:
        async with record.changed:
            record.items.append(item)
            record.changed.notify_all()

    async def _finish(self, record: TaskRecord) -> None:
        self._save(record)
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
                await self._publish(record, item)

        try:
            result = await self.runtime.settle(
                route,
                invocation,
                record.task,
                scope=record.scope,
                principal=record.principal,
                on_item=publish,
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

        Raises:
            TaskNotFound: no such task, or not one ``who`` may see.
            IllegalTransition: the task is not waiting for input (or was read back from the
                store after a restart, when its agent's state is gone).
            RateLimited: its owner runs as many tasks as it may.
        """
        record = self.get(task_id, who)
        previous = record.invocation
        if (
            record.task.state is not TaskState.INPUT_REQUIRED
            or previous is None
            or (record.route is None)
        ):
            raise IllegalTransition(record.task.state.value, TaskState.WORKING.value)
        slot = self.runtime.admit(record.principal)
        asked = (record.task.status_message,) if record.task.status_message else ()
        invocation = replace(
            previous,
            message=message,
            history=(*previous.history, previous.message, *asked),
        )
        record.invocation = invocation
        # Answered, it works again (an ACP caller polling an async resume sees it running).
        record.task = replace(
            record.task, state=TaskState.WORKING, history=(*record.task.history, *asked, message)
        )
        record.done = asyncio.Event()
        record.runner = asyncio.get_running_loop().create_task(
            self._run(record, record.route, invocation, slot)
        )
        return record

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
        return record

    async def close(self) -> None:
        """Stop every running task as the gateway stops; each is failed with a reason, not
        left half-written."""
        self.runtime.stopping = True
        for record in self._records.values():
            if record.runner is not None and not record.runner.done():
                record.runner.cancel()
        for record in self._records.values():
            if record.runner is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await record.runner
