"""One task runtime: every call of every protocol runs to its settled outcome here, under one
timeout, and its task lives in one store.

A call settles when its task reaches a terminal state or waits for its caller (input- or
auth-required). :func:`settle` is the one loop that gets it there:

- each item the agent streams is folded into the task snapshot (:func:`apply`); a direct
  message answer completes the task with the message as its status;
- a move the lifecycle forbids, an error the agent raises on purpose (an ``EffmeshError``), a
  stream that ends unsettled and the timeout (``the agent timed out``) each fail the task
  with a reason a caller may read;
- cancellation propagates, and so does any other exception (an agent's bug), for the
  caller's top-level handler; :meth:`Runtime.interrupted` says what a cancelled task became
  (canceled, or failed with a reason when the gateway is stopping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from adapters import lifecycle
from adapters.errors import EffmeshError, IllegalTransition, Internal, RateLimited, Timeout
from adapters.model import (
    ArtifactEvent,
    Invocation,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
)
from agents.base import NOBODY
from gateway.registry import Route
from gateway.runtime import calls
from gateway.runtime.channel import Channel, channel_for
from gateway.runtime.held import HeldCalls
from gateway.runtime.store import (
    LOST_REASON,
    RESTART_REASON,
    MemoryTaskStore,
    OwnerFilter,
    TaskStore,
    failed,
    owned,
    visible_to,
)

log = logging.getLogger(__name__)

STOPPED_REASON: Final = "the gateway stopped while the task was running"
SAVE_RUNNING_AFTER: Final = 0.05
"""Seconds a call stored by :meth:`Runtime.run` runs before it is saved as running; one that
settles sooner is saved once, settled (a store write costs about as much as a local call)."""
TIMED_OUT: Final = "the agent timed out"
UNSETTLED: Final = "the agent ended without a result"

OnItem = Callable[[StreamItem, Task], Awaitable[None]]
"""Called with each item the agent streams and the snapshot after it (before the next item is
read); an error it raises fails the call like the agent's own."""


def settled(state: TaskState) -> bool:
    """Whether a task in ``state`` is done for now: terminal, or waiting for its caller."""
    return lifecycle.is_terminal(state) or state in lifecycle.INTERRUPTED


def apply(task: Task, item: StreamItem) -> Task:
    """The snapshot after ``item``.

    Raises:
        IllegalTransition: the item moves the task where the lifecycle forbids.
    """
    match item:
        case StatusEvent(state=state, message=message):
            if state is not task.state:
                lifecycle.check_transition(task.state, state)
            return replace(task, state=state, status_message=message or task.status_message)
        case ArtifactEvent(artifact=artifact, append=append):
            kept = tuple(a for a in task.artifacts if a.artifact_id != artifact.artifact_id)
            earlier = next(
                (a for a in task.artifacts if a.artifact_id == artifact.artifact_id), None
            )
            if append and earlier is not None:
                # A chunk adds to what came before it (A2A ``append``, ACP message parts).
                artifact = replace(earlier, parts=(*earlier.parts, *artifact.parts))
            return replace(task, artifacts=(*kept, artifact))
        case Task():
            if item.state is not task.state:
                lifecycle.check_transition(task.state, item.state)
            # A snapshot without artifacts or history (an ACP run's) keeps the task's own.
            return replace(
                item,
                task_id=task.task_id,
                context_id=task.context_id,
                artifacts=item.artifacts or task.artifacts,
                history=item.history or task.history,
            )
        case Message():
            lifecycle.check_transition(task.state, TaskState.COMPLETED)
            return replace(task, state=TaskState.COMPLETED, status_message=item)
        case ProgressEvent():
            return task


def caught_up(task: Task, log: Sequence[StreamItem]) -> Task:
    """``task``, a running task as last stored, brought up to what its runner has published
    of it since (``log``: its items on the channel): its state and message, its artifacts.
    A running task is stored when it starts and when it settles; between the two, the log
    is where another replica reads how it is doing. Items up to the last settled snapshot
    are of earlier rounds: the store, saying running, has the task as resumed since (a
    task is stored as it settles before its settled snapshot is published, so one read
    as running and then published settled is read settled at the next look). An item the
    lifecycle refuses after the stored state is one the snapshot already holds."""
    start = 0
    for n, item in enumerate(log):
        if isinstance(item, Task) and settled(item.state):
            start = n + 1
    for item in log[start:]:
        with contextlib.suppress(IllegalTransition):
            task = apply(task, item)
    return task


@dataclass(frozen=True, slots=True)
class Settled:
    """How a call ended."""

    task: Task
    """The last snapshot: terminal or interrupted (failed with the reason when ``error``)."""
    message: Message | None = None
    """The agent's direct answer, when it answered with a message."""
    error: EffmeshError | None = None
    """Why the call failed when the agent did not say so itself: its error, an illegal move,
    the timeout, or an unsettled end. Its ``public_message`` is the failed task's status."""

    @property
    def outcome(self) -> Task | Message:
        """What a protocol that can answer with a message returns."""
        return self.message if self.message is not None else self.task


async def settle(
    route: Route,
    invocation: Invocation,
    task: Task,
    *,
    timeout: float,
    scope: str,
    principal: str | object | None = calls.UNKNOWN,
    on_item: OnItem | None = None,
    items: AsyncGenerator[StreamItem] | None = None,
) -> Settled:
    """Run ``invocation`` on ``route`` as ``task`` (its snapshot so far) until it settles or
    ``timeout`` seconds pass; the agent's stream is closed either way. ``items``: the
    agent's stream when it runs elsewhere (default: the agent run here).

    Raises:
        asyncio.CancelledError: the call was cancelled.
        Exception: not an ``EffmeshError``: the agent (or ``on_item``) has a bug.
    """
    message: Message | None = None
    error: EffmeshError | None = None
    if items is None:
        items = calls.stream(route, invocation, task.task_id, scope=scope, principal=principal)
    try:
        async with asyncio.timeout(timeout), contextlib.aclosing(items):
            async for item in items:
                task = apply(task, item)
                if isinstance(item, Message):
                    message = item
                if on_item is not None:
                    await on_item(item, task)
                if settled(task.state):
                    break
        if not settled(task.state):
            error = Internal(UNSETTLED)
    except TimeoutError:
        error = Timeout(TIMED_OUT)
    except EffmeshError as exc:
        error = exc
    if error is not None:
        return Settled(failed(task, error.public_message), None, error)
    return Settled(task, message)


class Slot:
    """One running task counted against its owner's cap; released once (when it settles)."""

    def __init__(self, counts: dict[str | None, int], owner: str | None) -> None:
        self._counts = counts
        self._owner = owner
        self._held = True
        counts[owner] = counts.get(owner, 0) + 1

    def release(self) -> None:
        if self._held:
            self._held = False
            self._counts[self._owner] -= 1
            if not self._counts[self._owner]:
                del self._counts[self._owner]

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Runtime:
    """The gateway's task runtime: the store every protocol's tasks live in, the one call
    timeout (the configured ``call_timeout_seconds``), who may see whose tasks, and how many
    tasks each owner may run at once. One per gateway, on its event loop."""

    def __init__(
        self,
        store: TaskStore | None = None,
        *,
        timeout: float = 60.0,
        save_running_after: float = SAVE_RUNNING_AFTER,
        operators: frozenset[str] = frozenset(),
        max_running_per_owner: int | None = None,
        channel: Channel | None = None,
    ) -> None:
        """``operators``: token names that see and manage every owner's tasks.
        ``max_running_per_owner``: tasks one owner may run at once (None: no cap).
        ``channel``: how replicas sharing ``store`` hear of each other's tasks (default:
        the one for the store; none for a store of this process alone)."""
        self.store: TaskStore = store or MemoryTaskStore()
        self.channel: Channel = channel or channel_for(self.store)
        self.cancellers: dict[str, Callable[[], object]] = {}
        """How to cancel each task running in this process, by task id: what a cancel sent
        to another replica reaches here through the channel."""
        self.timeout = timeout
        self.save_running_after = save_running_after
        self.operators = operators
        self.max_running_per_owner = max_running_per_owner
        self.stopping = False
        """Set as the gateway stops: a call cancelled from then on fails with a reason."""
        self.held = HeldCalls(self.channel, self.store)
        """Answers to tasks whose call another replica holds open, carried on there."""
        self._running: dict[str | None, int] = {}

    def visible_to(self, principal: str | None) -> OwnerFilter:
        """The owner filter every read, list, cancel, resume and delete of ``principal`` goes
        through: its own tasks, or every task for an operator."""
        return visible_to(principal, self.operators)

    def may_see(self, principal: str | None, owner: str | None) -> bool:
        """Whether ``principal`` may see (and manage) a task of ``owner``."""
        return owned(owner, self.visible_to(principal))

    def running(self, owner: str | None) -> int:
        """How many tasks ``owner`` runs now."""
        return self._running.get(owner, 0)

    def admit(self, owner: str | None) -> Slot:
        """Count a task ``owner`` starts; release the slot when it settles.

        Raises:
            RateLimited: ``owner`` already runs ``max_running_per_owner`` tasks.
        """
        cap = self.max_running_per_owner
        if cap is not None and self.running(owner) >= cap:
            raise RateLimited(f"at most {cap} running tasks per caller")
        return Slot(self._running, owner)

    def start(self) -> int:
        """Fail the tasks a previous process left running; return how many."""
        return self.store.fail_unfinished(RESTART_REASON)

    def cancel_here(self, task_id: str) -> None:
        """Cancel ``task_id`` if it runs in this process."""
        cancel = self.cancellers.get(task_id)
        if cancel is not None:
            cancel()

    @contextlib.asynccontextmanager
    async def serving(self, heartbeat: float) -> AsyncIterator[None]:
        """While the gateway serves: listen to the other replicas (cancels of tasks running
        here), and with a shared store, every ``heartbeat`` seconds renew the leases of the
        tasks running here and fail those of replicas that stopped renewing theirs."""
        await self.channel.start(self.cancel_here)
        beating = (
            asyncio.get_running_loop().create_task(self._beat(heartbeat))
            if self.store.shared
            else None
        )
        try:
            yield
        finally:
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
            await self.channel.close()

    async def _beat(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                self.store.renew()
                self.store.fail_expired(LOST_REASON)
            except Exception:  # the database may be back at the next beat
                log.warning("task leases: the store did not answer", exc_info=True)

    def close(self) -> None:
        """Close the store, once every task's runner has stored how it ended."""
        self.stopping = True
        self.store.close()

    def interrupted(self, task: Task) -> Task:
        """What ``task`` became when its call was cancelled."""
        if self.stopping:
            return failed(task, STOPPED_REASON)
        return replace(task, state=TaskState.CANCELED)

    async def settle(
        self,
        route: Route,
        invocation: Invocation,
        task: Task,
        *,
        scope: str,
        principal: str | object | None = calls.UNKNOWN,
        on_item: OnItem | None = None,
        held: str | None = None,
    ) -> Settled:
        """:func:`settle` under this runtime's timeout; the caller stores the task.
        ``held``: the replica the stored task names as holding its call open (the task
        answers its question): the agent's part is carried on there, unless here
        (:mod:`gateway.runtime.held`)."""
        items = None
        if held is not None and not self.held.here(route.agent, task.task_id, held):
            who = principal if isinstance(principal, str) else None
            items = self.held.stream(held, route, invocation, task.task_id, who=who)
        return await settle(
            route,
            invocation,
            task,
            timeout=self.timeout,
            scope=scope,
            principal=principal,
            on_item=on_item,
            items=items,
        )

    async def delegate(
        self,
        route: Route,
        invocation: Invocation,
        *,
        via: str,
        principal: str | None,
        scope: str,
    ) -> Settled:
        """A call that the agent ``via`` makes for its caller ``principal`` (a specialist's
        tool call, a router's subtask): stored as a task of that caller (none for no one),
        started through ``agent/<via>``, in the caller's memory ``scope``."""
        return await self.run(
            route,
            invocation,
            owner=None if principal == NOBODY else principal,
            endpoint=f"agent/{via}",
            scope=scope,
            principal=principal,
        )

    async def run(
        self,
        route: Route,
        invocation: Invocation,
        *,
        owner: str | None,
        endpoint: str,
        scope: str | None = None,
        principal: str | object | None = calls.UNKNOWN,
        on_item: OnItem | None = None,
        answering: Task | None = None,
    ) -> Settled:
        """Run ``invocation`` as a new stored task of ``owner``, started through ``endpoint``
        (``answering``: the task of ``owner``'s paused for the input it gives, carried on):
        saved once it settles or ends otherwise, and as running if it runs longer than
        ``save_running_after`` (so a process that dies under a long call leaves it to be
        failed at start-up). ``scope`` defaults to the owner's memory scope.

        ``answering``: the task, waiting for input, whose question ``invocation`` answers: the
        call carries on as that task (same id), so an agent that keeps its own side of the
        conversation by the gateway's task id (a remote A2A agent) finds the task that asked.

        Raises:
            RateLimited: ``owner`` runs as many tasks as it may (nothing is stored).
            asyncio.CancelledError: the call was cancelled (its task is stored as such).
            Exception: as :func:`settle` (the task is stored failed, with a generic reason).
        """
        message = invocation.message
        if answering is None:
            current = Task(
                calls.new_task_id(), TaskState.SUBMITTED, message.context_id, history=(message,)
            )
        else:
            asked = (answering.status_message,) if answering.status_message else ()
            # Answered, its question moves into the history.
            current = replace(
                answering,
                state=TaskState.WORKING,
                status_message=None,
                history=(*answering.history, *asked, message),
            )
        agent = route.tool_name

        def save(task: Task) -> None:
            self.store.save(task, agent=agent, owner=owner, endpoint=endpoint)

        async def track(item: StreamItem, snapshot: Task) -> None:
            nonlocal current
            current = snapshot
            if on_item is not None:
                await on_item(item, snapshot)

        slot = self.admit(owner)
        running = asyncio.get_running_loop().call_later(
            self.save_running_after, lambda: save(current)
        )
        try:
            result = await self.settle(
                route,
                invocation,
                current,
                scope=calls.scope_for(owner) if scope is None else scope,
                principal=principal,
                on_item=track,
            )
        except asyncio.CancelledError:
            running.cancel()
            save(self.interrupted(current))
            raise
        except Exception:
            running.cancel()
            save(failed(current, Internal().public_message))
            raise
        finally:
            slot.release()
        running.cancel()
        save(result.task)
        return result
