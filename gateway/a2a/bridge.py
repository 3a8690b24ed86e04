"""The executor a2a-sdk's request handler runs for each message: the SDK's protobuf request ->
canonical invocation -> the runtime, and every canonical item the agent streams back as the
SDK's protobuf events, under the gateway's task and context ids.

When the agent behind is an A2A agent too (:class:`agents.remote.RemoteA2AAgent`, or one that
another gateway of the federation passes on as it was), what it said
reaches the caller as it was: a Message reply stays a Message (no task is made of it), its
task's states and status timestamps are passed on, and its first task snapshot is the
caller's task (under the gateway's ids). A caller that streams, or asks not to wait, is served
from the agent's own stream, so its status updates and artifact chunks pass as they come.
Every status of the gateway's own making carries a timestamp (the time it was handed on);
an A2A agent's statuses keep their own, or none, as the agent sent them.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Final, TypeVar, assert_never

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import a2a_pb2 as pb

from adapters import lifecycle
from adapters.a2a import proto
from adapters.a2a.calls import invocation_of
from adapters.a2a.events import PROGRESS_KEY
from adapters.a2a.tasks import TIMESTAMP_KEY
from adapters.errors import EffmeshError, Internal, InvalidParams
from adapters.model import (
    JSON,
    ArtifactEvent,
    Invocation,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent
from gateway.a2a.disconnect import CLIENT_GONE, until_gone
from gateway.a2a.tasks import AGENT, owner_of
from gateway.registry import Registry
from gateway.registry import Route as SkillRoute
from gateway.runtime import calls, conversations
from gateway.runtime.runner import Runtime, settled
from observability import boundary, tracing

STREAMING: Final = "effmesh.streaming"
"""Call-state key: the caller reads the answer as a stream (set where the binding tells)."""
_STREAMING_METHODS: Final = frozenset({"SendStreamingMessage", "message/stream"})


def passes_through(agent: Agent) -> bool:
    """Whether ``agent`` speaks A2A itself, so its answers are passed on as they were."""
    return agent.speaks == "a2a"


_Stamped = TypeVar("_Stamped", pb.Task, pb.TaskStatusUpdateEvent)


def _stamped(event: _Stamped) -> _Stamped:
    """``event`` with a status timestamp: the time it is handed on, when the agent gave none."""
    if not event.status.HasField("timestamp"):
        event.status.timestamp.GetCurrentTime()
    return event


def _continuing_task(context: RequestContext) -> bool:
    """Whether the message answers the caller's task that waits for input."""
    current = context.current_task
    return current is not None and current.status.state == pb.TASK_STATE_INPUT_REQUIRED


def _continuing(invocation: Invocation, current: pb.Task | None) -> Invocation:
    """A follow-up message to a task waiting for input carries on that task: the exchange so
    far (earlier messages and the agent's question) becomes the invocation's history."""
    if current is None or current.status.state != pb.TASK_STATE_INPUT_REQUIRED:
        return invocation
    new_id = invocation.message.message_id
    earlier = [m for m in current.history if m.message_id != new_id]
    if current.status.HasField("message"):
        earlier.append(current.status.message)
    history = tuple(proto.decode_message(m, "task.history") for m in earlier)
    return replace(invocation, history=(*invocation.history, *history))


class _Events:
    """What the SDK is told of one call's task, in order: the task first (once), then its
    status and artifact events, and nothing after the status that settles it."""

    def __init__(
        self,
        queue: EventQueue,
        task_id: str,
        context_id: str | None,
        message: pb.Message | None,
        *,
        begun: bool,
    ) -> None:
        self.queue = queue
        self.task_id = task_id
        self.context_id = context_id
        self.message = message
        self.begun = begun
        """The SDK has the task (the caller's follow-up to a task it holds counts)."""
        self.ended = False
        """A status that settles the task, or a message reply, was handed on."""
        self.sent: set[str] = set()
        self.passing = False
        """The agent speaks A2A: its statuses keep their own timestamps, or none."""
        self.streaming = False
        """The caller reads events as they come; one that waits gets the settled task's
        artifacts, each once (not the chunks an agent streamed on the way as well)."""

    def _ours(self, message: Message | None) -> Message | None:
        """An agent's message under the caller's task and context."""
        if message is None:
            return None
        return replace(message, task_id=self.task_id, context_id=self.context_id)

    async def _put(self, event: proto.Event, *, own: bool = False) -> None:
        """``own``: a status the gateway gives, not the agent."""
        if isinstance(event, pb.Task | pb.TaskStatusUpdateEvent) and (own or not self.passing):
            event = _stamped(event)
        await self.queue.enqueue_event(event)

    async def begin(self, snapshot: Task | None = None, *, kept: bool = True) -> None:
        """Hand the SDK the task: as submitted, or as the agent's first ``snapshot`` says.
        ``kept``: the caller's message goes into its history (not one that failed to decode)."""
        if self.begun:
            return
        self.begun = True
        task = pb.Task(id=self.task_id, status=pb.TaskStatus(state=pb.TASK_STATE_SUBMITTED))
        if snapshot is not None:
            ours = replace(
                snapshot,
                task_id=self.task_id,
                context_id=self.context_id,
                status_message=self._ours(snapshot.status_message),
                history=(),
            )
            task = proto.encode_task(ours)
            self.sent.update(a.artifact_id for a in snapshot.artifacts)
            self.ended = settled(snapshot.state)
        if self.context_id is not None:
            task.context_id = self.context_id
        if kept and self.message is not None:
            task.history.append(self.message)
        await self._put(task, own=snapshot is None)

    async def status(self, event: StatusEvent, *, own: bool = False) -> None:
        await self.begin()
        if self.ended:
            return
        self.ended = settled(event.state)
        await self._put(proto.encode_status_event(event), own=own)

    async def _artifacts(self, snapshot: Task) -> None:
        for artifact in snapshot.artifacts:
            if artifact.artifact_id not in self.sent:
                self.sent.add(artifact.artifact_id)
                event = ArtifactEvent(self.task_id, artifact, self.context_id, last_chunk=True)
                await self._put(proto.encode_event(event))

    async def item(self, item: StreamItem, snapshot: Task) -> None:
        """Hand on one item the agent streamed; ``snapshot``: the task after it."""
        if self.ended:
            return
        passing = self.passing
        if not (self.streaming or passing):
            if isinstance(item, ArtifactEvent):
                return
            if settled(snapshot.state):
                await self.begin()
                await self._artifacts(snapshot)
        match item:
            case Message() if passing and not self.begun:
                self.ended = True
                await self.queue.enqueue_event(proto.encode_message(self._ours(item) or item))
            case Task() if passing and not self.begun:
                await self.begin(item)
            case Task():
                await self.begin()
                await self._artifacts(item)
                stamp = item.metadata.get(TIMESTAMP_KEY)
                meta = {TIMESTAMP_KEY: stamp} if stamp is not None else {}
                message = self._ours(item.status_message)
                await self.status(
                    StatusEvent(self.task_id, item.state, self.context_id, message, meta)
                )
            case Message():
                message = self._ours(item)
                await self.status(
                    StatusEvent(self.task_id, TaskState.COMPLETED, self.context_id, message)
                )
            case StatusEvent():
                message = self._ours(item.message)
                await self.status(
                    StatusEvent(self.task_id, item.state, self.context_id, message, item.metadata)
                )
            case ArtifactEvent():
                await self.begin()
                # A2A appends only to an artifact it has seen; a peer's first chunk may say so.
                append = item.append and item.artifact.artifact_id in self.sent
                self.sent.add(item.artifact.artifact_id)
                event = ArtifactEvent(
                    self.task_id,
                    item.artifact,
                    self.context_id,
                    append,
                    item.last_chunk,
                    item.metadata,
                )
                await self._put(proto.encode_event(event))
            case ProgressEvent(token=token, progress=done, total=total, message=note):
                # A2A has no progress event: a working status of this task carries it.
                progress: dict[str, JSON] = {"progress": done, "token": token}
                if total is not None:
                    progress["total"] = total
                text = Message("agent", (TextPart(note),)) if note is not None else None
                meta = {**item.metadata, PROGRESS_KEY: progress}
                await self.status(
                    StatusEvent(
                        self.task_id, TaskState.WORKING, self.context_id, self._ours(text), meta
                    )
                )
            case _:
                assert_never(item)


def _streams(context: RequestContext) -> bool:
    """Whether the caller reads the answer as it comes: it streams, or asked not to wait."""
    state = context.call_context.state
    if state.get(STREAMING) or state.get("method") in _STREAMING_METHODS:
        return True
    config = context.configuration
    return config is not None and config.return_immediately


class Bridge(AgentExecutor):
    """Runs one effmesh agent for a2a-sdk's request handler, through the gateway's runtime.

    ``agent_name`` None: the gateway's own A2A agent, whose skills are every agent's skills,
    named ``<agent>.<skill>``. The SDK's request arrives and its events leave as protobuf,
    converted straight to and from canonical values (``adapters.a2a.proto``).
    """

    def __init__(self, registry: Registry, agent_name: str | None, runtime: Runtime) -> None:
        self.registry = registry
        self.agent_name = agent_name
        self.runtime = runtime

    def _default_skill(self, principal: str | None) -> str | None:
        """The skill a message that names none runs: the gateway's default skill (else its
        only one), or the addressed agent's only one; an A2A agent's first, as an A2A agent
        picks what to do from the message itself (each of its skills reaches one endpoint)."""
        if self.agent_name is None:
            routes = self.registry.routes(principal)
            only = routes[0].tool_name if len(routes) == 1 else None
            return self.registry.default or only
        agent = self.registry.agent(self.agent_name, principal)
        skills = agent.descriptor.skills
        if len(skills) == 1 or (skills and passes_through(agent)):
            return skills[0].name
        return None

    def _route(self, skill: str, principal: str | None) -> SkillRoute:
        if self.agent_name is None:
            return self.registry.route(skill, principal)
        return self.registry.route(f"{self.agent_name}.{skill}", principal)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or calls.new_task_id()
        context_id = context.context_id
        message = context.message
        call = context.call_context
        principal = owner_of(call)
        meta = context.metadata
        carrier = tracing.carrier_of(
            dict(message.metadata.items()) if message is not None else None
        ) or tracing.carrier_of(meta)
        events = _Events(
            event_queue, task_id, context_id, message, begun=context.current_task is not None
        )
        with boundary.request("a2a", "message", carrier) as req:
            req.task(task_id)
            decoded = False
            error: EffmeshError | None = None
            cause: Exception | None = None
            try:
                if message is None:
                    raise InvalidParams("is required", path="params.message")
                with boundary.translation("a2a", "canonical"):
                    canonical = proto.decode_message(message, "params.message")
                    decoded = True
                    invocation = invocation_of(
                        canonical,
                        meta,
                        skill=self._default_skill(principal),
                    )
                    invocation = _continuing(invocation, context.current_task)
                    events.streaming = _streams(context)
                    if events.streaming:
                        invocation = replace(invocation, mode="stream")
                route = self._route(invocation.skill, principal)
                req.routed(route.agent.descriptor.name, route.skill.name)
                # Stored with the task when the SDK first saves it (the event just below).
                call.state[AGENT] = route.tool_name
                events.passing = passes_through(route.agent)
                if not events.passing:
                    await events.begin()
                held = None
                if _continuing_task(context):
                    held = self._carry_on(route, task_id, principal)

                async def forward(item: StreamItem, snapshot: Task) -> None:
                    if isinstance(item, StatusEvent) and item.state is TaskState.FAILED:
                        req.outcome = "failed"
                    if snapshot.state in lifecycle.INTERRUPTED:
                        # Stored with the waiting task (``gateway.a2a.tasks``), for a
                        # follow-up that another replica, or this one restarted, receives.
                        call.state[conversations.KEY] = conversations.waiting(route.agent, task_id)
                        call.state[conversations.HELD] = self.runtime.held.holder(
                            route.agent, task_id
                        )
                    await events.item(item, snapshot)

                history = (invocation.message,)
                # Stopped when the blocking caller leaves, or when a cancel reaches this
                # replica from another one (``gateway.a2a.cluster``).
                stop = call.state.get(CLIENT_GONE)
                stop = stop if isinstance(stop, asyncio.Event) else asyncio.Event()
                self.runtime.cancellers[task_id] = stop.set
                try:
                    with self.runtime.admit(principal):
                        outcome = await until_gone(
                            stop,
                            self.runtime.settle(
                                route,
                                invocation,
                                Task(task_id, TaskState.SUBMITTED, context_id, history=history),
                                scope=calls.scope_for(principal),
                                principal=principal,
                                on_item=forward,
                                held=held,
                            ),
                        )
                finally:
                    self.runtime.cancellers.pop(task_id, None)
                if outcome is None:  # a blocking caller left, or a cancel came: cancelled
                    gone = StatusEvent(task_id, TaskState.CANCELED, context_id)
                    await events.status(gone, own=True)
                    return
                error = cause = outcome.error
            except EffmeshError as exc:
                error = cause = exc
            except Exception as exc:  # noqa: BLE001 - an agent's bug is a failed task, not a crash
                error, cause = Internal(), exc
            if error is not None and cause is not None:
                req.failed(cause)
                # A message that does not decode is not kept in the task's history.
                await events.begin(kept=decoded)
                text = Message("agent", (TextPart(error.public_message),))
                await events.status(
                    StatusEvent(task_id, TaskState.FAILED, context_id, text), own=True
                )

    def _carry_on(self, route: SkillRoute, task_id: str, principal: str | None) -> str | None:
        """Hand the agent back what it keeps for ``task_id``, from the store, when it does
        not hold it (the task waited on another replica, or before a restart), and the task
        is that agent's; the replica the stored task names as holding its call open."""
        if conversations.waiting(route.agent, task_id) is not None:
            return None
        stored = self.runtime.store.load(task_id, owner=self.runtime.visible_to(principal))
        if stored is None or stored.agent != route.tool_name:
            return None
        conversations.carry_on(route.agent, stored.task)
        return conversations.holder(stored.task)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        event = StatusEvent(task_id, TaskState.CANCELED, context.context_id)
        await event_queue.enqueue_event(_stamped(proto.encode_status_event(event)))
