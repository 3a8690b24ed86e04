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
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from adapters import a2a
from adapters.errors import EffmeshError, Internal, NotFound, quote
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
from gateway.a2a import envelope
from gateway.bodies import CheckedBodies
from gateway.errors import http_error
from gateway.registry import Registry
from gateway.registry import Route as SkillRoute
from gateway.runtime import calls
from gateway.security.guard import PRINCIPAL, principal_of
from observability import boundary, tracing

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
            return self.registry.default
        skills = self.registry.agent(self.agent_name, principal).descriptor.skills
        return skills[0].name if len(skills) == 1 else None

    def _route(self, skill: str, principal: str | None) -> SkillRoute:
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
        meta = params["message"].get("metadata") if isinstance(params["message"], dict) else None
        carrier = tracing.carrier_of(meta) or tracing.carrier_of(context.metadata)
        with boundary.request("a2a", "message", carrier) as req:
            req.task(task_id)
            try:
                with boundary.translation("a2a", "canonical"):
                    invocation = a2a.decode_invocation(params, skill=self._default_skill(principal))
                    invocation = _continuing(invocation, context.current_task)
                    if message is not None:
                        submitted = a2a.decode_task(
                            a2a.encode_task(submitted) | {"history": [params["message"]]}
                        )
                await event_queue.enqueue_event(_to_pb(submitted))
                route = self._route(invocation.skill, principal)
                req.routed(route.agent.descriptor.name, route.skill.name)
                sent: set[str] = set()
                scope = calls.scope_for(principal)
                async for item in calls.stream(
                    route, invocation, task_id, scope=scope, principal=principal
                ):
                    if isinstance(item, StatusEvent) and item.state is TaskState.FAILED:
                        req.outcome = "failed"
                    for event in _for_sdk(item, task_id, context_id, sent):
                        await event_queue.enqueue_event(_to_pb(event))
            except EffmeshError as exc:
                req.failed(exc)
                await self._fail(event_queue, submitted, task_id, context_id, exc)
            except Exception as exc:  # noqa: BLE001 - an agent's bug is a failed task, not a crash
                req.failed(exc)
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


class A2AEndpoints:
    """The A2A endpoints of the gateway (``/a2a``, its card at the well-known path) and of each
    agent with skills (``/a2a/<agent>``), kept in step with the registry.

    An agent that registers later (a dial-in agent, a remote one that comes up) gets its card
    and bindings on its first request; one whose skills change gets a fresh card. Each agent's
    task store outlives those rebuilds, so its tasks stay readable.
    """

    def __init__(self, registry: Registry, base_url: str) -> None:
        self.registry = registry
        self.base_url = base_url
        # Each agent's endpoints, with the descriptor they were built from.
        self._served: dict[str | None, tuple[AgentDescriptor, Router]] = {}
        self._stores: dict[str | None, InMemoryTaskStore] = {}

    def _build(self, name: str | None, descriptor: AgentDescriptor) -> Router:
        prefix = "/a2a" if name is None else f"/a2a/{name}"
        card_url = AGENT_CARD_PATH if name is None else f"{prefix}{AGENT_CARD_PATH}"
        card = card_for(descriptor, f"{self.base_url}{prefix}")
        store = self._stores.setdefault(name, InMemoryTaskStore())
        handler = DefaultRequestHandler(
            agent_executor=Bridge(self.registry, name), task_store=store, agent_card=card
        )
        builder = _ContextBuilder()
        routes: list[BaseRoute] = list(create_agent_card_routes(card, card_url=card_url))
        routes += create_jsonrpc_routes(handler, rpc_url=prefix, context_builder=builder)
        # The SDK's REST routes end in a tenant catch-all: keep it inside this agent's mount.
        rest = create_rest_routes(handler, context_builder=builder)
        routes.append(Mount(f"{prefix}/rest", routes=rest))
        return Router(routes=routes)

    def _router(self, name: str | None) -> Router | None:
        if name is None:
            descriptor = gateway_descriptor(self.registry)
        else:
            agent = self.registry.find(name)
            if agent is None or not agent.descriptor.skills:
                return None  # an agent that is down has no card until it is back
            descriptor = agent.descriptor
        served = self._served.get(name)
        if served is None or served[0] != descriptor:
            served = (descriptor, self._build(name, descriptor))
            self._served[name] = served
        return served[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: the agent the path names (``{agent}``), else the gateway itself."""
        name: str | None = scope.get("path_params", {}).get("agent")
        router = self._router(name)
        if router is None:
            assert name is not None
            status, body, _ = http_error(scope["path"], NotFound(f"unknown agent {quote(name)}"))
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # The body goes through effmesh's reader before the SDK's (``envelope``).
        await CheckedBodies(router, envelope.check)(scope, receive, send)


def routes(registry: Registry, base_url: str) -> list[BaseRoute]:
    """The gateway's and every agent's A2A routes (``A2AEndpoints``)."""
    endpoints = A2AEndpoints(registry, base_url)
    return [
        Route(AGENT_CARD_PATH, endpoints),
        Route("/a2a", endpoints),
        Route("/a2a/rest{rest:path}", endpoints),
        Route("/a2a/{agent}{rest:path}", endpoints),
    ]
