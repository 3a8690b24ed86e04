"""The gateway as A2A agents, through a2a-sdk: one card, JSON-RPC and REST binding per agent.

The SDK owns the A2A protocol's lifecycle (streaming, resubscribe, cancel) over the gateway's
own task store (``gateway.a2a.tasks``); the executor is the thin bridge of
``gateway.a2a.bridge``. Every URL here is served with and without a trailing slash, and a GET
on an agent's URL gives its card.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from a2a.server.agent_execution import RequestContext, SimpleRequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    DefaultServerCallContextBuilder,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.types.a2a_pb2 import SendMessageRequest, Task
from a2a.utils.constants import VERSION_HEADER
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from adapters.errors import NotFound, quote
from adapters.model import (
    AgentDescriptor,
)
from gateway.a2a import envelope
from gateway.a2a.bridge import STREAMING, Bridge
from gateway.a2a.cards import card_for, card_routes, gateway_descriptor
from gateway.a2a.cluster import ChannelEventStream
from gateway.a2a.disconnect import CLIENT_GONE, watch_blocking_sends
from gateway.a2a.tasks import EndpointTasks
from gateway.bodies import CheckedBodies
from gateway.errors import http_error
from gateway.registry import Registry
from gateway.runtime.runner import STOPPED_REASON, Runtime
from gateway.security.guard import PRINCIPAL, principal_of
from gateway.security.oauth import secure_card

AGENT_CARD_PATH = "/.well-known/agent-card.json"
GRPC_GRACE = 1.0
"""Seconds the gRPC binding lets its calls finish as the gateway stops."""


class _ContextBuilder(DefaultServerCallContextBuilder):
    """Carries the caller's principal (set by the guard) into the SDK's call context."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        headers = context.state["headers"]
        # A2A lets a client name its version in the query instead of the header; a request
        # with neither is a 0.3 client's (the SDK's reading, and the specification's).
        asked = request.query_params.get(VERSION_HEADER)
        if asked and not headers.get(VERSION_HEADER.lower()):
            headers[VERSION_HEADER.lower()] = asked
        context.state[PRINCIPAL] = principal_of(request.scope)
        if request.url.path.endswith(":stream"):
            context.state[STREAMING] = True
        state = request.scope.get("state")
        if isinstance(state, dict) and CLIENT_GONE in state:
            context.state[CLIENT_GONE] = state[CLIENT_GONE]
        return context


class _Arbiter(SimpleRequestContextBuilder):
    """The SDK's request context of a message, built once the endpoint's store has let the
    message take the task it names (``EndpointTasks.claim``): a refusal reaches the caller
    as its error, before the SDK runs or writes anything."""

    def __init__(self, tasks: EndpointTasks) -> None:
        super().__init__(should_populate_referred_tasks=False, task_store=None)
        self.tasks = tasks

    async def build(
        self,
        context: ServerCallContext,
        params: SendMessageRequest | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
        task: Task | None = None,
    ) -> RequestContext:
        if task_id:
            await self.tasks.claim(task_id, context)
        return await super().build(
            context, params=params, task_id=task_id, context_id=context_id, task=task
        )


def _without_trailing_slash(scope: Scope) -> Scope:
    """``scope`` with its path's trailing slash taken off: every A2A URL is served with and
    without one (clients post to ``<interface url>/``, and a redirect is not followed by all
    of them, nor may a POST body be replayed)."""
    path: str = scope["path"]
    if len(path) < 2 or not path.endswith("/"):
        return scope
    trimmed = path.rstrip("/") or "/"
    raw: bytes = scope.get("raw_path") or path.encode()
    return {**scope, "path": trimmed, "raw_path": raw.rstrip(b"/") or b"/"}


class A2AEndpoints:
    """The A2A endpoints of the gateway (``/a2a``, its card at the well-known path) and of each
    agent with skills (``/a2a/<agent>``), kept in step with the registry.

    An agent that registers later (a dial-in agent, a remote one that comes up) gets its card
    and bindings on its first request; one whose skills change gets a fresh card. Tasks live
    in the runtime's store, each endpoint's apart, so they outlive those rebuilds and the
    process.
    """

    def __init__(
        self, registry: Registry, base_url: str, runtime: Runtime, *, grpc_url: str | None = None
    ) -> None:
        """``grpc_url``: ``host:port`` of the gRPC binding the cards list (None: none)."""
        self.registry = registry
        self.base_url = base_url
        self.runtime = runtime
        self.grpc_url = grpc_url
        self._grpc: Any = None
        """The gRPC server (``grpc.aio.Server``) while the binding is served."""
        # Each agent's endpoints, with the descriptor they were built from.
        self._served: dict[
            tuple[str | None, str | None],
            tuple[AgentDescriptor, Router, DefaultRequestHandler],
        ] = {}
        self._stores: dict[str | None, EndpointTasks] = {}
        self._handlers: list[DefaultRequestHandler] = []
        """Every handler built (one per card): each may still run tasks when the gateway stops."""
        self.security: Callable[[], dict[str, Any]] | None = None
        """How callers authenticate, for every card (``gateway.security.oauth``); None: the
        cards declare no scheme."""

    def _build(
        self, name: str | None, descriptor: AgentDescriptor
    ) -> tuple[Router, DefaultRequestHandler]:
        prefix = "/a2a" if name is None else f"/a2a/{name}"
        card_url = AGENT_CARD_PATH if name is None else f"{prefix}{AGENT_CARD_PATH}"
        card = card_for(descriptor, f"{self.base_url}{prefix}", self.grpc_url, tenant=name)
        if self.security is not None:
            secure_card(card, self.security())
        store = self._stores.get(name) or EndpointTasks(self.runtime, prefix, descriptor.name)
        self._stores[name] = store
        handler = DefaultRequestHandler(
            agent_executor=Bridge(self.registry, name, self.runtime),
            task_store=store,
            agent_card=card,
            request_context_builder=_Arbiter(store),
            # Replicas sharing the store follow and cancel each other's tasks.
            event_stream=ChannelEventStream(self.runtime) if self.runtime.channel.shared else None,
        )
        self._handlers.append(handler)
        builder = _ContextBuilder()
        # The card at the well-known path, at the well-known path under the agent's URL (where
        # clients that resolve it relative to the URL look) and at the URL itself for a GET.
        routes: list[BaseRoute] = list(
            card_routes(card, {card_url, f"{prefix}{AGENT_CARD_PATH}", prefix})
        )
        # A 0.3 client's methods (``message/send``, ...) are served on the same URL.
        routes += create_jsonrpc_routes(
            handler, rpc_url=prefix, context_builder=builder, enable_v0_3_compat=True
        )
        # The SDK's REST routes end in a tenant catch-all: keep it inside this agent's mount.
        rest = create_rest_routes(handler, context_builder=builder)
        # Slashes are the endpoints' business (``_without_trailing_slash``), not a redirect's.
        routes.append(Mount(f"{prefix}/rest", app=Router(rest, redirect_slashes=False)))
        return Router(routes=routes, redirect_slashes=False), handler

    def _router(self, name: str | None, principal: str | None) -> Router | None:
        served = self._endpoint(name, principal)
        return served[0] if served is not None else None

    def handler(self, name: str | None, principal: str | None) -> DefaultRequestHandler | None:
        """The request handler of agent ``name`` (None: the gateway's own) as ``principal``
        sees it, for the gRPC binding; None for an agent that caller may not see."""
        served = self._endpoint(name, principal)
        return served[1] if served is not None else None

    def _endpoint(
        self, name: str | None, principal: str | None
    ) -> tuple[Router, DefaultRequestHandler] | None:
        """The endpoints of agent ``name`` (None: the gateway's own) as ``principal`` sees
        them; None when that caller may not see the agent (hidden is the same as absent)."""
        key: tuple[str | None, str | None]
        if name is None:
            # Each caller's card of the gateway lists only the skills that caller may call.
            descriptor = gateway_descriptor(self.registry, principal)
            key = (None, principal)
        else:
            agent = self.registry.find(name)
            if agent is None or not agent.descriptor.skills:
                return None  # an agent that is down has no card until it is back
            if not self.registry.allowed(name, principal):
                return None
            descriptor = agent.descriptor
            key = (name, None)
        served = self._served.get(key)
        if served is None or served[0] != descriptor:
            served = (descriptor, *self._build(name, descriptor))
            self._served[key] = served
        return served[1], served[2]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: the agent the path names (``{agent}``), else the gateway itself."""
        name: str | None = scope.get("path_params", {}).get("agent")
        router = self._router(name, principal_of(scope))
        if router is None:
            assert name is not None
            status, body, _ = http_error(scope["path"], NotFound(f"unknown agent {quote(name)}"))
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # The body goes through effmesh's reader before the SDK's (``envelope``).
        scope = _without_trailing_slash(scope)
        await CheckedBodies(watch_blocking_sends(router), envelope.check)(scope, receive, send)

    def routes(self) -> list[BaseRoute]:
        """The gateway's and every agent's A2A routes."""
        return [
            Route(AGENT_CARD_PATH, self),
            Route("/a2a", self),
            Route(f"/a2a{AGENT_CARD_PATH}", self),
            Route("/a2a/", self),
            Route("/a2a/rest{rest:path}", self),
            Route("/a2a/{agent}{rest:path}", self),
        ]

    async def serve_grpc(
        self, host: str, port: int, *, tokens: Mapping[str, str], max_bytes: int
    ) -> None:
        """Serve the gRPC binding on ``host:port`` (0: any free port) until :meth:`close`;
        the cards built from now on list it, at the host of the gateway's base URL."""
        # Imported here: grpc costs a gateway without the binding nothing at start-up.
        from gateway.a2a import grpc as a2a_grpc  # noqa: PLC0415

        self._grpc, bound = await a2a_grpc.serve(
            self, host, port, tokens=tokens, max_bytes=max_bytes
        )
        self.grpc_url = f"{urlsplit(self.base_url).hostname}:{bound}"
        self._served.clear()

    async def close(self) -> None:
        """Stop the tasks still running as the gateway stops, each failed with a reason."""
        if self._grpc is not None:
            await self._grpc.stop(GRPC_GRACE)
        for handler in self._handlers:
            await handler.aclose()
        for store in self._stores.values():
            store.fail_running(STOPPED_REASON)
