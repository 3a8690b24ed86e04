"""The gateway as A2A agents, through a2a-sdk: one card, JSON-RPC and REST binding per agent.

The SDK owns the A2A lifecycle (task store, streaming, resubscribe, cancel); the executor
here is the thin bridge: the SDK's protobuf request -> A2A JSON -> canonical invocation ->
the agent, and every canonical item back the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    DefaultServerCallContextBuilder,
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount

from adapters import a2a
from adapters.errors import EffmeshError, Internal
from adapters.model import (
    AgentDescriptor,
    ArtifactEvent,
    Invocation,
    Message,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from gateway import calls
from gateway.registry import Registry, Route
from gateway.security import PRINCIPAL, principal_of

AGENT_CARD_PATH = "/.well-known/agent-card.json"


def _to_pb(item: Any) -> Any:
    """The protobuf event a2a-sdk's queue takes for one canonical stream item."""
    response = json_format.ParseDict(a2a.encode_stream_item(item), pb.StreamResponse())
    return getattr(response, response.WhichOneof("payload"))


def _for_sdk(
    item: StreamItem, task_id: str, context_id: str | None, sent: set[str]
) -> list[StreamItem]:
    """The item as the SDK's task manager wants it: under the SDK's task and context ids, and
    an outcome as its artifacts (those not streamed yet) followed by a final status."""
    match item:
        case Task():
            fresh: list[StreamItem] = [
                ArtifactEvent(task_id, a, context_id, last_chunk=True)
                for a in item.artifacts
                if a.artifact_id not in sent
            ]
            sent.update(a.artifact_id for a in item.artifacts)
            return [*fresh, StatusEvent(task_id, item.state, context_id, item.status_message)]
        case Message():
            return [StatusEvent(task_id, TaskState.COMPLETED, context_id, item)]
        case StatusEvent():
            return [StatusEvent(task_id, item.state, context_id, item.message, item.metadata)]
        case ArtifactEvent():
            # A2A appends only to an artifact it has seen; a peer's first chunk may say append.
            append = item.append and item.artifact.artifact_id in sent
            sent.add(item.artifact.artifact_id)
            return [
                ArtifactEvent(
                    task_id, item.artifact, context_id, append, item.last_chunk, item.metadata
                )
            ]
        case _:
            return [item]


def _continuing(invocation: Invocation, current: pb.Task | None) -> Invocation:
    """A follow-up message to a task waiting for input carries on that task: the exchange so
    far (earlier messages and the agent's question) becomes the invocation's history."""
    if current is None or current.status.state != pb.TASK_STATE_INPUT_REQUIRED:
        return invocation
    new_id = invocation.message.message_id
    earlier = [m for m in current.history if m.message_id != new_id]
    if current.status.HasField("message"):
        earlier.append(current.status.message)
    history = tuple(
        a2a.decode_message(json_format.MessageToDict(m), "task.history") for m in earlier
    )
    return replace(invocation, history=(*invocation.history, *history))


class Bridge(AgentExecutor):
    """Runs one effmesh agent for a2a-sdk's request handler.

    ``agent_name`` None: the gateway's own A2A agent, whose skills are every agent's skills,
    named ``<agent>.<skill>``.
    """

    def __init__(self, registry: Registry, agent_name: str | None) -> None:
        self.registry = registry
        self.agent_name = agent_name

    def _default_skill(self, principal: str | None) -> str | None:
        if self.agent_name is None:
            return None
        skills = self.registry.agent(self.agent_name, principal).descriptor.skills
        return skills[0].name if len(skills) == 1 else None

    def _route(self, skill: str, principal: str | None) -> Route:
        if self.agent_name is None:
            return self.registry.route(skill, principal)
        return self.registry.route(f"{self.agent_name}.{skill}", principal)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or calls.new_task_id()
        context_id = context.context_id
        message = context.message
        params = {
            "message": json_format.MessageToDict(message) if message else {},
            "metadata": context.metadata,
        }
        principal = context.call_context.state.get(PRINCIPAL)
        submitted = Task(task_id, TaskState.SUBMITTED, context_id)
        try:
            invocation = a2a.decode_invocation(params, skill=self._default_skill(principal))
            invocation = _continuing(invocation, context.current_task)
            if message is not None:
                submitted = a2a.decode_task(
                    a2a.encode_task(submitted) | {"history": [params["message"]]}
                )
            await event_queue.enqueue_event(_to_pb(submitted))
            route = self._route(invocation.skill, principal)
            sent: set[str] = set()
            async for item in calls.stream(route, invocation, task_id):
                for event in _for_sdk(item, task_id, context_id, sent):
                    await event_queue.enqueue_event(_to_pb(event))
        except EffmeshError as exc:
            await self._fail(event_queue, submitted, task_id, context_id, exc)
        except Exception:  # noqa: BLE001 - an agent's bug is a failed task, not a crash
            await self._fail(event_queue, submitted, task_id, context_id, Internal())

    async def _fail(
        self,
        queue: EventQueue,
        submitted: Task,
        task_id: str,
        context_id: str | None,
        exc: EffmeshError,
    ) -> None:
        # The SDK needs the task before any status update; sending it twice is harmless.
        await queue.enqueue_event(_to_pb(submitted))
        text = Message("agent", (TextPart(exc.public_message),))
        await queue.enqueue_event(_to_pb(StatusEvent(task_id, TaskState.FAILED, context_id, text)))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        event = StatusEvent(task_id, TaskState.CANCELED, context.context_id)
        await event_queue.enqueue_event(_to_pb(event))


class _ContextBuilder(DefaultServerCallContextBuilder):
    """Carries the caller's principal (set by the guard) into the SDK's call context."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[PRINCIPAL] = principal_of(request.scope)
        return context


def gateway_descriptor(registry: Registry) -> AgentDescriptor:
    """The gateway as one A2A agent: every agent's skills, named ``<agent>.<skill>``."""
    skills = tuple(replace(r.skill, name=r.tool_name) for r in registry.routes())
    return AgentDescriptor("effmesh", skills, "Every agent of this effmesh gateway.", "0.1.0")


def card_for(descriptor: AgentDescriptor, url: str) -> pb.AgentCard:
    wire = a2a.encode_agent(descriptor, url=url)
    card = pb.AgentCard()
    json_format.ParseDict(wire, card)
    del card.supported_interfaces[:]
    card.supported_interfaces.extend(
        [
            pb.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            pb.AgentInterface(
                url=f"{url}/rest", protocol_binding="HTTP+JSON", protocol_version="1.0"
            ),
        ]
    )
    card.capabilities.streaming = True
    card.description = card.description or f"{descriptor.name}, through effmesh"
    card.version = card.version or "1.0"
    if not card.default_input_modes:
        card.default_input_modes.extend(["text/plain", "application/json"])
    if not card.default_output_modes:
        card.default_output_modes.extend(["text/plain", "application/json"])
    return card


def _agent_routes(
    registry: Registry, agent_name: str | None, card: pb.AgentCard, prefix: str, card_url: str
) -> list[BaseRoute]:
    handler = DefaultRequestHandler(
        agent_executor=Bridge(registry, agent_name),
        task_store=InMemoryTaskStore(),
        agent_card=card,
    )
    builder = _ContextBuilder()
    out: list[BaseRoute] = list(create_agent_card_routes(card, card_url=card_url))
    out += create_jsonrpc_routes(handler, rpc_url=prefix, context_builder=builder)
    # The SDK's REST routes end in a tenant catch-all: keep it inside this agent's mount.
    out.append(Mount(f"{prefix}/rest", routes=create_rest_routes(handler, context_builder=builder)))
    return out


def routes(registry: Registry, base_url: str) -> list[BaseRoute]:
    """A card, JSON-RPC and REST for the gateway (``/a2a``, card at the well-known path) and
    for each agent with skills (``/a2a/<agent>``)."""
    gateway = gateway_descriptor(registry)
    out = _agent_routes(
        registry, None, card_for(gateway, f"{base_url}/a2a"), "/a2a", AGENT_CARD_PATH
    )
    for agent in registry.agents():
        if not agent.descriptor.skills:
            continue  # an agent that is down has no card until it is back
        name = agent.descriptor.name
        prefix = f"/a2a/{name}"
        card = card_for(agent.descriptor, f"{base_url}{prefix}")
        out += _agent_routes(registry, name, card, prefix, f"{prefix}{AGENT_CARD_PATH}")
    return out
