"""The gateway's Starlette application: the only place where the layers are wired together."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from adapters.errors import EffmeshError, NotFound
from gateway import errors, health
from gateway.a2a import http as a2a_http
from gateway.a2a import ws as a2a_ws
from gateway.acp import http as acp_http
from gateway.acp import ws as acp_ws
from gateway.bodies import CheckedBodies
from gateway.console import PUBLIC as CONSOLE_PATHS
from gateway.console import Console, authorize, views
from gateway.mcp import envelope as mcp_envelope
from gateway.mcp.handover import Handover
from gateway.mcp.lane import McpLane
from gateway.mcp.lean import LeanCalls
from gateway.mcp.passthrough import Passthrough
from gateway.mcp.server import build_server
from gateway.mcp.sessions import McpSessions
from gateway.mcp.tools import ToolCalls
from gateway.mcp.ws import serve_websocket
from gateway.mesh import dialin
from gateway.mesh.federation import claims
from gateway.mesh.federation.calls import FederatedAgent
from gateway.mesh.federation.service import Federation
from gateway.registry import Registry
from gateway.routing import marks as routing_marks
from gateway.routing.feedback import DecisionLog
from gateway.runtime.runner import Runtime
from gateway.runtime.sessions import sessions_for
from gateway.runtime.store import MemoryTaskStore, Retention
from gateway.runtime.tasks import TaskManager
from gateway.security.guard import Guard, JsonBodies, principal_of
from gateway.security.oauth import METADATA_PATHS, ResourceServer
from gateway.security.outbound import outbound_policy
from gateway.security.upstream import Broker, sign_in
from gateway.settings import Config
from gateway.settings.federation import FEDERATION
from observability import metrics as obs_metrics


def create_app(
    registry: Registry,
    config: Config | None = None,
    *,
    base_url: str | None = None,
    runtime: Runtime | None = None,
    metrics: Callable[[], bytes | None] | None = None,
    models: Callable[[], list[dict[str, object]]] | None = None,
    broker: Broker | None = None,
) -> Guard:
    """The ASGI app: every route behind the guard (auth, size and rate limits).

    ``base_url`` is how callers reach the gateway; A2A cards point there. ``runtime`` is where
    every protocol's tasks run and are stored (default: in memory, with the configured call
    timeout); tasks it holds from a previous process that were still running are failed now,
    and those still running when the app stops are failed then, each with a reason. With a
    federation token set, the gateway takes part in the federation
    (``gateway.mesh.federation``). ``metrics`` renders the Prometheus text served at
    ``GET /metrics`` to operator tokens (None: no metrics); ``models`` reports the state of
    each model the gateway's own agents use (``/agents``, and the ``effmesh.model.up`` gauge).
    ``broker`` holds each user's credentials for upstream agents (``gateway.security.upstream``):
    its authorization pages and ``/credentials`` are served with it.
    """
    config = config or Config()
    base_url = base_url or f"http://{config.host}:{config.port}"
    retention = Retention(config.task_retention_days, config.task_retention_count)
    runtime = runtime or Runtime(MemoryTaskStore(retention), timeout=config.call_timeout_seconds)
    # Who sees whose tasks, and how many each may run: the gateway's settings, in the runtime
    # that enforces them for every protocol.
    runtime.operators = frozenset(config.operators)
    runtime.max_running_per_owner = config.max_running_tasks_per_token
    runtime.start()
    tasks = TaskManager(runtime, registry)
    # Answers handed here by replicas whose callers answered a call held open here.
    runtime.held.registry = registry
    a2a_endpoints = a2a_http.A2AEndpoints(registry, base_url, runtime)
    principals = config.principals()
    # With an OpenID provider configured, its access tokens are accepted beside the tokens.
    oauth = (
        ResourceServer(config.oidc, base_url, outbound_policy(config))
        if config.oidc.enabled
        else None
    )
    if oauth is not None:
        a2a_endpoints.security = oauth.card_security
        if broker is not None:
            broker.subject_tokens = oauth.subject_token
            broker.sign_in = sign_in(config.oidc, oauth)
    peer_token = config.federation.token
    federation = (
        Federation(
            registry,
            config.federation,
            gateway_id=config.federation.gateway_id(config.port),
            token=peer_token,
            signer=claims.Signer(config.federation.key_path(config.data_dir)),
            max_frame=config.max_body_bytes,
            policy=outbound_policy(config),
        )
        if peer_token
        else None
    )
    console = Console(
        registry,
        tasks,
        config,
        tokens=bool(principals) or oauth is not None,
        federation=federation,
        models=models,
    )
    mcp_tools = ToolCalls(registry, runtime, endpoint="/mcp")
    # Replicas hand a retry of a call that another holds open to that one.
    handover = (
        Handover(runtime.channel, runtime.store.replica, timeout=runtime.timeout)
        if runtime.channel.shared
        else None
    )
    mcp_tools.handover = handover
    if handover is not None:
        handover.tools = mcp_tools
    mcp_upstreams = Passthrough(registry)
    mcp_server = build_server(registry, tools=mcp_tools, upstreams=mcp_upstreams)
    # Built for its session manager (and the SDK's DNS-rebinding protection on loopback); the
    # handler is routed at /mcp exactly, since a Mount would answer POST /mcp with a redirect.
    mcp_server.streamable_http_app(streamable_http_path="/mcp", host=config.host)
    mcp_http = JsonBodies(
        CheckedBodies(
            McpSessions(
                StreamableHTTPASGIApp(mcp_server.session_manager),
                mcp_server.session_manager,
                per_owner=config.max_mcp_sessions_per_token,
                book=sessions_for(runtime.channel),
                channel=runtime.channel,
                upstreams=mcp_upstreams,
                lean=LeanCalls(
                    mcp_tools,
                    mcp_server.session_manager.security_settings,
                    mcp_server.server_info_stamp,
                ),
            ),
            mcp_envelope.check,
        ),
        "/mcp",
    )

    if models is not None:
        obs_metrics.MODEL_HEALTH.watch(
            lambda: [(str(m["name"]), m["state"] == "up") for m in models()]
        )

    async def prometheus(request: Request) -> Response:
        # Its labels name every agent, whoever may call it: operators only, once tokens are
        # in use (None: no tokens, a gateway on its own machine).
        who = principal_of(request.scope)
        if who is not None and who not in config.operators:
            return JSONResponse({"error": "metrics are for operator tokens"}, 403)
        text = metrics() if metrics is not None else None
        if text is None:
            status, body, _ = errors.http_error(request.url.path, NotFound("metrics are off"))
            return Response(body, status, media_type="application/json")
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def list_agents(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "agents": [
                    {
                        "name": a.descriptor.name,
                        "description": a.descriptor.description,
                        "skills": [s.name for s in a.descriptor.skills],
                        "state": "up" if a.healthy else "down",
                        # "local": served here (configured or dialled in); else the id of
                        # the gateway of the federation that calls are forwarded to.
                        "gateway": a.gateway if isinstance(a, FederatedAgent) else "local",
                    }
                    for a in registry.agents(principal_of(request.scope))
                ],
                "models": models() if models is not None else [],
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            # Replicas sharing the store: their cancels reach this one, leases are renewed.
            heartbeat = config.task_lease_seconds / 3
            async with runtime.serving(heartbeat), mcp_server.session_manager.run():
                checker = asyncio.get_running_loop().create_task(
                    health.watch(registry, config.health_interval_seconds)
                )
                if federation is not None:
                    await federation.start()
                if oauth is not None:
                    # The provider's endpoints, for the cards; a provider that is down now is
                    # asked again when the first token arrives.
                    with contextlib.suppress(EffmeshError):
                        await oauth.server.metadata()
                if config.a2a_grpc_port is not None:
                    tokens = {**principals, **({peer_token: FEDERATION} if peer_token else {})}
                    await a2a_endpoints.serve_grpc(
                        config.host,
                        config.a2a_grpc_port,
                        tokens=tokens,
                        max_bytes=config.max_body_bytes,
                    )
                try:
                    yield
                finally:
                    # From here on, a task whose call is cancelled fails with a reason.
                    runtime.stopping = True
                    if federation is not None:
                        await federation.stop()
                    checker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await checker
                    await tasks.close()
                    await a2a_endpoints.close()
        finally:
            # After the MCP sessions' calls too: each stores how it ended before the store closes.
            runtime.close()
            for agent in registry.agents():
                await agent.close()

    async def mcp_websocket(websocket: WebSocket) -> None:
        who = principal_of(websocket.scope)
        tools = ToolCalls(registry, runtime, endpoint="/mcp/ws")
        tools.handover = handover
        server = build_server(registry, principal=who, tools=tools)
        await serve_websocket(websocket, server, tools, who)

    async def a2a_websocket(websocket: WebSocket) -> None:
        await a2a_ws.serve_a2a(
            websocket, registry, tasks, config.max_body_bytes, principal_of(websocket.scope)
        )

    async def acp_websocket(websocket: WebSocket) -> None:
        await acp_ws.serve_acp(
            websocket, registry, tasks, config.max_body_bytes, principal_of(websocket.scope)
        )

    async def mesh_websocket(websocket: WebSocket) -> None:
        # The guard already refused a missing or wrong token; with no token configured, only
        # a peer on this machine may register agents.
        client = websocket.client.host if websocket.client else ""
        trusted = bool(principals) or client in ("127.0.0.1", "::1")
        await dialin.serve_peer(
            websocket,
            registry,
            trusted=trusted,
            principal=principal_of(websocket.scope),
            gateways=federation,
            shared=config.shared_dialin,
        )

    async def resource_metadata(request: Request) -> JSONResponse:
        if oauth is None:
            status, body, _ = errors.http_error(request.url.path, NotFound("no OpenID provider"))
            return JSONResponse(json.loads(body), status)
        return JSONResponse(oauth.document())

    async def federation_status(request: Request) -> JSONResponse:
        who = principal_of(request.scope)
        status = views.federation_status(federation, registry, who, config.operators)
        return JSONResponse(status)

    routes: list[Any] = [
        Route("/agents", list_agents, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/federation", federation_status, methods=["GET"]),
        *(Route(path, resource_metadata, methods=["GET"]) for path in METADATA_PATHS),
        WebSocketRoute("/ws", mesh_websocket),
        WebSocketRoute("/mcp/ws", mcp_websocket),
        WebSocketRoute("/a2a/ws", a2a_websocket),
        WebSocketRoute("/acp/ws", acp_websocket),
        Route("/mcp", mcp_http, methods=["GET", "POST", "DELETE"]),
        Route("/mcp/", mcp_http, methods=["GET", "POST", "DELETE"]),
        Mount("/acp", routes=acp_http.routes(registry, tasks)),
        *a2a_endpoints.routes(),
        *console.routes(),
        *(authorize.routes(broker) if broker is not None else ()),
        *routing_marks.routes(_routing_marks(config)),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers=dict(errors.EXCEPTION_HANDLERS)
    )
    return Guard(
        McpLane(app, mcp_http),  # /mcp past Starlette's router and middleware
        tokens=principals,
        max_body=config.max_body_bytes,
        rate_per_minute=config.rate_per_minute,
        peers={peer_token: FEDERATION} if peer_token else None,
        token_rate_per_minute=config.token_rate_per_minute,
        trusted_proxies=config.trusted_proxies,
        body_timeout=config.body_timeout_seconds,
        public=(*CONSOLE_PATHS, *METADATA_PATHS, *authorize.PUBLIC),
        oauth=oauth,
        public_prefixes=authorize.PUBLIC_PREFIXES if broker is not None else (),
    )


def _routing_marks(config: Config) -> routing_marks.Marks | None:
    """Callers' marks on the router's decisions, with a decision log (``/routing/feedback``)."""
    routing = config.routing
    if not (routing.enabled and routing.decision_log):
        return None
    log = DecisionLog(Path(routing.decision_log))
    return routing_marks.Marks(log, frozenset(config.operators))
