"""One A2A endpoint's tasks, kept in the gateway's task store: a2a-sdk's ``TaskStore``
interface (what its request handler reads and writes) over ``gateway.runtime.store``.

Each endpoint (``/a2a``, ``/a2a/<agent>``) sees only the tasks started through it. The
owner of a task is the principal the guard put in the call's state. ``ListTasks`` follows
the SDK's own stores: filters by context, state and time, newest first, at most 50 tasks a
page (the SDK checks the size), a total, and an opaque cursor per page. The time is the task's
last change in the store: the gateway's tasks carry no status timestamps to order them by.
"""

from __future__ import annotations

from typing import Final

from a2a.server.context import ServerCallContext
from a2a.server.tasks import TaskStore as SdkTaskStore
from a2a.types import a2a_pb2 as pb
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError
from a2a.utils.task import ListTasksCursor, decode_list_tasks_cursor, encode_list_tasks_cursor

from adapters.a2a import proto
from adapters.a2a.tasks import STATES
from gateway.runtime.store import ANYONE, RUNNING, TaskQuery, TaskStore, failed
from gateway.security.guard import PRINCIPAL

AGENT: Final = "effmesh.agent"
"""Call-state key: the skill (``<agent>.<skill>``) a task runs, stored with it when the task
is first saved."""


def owner_of(context: ServerCallContext) -> str | None:
    owner = context.state.get(PRINCIPAL)
    return owner if isinstance(owner, str) else None


class EndpointTasks(SdkTaskStore):
    """The tasks of the A2A endpoint at ``endpoint``, which serves ``agent``."""

    def __init__(self, store: TaskStore, endpoint: str, agent: str) -> None:
        self.store = store
        self.endpoint = endpoint
        self.agent = agent
        self._running: set[str] = set()
        """Tasks this process saved as running and has not seen settle."""

    async def save(self, task: pb.Task, context: ServerCallContext) -> None:
        agent = context.state.get(AGENT)
        canonical = proto.decode_task(task)
        self.store.save(
            canonical,
            agent=agent if isinstance(agent, str) else self.agent,
            owner=owner_of(context),
            endpoint=self.endpoint,
        )
        if canonical.state in RUNNING:
            self._running.add(canonical.task_id)
        else:
            self._running.discard(canonical.task_id)

    def fail_running(self, reason: str) -> int:
        """Fail the tasks this process left running (the SDK's handler is closed: nothing will
        finish them), with ``reason``; return how many."""
        count = 0
        for task_id in sorted(self._running):
            stored = self.store.load(task_id)
            if stored is not None and stored.task.state in RUNNING:
                ended = failed(stored.task, reason)
                self.store.save(
                    ended, agent=stored.agent, owner=stored.owner, endpoint=self.endpoint
                )
                count += 1
        self._running.clear()
        return count

    async def get(self, task_id: str, context: ServerCallContext) -> pb.Task | None:
        stored = self.store.load(task_id, owner=ANYONE)
        if stored is None or stored.endpoint != self.endpoint:
            return None
        return proto.encode_task(stored.task)

    async def list(
        self, params: pb.ListTasksRequest, context: ServerCallContext
    ) -> pb.ListTasksResponse:
        """Raises InvalidParamsError for a page token this store did not write."""
        after = None
        if params.page_token:
            cursor = decode_list_tasks_cursor(params.page_token)
            if cursor is None:
                raise InvalidParamsError(f"Invalid page token: {params.page_token}")
            # Every stored task has a time, so none sorts after a position without one.
            after = (cursor.timestamp_ns if cursor.timestamp_ns is not None else -1, cursor.task_id)
        page_size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        since = params.status_timestamp_after if params.HasField("status_timestamp_after") else None
        page = self.store.list(
            TaskQuery(
                endpoint=self.endpoint,
                owner=ANYONE,
                context_id=params.context_id or None,
                state=STATES.get(pb.TaskState.Name(params.status)) if params.status else None,
                updated_since=since.ToNanoseconds() if since is not None else None,
                after=after,
                limit=page_size,
            )
        )
        last = page.tasks[-1] if page.tasks else None
        token = (
            encode_list_tasks_cursor(ListTasksCursor(last.updated, last.task.task_id))
            if page.more and last is not None
            else None
        )
        return pb.ListTasksResponse(
            tasks=[proto.encode_task(entry.task) for entry in page.tasks],
            next_page_token=token,
            page_size=page_size,
            total_size=page.total,
        )

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        if await self.get(task_id, context) is not None:
            self.store.delete(task_id)
