"""Everything the console reads of the task runtime, in one module: which tasks a caller may
see, each task's summary and routing events, and the calls the console runs as its caller.

The runtime tells no one when a task starts or settles; its store hears of both (the
manager saves a task when it starts and when it settles), so :func:`watch` puts a
:class:`WatchedStore` in front of the manager's store and every save reaches the
:class:`TaskFeed`. In between, a task's record streams its states and the router's events
(``TaskRecord.follow``).

With replicas sharing the store, the other replicas' tasks are in the store, not in this
one's saves: while a console listens, the feed reads the tasks saved since it last looked
every :data:`FOLLOW_SECONDS` (and the newest :data:`RECENT` as the first console connects),
and a task of another replica is then followed as any other (``TaskManager.get`` mirrors one
that runs elsewhere through the channel). A gateway with no console open reads nothing.

Who sees what: a caller sees the tasks it started; an operator (``[gateway] operators``) and
every caller of a gateway without tokens see them all, as the protocol endpoints decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from adapters import lifecycle
from adapters.errors import TaskNotFound
from adapters.model import DataPart, Invocation, StatusEvent, StreamItem, Task, TaskState
from gateway.registry import Route
from gateway.routing.agent import EVENT_KEY
from gateway.runtime import calls
from gateway.runtime.runner import settle
from gateway.runtime.store import (
    ANYONE,
    LOST_REASON,
    RESTART_REASON,
    OwnerFilter,
    StoredTask,
    TaskPage,
    TaskQuery,
    TaskStore,
)
from gateway.runtime.tasks import TaskManager, TaskRecord, result_text, text_of

__all__ = [
    "RECENT",
    "Seen",
    "TaskFeed",
    "TaskNotFound",
    "TaskRecord",
    "WatchedStore",
    "follow",
    "routing_event",
    "run_as",
    "summary",
    "text_of",
    "watch",
]

log = logging.getLogger(__name__)
RECENT: Final = 200
"""Tasks the console lists: the newest this many since the gateway started."""
FOLLOW_SECONDS: Final = 1.0
"""With replicas: how often a console's feed reads the tasks other replicas saved."""
OVERLAP_NS: Final = 2_000_000_000
"""How far back each read reaches past the previous one: replicas' clocks differ a little,
and a task heard of twice is only refreshed."""
SNIPPET_CHARS: Final = 200
RESULT_CHARS: Final = 4000


@dataclass(frozen=True, slots=True)
class Seen:
    """A task as the feed first heard of it."""

    task_id: str
    owner: str | None
    """The principal that started it (None: the gateway uses no tokens, or it is unknown)."""
    started: float
    """Unix seconds."""


class WatchedStore:
    """The runtime's store, unchanged, telling the feed of every save."""

    def __init__(self, inner: TaskStore, feed: TaskFeed) -> None:
        self.inner = inner
        self.feed = feed

    @property
    def replica(self) -> str:
        return self.inner.replica

    def save(self, task: Task, *, agent: str, owner: str | None, endpoint: str) -> None:
        self.inner.save(task, agent=agent, owner=owner, endpoint=endpoint)
        self.feed.saved(task, owner)

    def swap(self, task: Task, *, was: int) -> bool:
        swapped = self.inner.swap(task, was=was)
        if swapped:
            self.feed.saved(task, None)
        return swapped

    def load(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> StoredTask | None:
        return self.inner.load(task_id, owner=owner)

    def list(self, query: TaskQuery) -> TaskPage:
        return self.inner.list(query)

    def delete(self, task_id: str, *, owner: OwnerFilter = ANYONE) -> None:
        self.inner.delete(task_id, owner=owner)

    def prune(self, now: int | None = None) -> int:
        return self.inner.prune(now)

    def fail_unfinished(self, reason: str = RESTART_REASON) -> int:
        return self.inner.fail_unfinished(reason)

    @property
    def shared(self) -> bool:
        return self.inner.shared

    def renew(self) -> int:
        return self.inner.renew()

    def fail_expired(self, reason: str = LOST_REASON, now: int | None = None) -> int:
        return self.inner.fail_expired(reason, now)

    def close(self) -> None:
        self.inner.close()


class TaskFeed:
    """The newest tasks with their owners, and the consoles listening for saves. Lives on the
    gateway's event loop."""

    def __init__(self, tasks: TaskManager, operators: Collection[str]) -> None:
        self.tasks = tasks
        self.operators = frozenset(operators)
        self._recent: OrderedDict[str, Seen] = OrderedDict()
        self._listeners: set[asyncio.Queue[str]] = set()
        self._replicas: asyncio.Task[None] | None = None

    def saved(self, task: Task, owner: str | None, when: float | None = None) -> None:
        """Called on every save; must not fail (the runtime is saving its task). ``when``:
        when it was saved, Unix seconds (default: now)."""
        task_id = task.task_id
        if task_id not in self._recent:
            self._recent[task_id] = Seen(task_id, owner, time.time() if when is None else when)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        for queue in self._listeners:
            queue.put_nowait(task_id)

    def _live(self, task_id: str, principal: str | None) -> TaskRecord | None:
        """The task's record if ``principal`` may see it (the runtime's one rule decides)."""
        with contextlib.suppress(TaskNotFound):
            return self.tasks.get(task_id, principal)
        return None

    @contextlib.contextmanager
    def listen(self) -> Iterator[asyncio.Queue[str]]:
        """A queue of the ids of tasks saved from now on, until the block ends."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        store = self.tasks.runtime.store
        if store.shared and self._replicas is None:
            self._heard(store.list(TaskQuery(limit=RECENT)).tasks)
            self._replicas = asyncio.get_running_loop().create_task(self._follow_replicas())
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)
            if not self._listeners and self._replicas is not None:
                self._replicas.cancel()
                self._replicas = None

    def _heard(self, saved: Sequence[StoredTask]) -> None:
        """Tasks read from a shared store (newest first), as if saved here."""
        for entry in reversed(saved):
            self.saved(entry.task, entry.owner, entry.updated / 1e9)

    async def _follow_replicas(self) -> None:
        store = self.tasks.runtime.store
        since = time.time_ns()
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            now = time.time_ns()
            try:
                fresh = store.list(TaskQuery(updated_since=since - OVERLAP_NS, limit=RECENT))
            except Exception:  # the database may be back at the next read
                log.warning("console: the task store did not answer", exc_info=True)
                continue
            self._heard(fresh.tasks)
            since = now

    def sees_all(self, principal: str | None) -> bool:
        """Whether ``principal`` sees every caller's tasks (None: the gateway has no tokens)."""
        return principal is None or principal in self.operators

    def visible(self, principal: str | None) -> list[tuple[Seen, TaskRecord]]:
        """The recent tasks ``principal`` may see, oldest first."""
        out = []
        for seen in list(self._recent.values()):
            record = self._live(seen.task_id, principal)
            if record is not None:
                out.append((seen, record))
        return out

    def find(self, task_id: str, principal: str | None) -> tuple[Seen, TaskRecord]:
        """The task ``task_id`` if ``principal`` may see it.

        Raises:
            TaskNotFound: no such task, or another caller's (the same answer for both).
        """
        record = self._live(task_id, principal)
        if record is None:
            raise TaskNotFound(task_id)
        seen = self._recent.get(task_id) or Seen(task_id, record.principal, 0.0)
        return seen, record


def watch(tasks: TaskManager, operators: Collection[str]) -> TaskFeed:
    """A feed of the runtime's saves (every protocol's tasks): its store is wrapped once, here."""
    feed = TaskFeed(tasks, operators)
    tasks.runtime.store = WatchedStore(tasks.runtime.store, feed)
    return feed


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(seen: Seen, record: TaskRecord) -> dict[str, Any]:
    """What the tasks list shows of one task."""
    task = record.task
    # What was asked: the live record keeps the invocation (an agent's final snapshot may
    # carry no history); a task read back from the store has only its history.
    if record.invocation is not None:
        asked = text_of(record.invocation.message.parts)
    else:
        asked = text_of(task.history[0].parts) if task.history else ""
    status = text_of(task.status_message.parts) if task.status_message is not None else ""
    settled = lifecycle.is_terminal(task.state) or task.state in lifecycle.INTERRUPTED
    return {
        "id": task.task_id,
        "skill": record.agent_name,
        "state": task.state.value,
        "owner": seen.owner,
        "started": seen.started,
        "input": _cut(" ".join(asked.split()), SNIPPET_CHARS),
        "status": _cut(status, SNIPPET_CHARS),
        "result": _cut(result_text(task), RESULT_CHARS) if settled else None,
    }


def routing_event(item: StreamItem) -> dict[str, Any] | None:
    """The router's event a stream item carries (plan, subtask started or finished), if any."""
    if not isinstance(item, StatusEvent) or EVENT_KEY not in item.metadata:
        return None
    if item.message is None:
        return None
    for part in item.message.parts:
        if isinstance(part, DataPart) and isinstance(part.data, dict) and "event" in part.data:
            return part.data
    return None


def follow(record: TaskRecord, start: int) -> AsyncIterator[StreamItem]:
    """The task's items from ``start`` on, then new ones, until it settles."""
    return record.follow(start)


async def run_as(
    route: Route, invocation: Invocation, principal: str | None, *, timeout: float
) -> Task:
    """Run ``invocation`` to its end as ``principal`` (its memory scope bound by the gateway),
    without listing it as a task: the console's own reads (a memory search)."""
    task = Task(calls.new_task_id(), TaskState.SUBMITTED)
    settled = await settle(
        route,
        invocation,
        task,
        timeout=timeout,
        scope=calls.scope_for(principal),
        principal=principal,
    )
    return settled.task
