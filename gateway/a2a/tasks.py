"""One A2A endpoint's tasks, kept in the gateway's task store: a2a-sdk's ``TaskStore``
interface (what its request handler reads and writes) over ``gateway.runtime.store``.

Each endpoint (``/a2a``, ``/a2a/<agent>``) sees only the tasks started through it. The
owner of a task is the principal the guard put in the call's state, and every read, listing
and delete goes through the runtime's owner filter (``Runtime.visible_to``): the SDK's
handler reads a task here before it answers GetTask, CancelTask, SubscribeToTask or a
follow-up message, so another owner's task is not found, exactly like an unknown id.

The SDK saves a task at every event of it. As for the runtime's other tasks, a task is
written to the store when it starts running here and whenever it settles (terminal, or
waiting for its caller); in between, its latest snapshot is held here: ``GetTask`` reads it,
and a listing writes it first. ``GetTask`` on another replica of a shared store reads the
stored task brought up to date with the events published since (``runner.caught_up``). A
process that dies under a running task leaves it written as running, to be failed at the
next start.

``ListTasks`` follows the SDK's own stores: filters by context, state and time, newest first,
at most 50 tasks a page (the SDK checks the size), a total, and an opaque cursor per page. The
time is the task's last write: the gateway's tasks carry no status timestamps to order by.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from a2a.server.context import ServerCallContext
from a2a.server.tasks import TaskStore as SdkTaskStore
from a2a.types import a2a_pb2 as pb
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError, UnsupportedOperationError
from a2a.utils.task import ListTasksCursor, decode_list_tasks_cursor, encode_list_tasks_cursor

from adapters import lifecycle
from adapters.a2a import proto
from adapters.a2a.tasks import STATES
from adapters.model import JSON, TaskState
from gateway.runtime import conversations
from gateway.runtime.runner import Runtime, caught_up
from gateway.runtime.store import RUNNING, TaskQuery, failed, owned
from gateway.security.guard import PRINCIPAL

AGENT: Final = "effmesh.agent"
"""Call-state key: the skill (``<agent>.<skill>``) a task runs, stored with it when the task
is first saved."""


def owner_of(context: ServerCallContext) -> str | None:
    owner = context.state.get(PRINCIPAL)
    return owner if isinstance(owner, str) else None


def _copy(task: pb.Task) -> pb.Task:
    # The SDK goes on changing the task it saved (and the one it read) in place.
    out = pb.Task()
    out.CopyFrom(task)
    return out


@dataclass
class _Running:
    """A task running here: its latest snapshot, and whether the store has it."""

    task: pb.Task
    agent: str
    owner: str | None
    written: bool


class EndpointTasks(SdkTaskStore):
    """The tasks of the A2A endpoint at ``endpoint``, which serves ``agent``. On the event
    loop of the gateway, like the store under it."""

    def __init__(self, runtime: Runtime, endpoint: str, agent: str) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.endpoint = endpoint
        self.agent = agent
        self._running: dict[str, _Running] = {}
        self._claimed: dict[str, pb.Task] = {}
        """Tasks a message here took (:meth:`claim`) that the SDK has not saved since, as
        they were before."""

    async def claim(self, task_id: str, context: ServerCallContext) -> None:
        """Take the task ``task_id`` for a message that names it, before the SDK runs it.

        With replicas sharing the store, two answers to one question may come at once, to
        two replicas: the store's compare-and-set gives a task waiting for input to exactly
        one (stored as working). Until the SDK saves it here, this request reads the task
        as it was, waiting (so the agent carries the exchange on); and the SDK's first save
        of it, the task still waiting with the message added, is not written (a late answer
        would take the task again): the next save, working, carries the message. One process
        alone: the SDK runs one request of a task at a time, and there is nothing to do.

        Raises:
            UnsupportedOperationError: another answer took the task first, or the task runs
                on another replica (it takes no message until it asks for one).
        """
        if not self.store.shared:
            return
        stored = self.store.load(task_id, owner=self.runtime.visible_to(owner_of(context)))
        if stored is None or stored.endpoint != self.endpoint:
            return  # the SDK says it is not found
        task = stored.task
        if task.state is TaskState.INPUT_REQUIRED:
            working = replace(task, state=TaskState.WORKING)
            if self.store.swap(working, was=stored.updated):
                self._claimed[task_id] = proto.encode_task(conversations.shown(task))
                return
        elif task.state not in RUNNING or task_id in self._running:
            return  # settled, or running here: the SDK's own rules apply
        raise UnsupportedOperationError(
            message=f"task {task_id!r} is not waiting for input: another answer came first,"
            " or it is running"
        )

    def _write(
        self,
        task: pb.Task,
        agent: str,
        owner: str | None,
        note: JSON = None,
        holder: str | None = None,
    ) -> None:
        """``note``: what the task's agent keeps for it while it waits for its caller;
        ``holder``: the replica that holds its call open meanwhile."""
        stored = conversations.kept(proto.decode_task(task), note)
        stored = conversations.held_by(stored, holder)
        self.store.save(stored, agent=agent, owner=owner, endpoint=self.endpoint)

    async def save(self, task: pb.Task, context: ServerCallContext) -> None:
        """Raises InvalidParams (from ``adapters.a2a.proto``) for a task with no known state."""
        running = self._running.get(task.id)
        claimed = self._claimed.pop(task.id, None)
        if claimed is not None and task.status.state == pb.TASK_STATE_INPUT_REQUIRED:
            return  # the message added to the task a claim took: the store has it working
        if proto.task_state(task.status.state) not in RUNNING:
            self._running.pop(task.id, None)
            agent, owner = (running.agent, running.owner) if running else self._who(context)
            waiting = proto.task_state(task.status.state) in lifecycle.INTERRUPTED
            holder = context.state.get(conversations.HELD)
            self._write(
                task,
                agent,
                owner,
                context.state.get(conversations.KEY) if waiting else None,
                holder if waiting and isinstance(holder, str) else None,
            )
        elif running is None:
            agent, owner = self._who(context)
            self._write(task, agent, owner)
            self._running[task.id] = _Running(_copy(task), agent, owner, written=True)
        else:
            running.task = _copy(task)
            running.written = False

    def _who(self, context: ServerCallContext) -> tuple[str, str | None]:
        agent = context.state.get(AGENT)
        return (agent if isinstance(agent, str) else self.agent), owner_of(context)

    async def get(self, task_id: str, context: ServerCallContext) -> pb.Task | None:
        wanted = self.runtime.visible_to(owner_of(context))
        claimed = self._claimed.get(task_id)
        if claimed is not None:
            return _copy(claimed)
        running = self._running.get(task_id)
        if running is not None:
            return _copy(running.task) if owned(running.owner, wanted) else None
        stored = self.store.load(task_id, owner=wanted)
        if stored is None or stored.endpoint != self.endpoint:
            return None
        task = conversations.shown(stored.task)
        if task.state in RUNNING and self.runtime.channel.shared:
            # Running on another replica: the store has it as it started, the channel has
            # every event since.
            task = caught_up(task, self.runtime.channel.log(task_id))
        return proto.encode_task(task)

    def _flush(self) -> None:
        for running in self._running.values():
            if not running.written:
                self._write(running.task, running.agent, running.owner)
                running.written = True

    async def list(
        self, params: pb.ListTasksRequest, context: ServerCallContext
    ) -> pb.ListTasksResponse:
        """Raises InvalidParamsError for a page token this store did not write."""
        self._flush()
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
                owner=self.runtime.visible_to(owner_of(context)),
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
            tasks=[proto.encode_task(conversations.shown(entry.task)) for entry in page.tasks],
            next_page_token=token,
            page_size=page_size,
            total_size=page.total,
        )

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        if await self.get(task_id, context) is not None:
            self._running.pop(task_id, None)
            self.store.delete(task_id, owner=self.runtime.visible_to(owner_of(context)))

    def fail_running(self, reason: str) -> int:
        """Fail the tasks still running here, with ``reason`` (the SDK's handler is closed:
        nothing will finish them); return how many."""
        for running in self._running.values():
            ended = failed(proto.decode_task(running.task), reason)
            self.store.save(ended, agent=running.agent, owner=running.owner, endpoint=self.endpoint)
        count = len(self._running)
        self._running.clear()
        return count
