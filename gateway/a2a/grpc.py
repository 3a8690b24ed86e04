"""A2A's gRPC binding, through a2a-sdk's ``GrpcHandler``: one gRPC server for the gateway's own
A2A agent and every agent's, on the configured ``a2a_grpc_port``.

gRPC addresses a server, not a path, so a request names its agent by the ``tenant`` field every
A2A request carries: each agent's card lists the gRPC interface with its own name as tenant
(a2a-sdk's client sends it), and a request with none is the gateway's own agent's (whose
message, naming no skill, runs the gateway's only skill when it has just one).

The caller's bearer token rides in the ``authorization`` metadata and is checked before the
request is read, as the HTTP guard checks it; the message size limit is the body limit.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import grpc
import grpc.aio
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers import RequestHandler
from a2a.server.request_handlers.grpc_handler import (
    DefaultGrpcServerCallContextBuilder,
    GrpcHandler,
)
from a2a.types import a2a_pb2 as pb
from a2a.types import a2a_pb2_grpc
from a2a.utils.constants import VERSION_HEADER
from a2a.utils.errors import TaskNotFoundError

from gateway.a2a.bridge import STREAMING
from gateway.security.guard import PRINCIPAL

AUTHORIZATION: Final = "authorization"
UNKNOWN_AGENT: Final = "unknown agent"


class Handlers(Protocol):
    """Where an agent's request handler is found (``gateway.a2a.http.A2AEndpoints``)."""

    def handler(self, name: str | None, principal: str | None) -> RequestHandler | None:
        """The request handler of agent ``name`` (None: the gateway's own) as ``principal``
        sees it; None for an agent it may not see."""
        ...


def principal_of(token: str | None, tokens: Mapping[str, str]) -> str | bool | None:
    """The principal a bearer ``authorization`` value names; None when the gateway uses no
    tokens; False for a missing or wrong token."""
    if not tokens:
        return None
    scheme, _, given = (token or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    for known, name in tokens.items():
        if hmac.compare_digest(given.encode(), known.encode()):
            return name
    return False


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name.lower() == key:
            return value if isinstance(value, str) else value.decode()
    return None


class _Refuse(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses a call without a valid bearer token before it reaches a handler."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        meta = {k.lower(): v for k, v in details.invocation_metadata or ()}
        if principal_of(meta.get(AUTHORIZATION), self.tokens) is not False:
            return await continuation(details)

        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")

        handler = await continuation(details)
        if handler is not None and handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(refuse)
        return grpc.unary_unary_rpc_method_handler(refuse)


class _Context(DefaultGrpcServerCallContextBuilder):
    """The caller's principal and A2A version, where the HTTP bindings keep them."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.tokens = tokens

    def build(self, context: grpc.aio.ServicerContext) -> ServerCallContext:
        built = super().build(context)
        principal = principal_of(_metadata(context, AUTHORIZATION), self.tokens)
        built.state[PRINCIPAL] = principal if isinstance(principal, str) else None
        version = _metadata(context, VERSION_HEADER.lower())
        built.state["headers"] = {VERSION_HEADER.lower(): version} if version else {}
        return built


class _ByTenant(RequestHandler):
    """Each request to the request handler of the agent its ``tenant`` names."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers

    def _for(self, tenant: str, context: ServerCallContext) -> RequestHandler:
        """Raises TaskNotFoundError (NOT_FOUND) for an agent the caller may not see."""
        principal = context.state.get(PRINCIPAL)
        found = self.handlers.handler(tenant or None, principal)
        if found is None:
            raise TaskNotFoundError(UNKNOWN_AGENT)
        return found

    async def on_get_task(self, params: pb.GetTaskRequest, context: ServerCallContext) -> Any:
        return await self._for(params.tenant, context).on_get_task(params, context)

    async def on_list_tasks(self, params: pb.ListTasksRequest, context: ServerCallContext) -> Any:
        return await self._for(params.tenant, context).on_list_tasks(params, context)

    async def on_cancel_task(self, params: pb.CancelTaskRequest, context: ServerCallContext) -> Any:
        return await self._for(params.tenant, context).on_cancel_task(params, context)

    async def on_message_send(
        self, params: pb.SendMessageRequest, context: ServerCallContext
    ) -> Any:
        return await self._for(params.tenant, context).on_message_send(params, context)

    async def on_message_send_stream(
        self, params: pb.SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        context.state[STREAMING] = True
        async for event in self._for(params.tenant, context).on_message_send_stream(
            params, context
        ):
            yield event

    async def on_subscribe_to_task(
        self, params: pb.SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        async for event in self._for(params.tenant, context).on_subscribe_to_task(params, context):
            yield event

    async def on_create_task_push_notification_config(
        self, params: pb.TaskPushNotificationConfig, context: ServerCallContext
    ) -> Any:
        handler = self._for(params.tenant, context)
        return await handler.on_create_task_push_notification_config(params, context)

    async def on_get_task_push_notification_config(
        self, params: pb.GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> Any:
        handler = self._for(params.tenant, context)
        return await handler.on_get_task_push_notification_config(params, context)

    async def on_list_task_push_notification_configs(
        self, params: pb.ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> Any:
        handler = self._for(params.tenant, context)
        return await handler.on_list_task_push_notification_configs(params, context)

    async def on_delete_task_push_notification_config(
        self, params: pb.DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> Any:
        handler = self._for(params.tenant, context)
        return await handler.on_delete_task_push_notification_config(params, context)

    async def on_get_extended_agent_card(
        self, params: pb.GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> Any:
        handler = self._for(params.tenant, context)
        return await handler.on_get_extended_agent_card(params, context)


async def serve(
    handlers: Handlers, host: str, port: int, *, tokens: Mapping[str, str], max_bytes: int
) -> tuple[grpc.aio.Server, int]:
    """A started gRPC server for ``handlers`` on ``host:port`` (0: any free port), and the
    port it is bound to; stop it with ``stop(grace)``."""
    options = [
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
    ]
    server = grpc.aio.server(interceptors=[_Refuse(tokens)], options=options)
    servicer = GrpcHandler(_ByTenant(handlers), context_builder=_Context(tokens))
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    bound: int = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound
