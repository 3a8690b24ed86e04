"""effmesh.toml: the gateway's settings, with defaults that need no file at all.

    [gateway]
    host = "127.0.0.1"
    port = 8640
    data_dir = "data"
    token_env = "EFFMESH_TOKEN"      # bearer token, read from this environment variable
    max_body_bytes = 4194304
    rate_per_minute = 600            # per client address; 0 turns the limit off
    call_timeout_seconds = 60
    health_interval_seconds = 30     # how often remote agents are checked again; 0: never
    allow_private_agents = false     # allow remote agents on link-local / metadata addresses
    memory_uri = ""                  # a Milvus server for the memory agent; "": Milvus-lite
                                     # in data_dir/memory.db
    tls_cert_file = ""               # serve HTTPS / WSS with this PEM certificate chain
    tls_key_file = ""                # ... and this key

    [[agents]]
    name = "echo"
    kind = "echo"                    # built in: "echo", "calculator", "memory", "specialist";
                                     # remote: "mcp", "a2a", "acp"
    url = "http://..."               # for remote kinds
    allow = ["*"]                    # token names that may call it ("default" is token_env's)
    prefix = true                    # false: skills offered as "<skill>", not "<agent>.<skill>"

    [[agents]]                       # a specialist SLM agent
    name = "arithmetic"
    kind = "specialist"
    skills = ["solve"]
    description = "Solves arithmetic word problems with the calculator."
    system_prompt = "You solve arithmetic problems. Use the calculator."
    model = "default"                # a [models] entry, or an SGLang URL: "http://gpu:30000"
    tools = ["calculator.*"]         # registry tools it may call (names or patterns)
    force_tool = "calculator.evaluate"  # optional: the first step must call this tool
    tier = "tiny"                    # tiny (<1B), small (1-3B), medium (3-7B), large (7B+)
    max_steps = 3                    # tool calls per request
    max_tokens = 256

    [models.default]                 # the model backend specialists use by default
    kind = "embedded"                # llama.cpp with the bundled SmolLM2-135M, started here;
                                     # or "sglang", "llamacpp", "openai" with urls
    urls = ["http://gpu1:30000", "http://gpu2:30000"]   # replicas (or one smg router URL)
    parallel = 4                     # embedded: parallel slots (concurrent requests)
    context = 4096                   # embedded: tokens per slot

    [models]
    big = "http://gpu:30000"         # shorthand: an SGLang server at that URL

    [tokens]
    ide = "EFFMESH_TOKEN_IDE"        # another bearer token, named "ide"

    [routing]                        # the router agent: MCP tool effmesh.run, ACP agent effmesh
    enabled = true
    planner = "auto"                 # "model", "rules", or "auto": the model when the gateway
                                     # runs specialists and the model is not tiny, else rules
    model = "default"                # the [models] entry that writes plans
    skills = ["*"]                   # registry skills plans may use (names or patterns)
    max_subtasks = 8
    max_depth = 2                    # plan levels: 2 lets a subtask be planned once more
    concurrency = 4                  # agent calls at once within one run
    subtask_timeout_seconds = 60
    retries = 1                      # more tries for a subtask whose agent timed out or was down

    [routing.weights]                # the complexity analyzer's weights and thresholds
    requirements = 0.3               # (see gateway/routing/complexity.py; calibrate them with
                                     # `effmesh calibrate tasks.json`)

    [federation]                     # gateways linked into one mesh: see
    join = ["wss://gw-b:8640/ws"]    # gateway.mesh.federation.settings for every key

    [telemetry]                      # traces and metrics: see observability.settings
    exporters = ["file"]             # file (data_dir/traces.jsonl), console, otlp-grpc, otlp-http
    sample_ratio = 1.0

Unknown keys are errors, so a typo does not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from adapters.errors import InvalidParams
from gateway.mesh.federation.settings import FederationConfig
from gateway.mesh.federation.settings import parse as parse_federation
from observability.settings import InvalidSetting, TelemetryConfig
from observability.settings import parse as parse_telemetry

__all__ = ["AgentConfig", "Config", "InvalidParams", "ModelConfig", "load"]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    name: str
    kind: str
    url: str | None = None
    command: tuple[str, ...] = ()
    allow: tuple[str, ...] = ("*",)
    prefix: bool = True
    # specialists
    skills: tuple[str, ...] = ()
    description: str | None = None
    system_prompt: str = ""
    model: str = "default"
    tools: tuple[str, ...] = ()
    force_tool: str | None = None
    tier: str | None = None
    max_steps: int = 3
    max_tokens: int = 256


MODEL_KINDS = ("embedded", "sglang", "llamacpp", "openai")
TIERS = ("tiny", "small", "medium", "large")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    kind: str = "embedded"
    urls: tuple[str, ...] = ()
    model: str | None = None
    """The model name sent in requests (servers with one model ignore it)."""
    tier: str | None = None
    """The model's size tier; embedded: tiny, others: small unless set."""
    timeout_seconds: float = 120.0
    max_concurrency: int = 4
    retries: int = 2
    parallel: int = 4
    context: int = 4096
    threads: int = 2

    @property
    def size_tier(self) -> str:
        return self.tier or ("tiny" if self.kind == "embedded" else "small")


SPECIALIST_PROMPTS = {
    "arithmetic": (
        "You solve arithmetic word problems. Turn the problem into one arithmetic expression "
        "and evaluate it with the calculator; then state the result."
    ),
    "summarizer": "You summarize the user's text in two or three short sentences.",
    "assistant": "You are a helpful assistant. Answer briefly and accurately.",
}


def default_agents() -> tuple[AgentConfig, ...]:
    """What ``effmesh serve`` runs with no file: the echo fixture, a calculator, the shared
    memory, and three specialists on the embedded model."""
    return (
        AgentConfig("echo", "echo"),
        AgentConfig("calculator", "calculator"),
        AgentConfig("memory", "memory"),
        AgentConfig(
            "arithmetic",
            "specialist",
            skills=("solve",),
            description="Solves arithmetic word problems with the calculator tool.",
            system_prompt=SPECIALIST_PROMPTS["arithmetic"],
            tools=("calculator.evaluate",),
            force_tool="calculator.evaluate",
            max_steps=1,
        ),
        AgentConfig(
            "summarizer",
            "specialist",
            skills=("summarize",),
            description="Summarizes a text in a few sentences.",
            system_prompt=SPECIALIST_PROMPTS["summarizer"],
        ),
        AgentConfig(
            "assistant",
            "specialist",
            skills=("chat",),
            description="A general assistant that can also calculate.",
            system_prompt=SPECIALIST_PROMPTS["assistant"],
            tools=("calculator.*",),
        ),
    )


PLANNERS = ("auto", "model", "rules")


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    enabled: bool = True
    planner: str = "auto"
    model: str = "default"
    skills: tuple[str, ...] = ("*",)
    max_subtasks: int = 8
    max_depth: int = 2
    concurrency: int = 4
    subtask_timeout_seconds: float = 60.0
    retries: int = 1
    weights: tuple[tuple[str, float], ...] = ()
    """Complexity weights and thresholds that differ from the defaults."""


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8640
    data_dir: str = "data"
    token_env: str = "EFFMESH_TOKEN"
    max_body_bytes: int = 4 * 1024 * 1024
    rate_per_minute: int = 600
    call_timeout_seconds: float = 60.0
    health_interval_seconds: float = 30.0
    allow_private_agents: bool = False
    memory_uri: str = ""
    """The Milvus server for the memory agent; empty: Milvus-lite in ``data_dir/memory.db``."""
    tls_cert_file: str = ""
    """PEM certificate (chain) to serve HTTPS and WSS with; empty: plain HTTP."""
    tls_key_file: str = ""
    tokens: tuple[tuple[str, str], ...] = ()
    """More named tokens: (name, environment variable), from the ``[tokens]`` table."""
    agents: tuple[AgentConfig, ...] = field(default_factory=default_agents)
    models: tuple[ModelConfig, ...] = (ModelConfig("default"),)
    routing: RoutingConfig = RoutingConfig()
    federation: FederationConfig = field(default_factory=FederationConfig)
    """The ``[federation]`` table (``gateway.mesh.federation.settings``)."""
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    """The ``[telemetry]`` table (``observability.settings``)."""

    def model(self, name: str) -> ModelConfig:
        """The ``[models]`` entry ``name``; a URL names an SGLang server at that URL.

        Raises:
            InvalidParams: no such entry.
        """
        for entry in self.models:
            if entry.name == name:
                return entry
        if name.startswith(("http://", "https://")):
            return ModelConfig(name, "sglang", (name,))
        raise InvalidParams(f"unknown model {name!r}", path="models")

    @property
    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None

    def principals(self) -> dict[str, str]:
        """Bearer token -> the name agents' ``allow`` lists use (``default`` for token_env)."""
        out = {}
        for name, env in (("default", self.token_env), *self.tokens):
            value = os.environ.get(env)
            if value:
                out[value] = name
        return out

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InvalidParams(f"unknown setting {unknown[0]!r}", path=where)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams("must be true or false", path=where)
    return value


def _typed(raw: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = raw.get(key, default)
    if value is default:
        return value
    widened = kind is float and isinstance(value, int) and not isinstance(value, bool)
    if (kind is int and isinstance(value, bool)) or not (isinstance(value, kind) or widened):
        raise InvalidParams(f"must be {kind.__name__}", path=f"{where}.{key}")
    return value


def _strings(
    raw: dict[str, Any], key: str, default: tuple[str, ...], where: str
) -> tuple[str, ...]:
    value = raw.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidParams("must be a list of strings", path=f"{where}.{key}")
    return tuple(value)


def _agent(raw: Any, i: int) -> AgentConfig:
    where = f"agents[{i}]"
    if not isinstance(raw, dict):
        raise InvalidParams("must be a table", path=where)
    _check_keys(raw, {f.name for f in fields(AgentConfig)}, where)
    try:
        entry = AgentConfig(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            url=raw.get("url"),
            command=_strings(raw, "command", (), where),
            allow=_strings(raw, "allow", ("*",), where),
            prefix=_bool(raw.get("prefix", True), f"{where}.prefix"),
            skills=_strings(raw, "skills", (), where),
            description=_typed(raw, "description", str, None, where),
            system_prompt=_typed(raw, "system_prompt", str, "", where),
            model=_typed(raw, "model", str, "default", where),
            tools=_strings(raw, "tools", (), where),
            force_tool=_typed(raw, "force_tool", str, None, where),
            tier=_typed(raw, "tier", str, None, where),
            max_steps=_typed(raw, "max_steps", int, 3, where),
            max_tokens=_typed(raw, "max_tokens", int, 256, where),
        )
    except KeyError as exc:
        raise InvalidParams("is required", path=f"{where}.{exc.args[0]}") from None
    specialist_only = {
        "skills",
        "system_prompt",
        "tools",
        "force_tool",
        "tier",
        "max_steps",
        "max_tokens",
        "model",
    }
    if entry.kind != "specialist":
        extra = sorted(specialist_only & set(raw))
        if extra:
            raise InvalidParams("applies to specialists only", path=f"{where}.{extra[0]}")
    else:
        if not entry.skills:
            raise InvalidParams("a specialist needs at least one skill", path=f"{where}.skills")
        if entry.tier is not None and entry.tier not in TIERS:
            raise InvalidParams(f"must be one of {', '.join(TIERS)}", path=f"{where}.tier")
        if not 0 <= entry.max_steps <= 16:
            raise InvalidParams("must be between 0 and 16", path=f"{where}.max_steps")
        if not 1 <= entry.max_tokens <= 32768:
            raise InvalidParams("must be between 1 and 32768", path=f"{where}.max_tokens")
    return entry


def _model(name: str, raw: Any) -> ModelConfig:
    where = f"models.{name}"
    if isinstance(raw, str):
        if not raw.startswith(("http://", "https://")):
            raise InvalidParams("must be an http(s) URL or a table", path=where)
        return ModelConfig(name, "sglang", (raw,))
    if not isinstance(raw, dict):
        raise InvalidParams("must be a table", path=where)
    _check_keys(raw, {f.name for f in fields(ModelConfig)} - {"name"}, where)
    defaults = ModelConfig(name)
    entry = ModelConfig(
        name,
        kind=_typed(raw, "kind", str, defaults.kind, where),
        urls=_strings(raw, "urls", (), where),
        model=_typed(raw, "model", str, None, where),
        tier=_typed(raw, "tier", str, None, where),
        timeout_seconds=float(
            _typed(raw, "timeout_seconds", float, defaults.timeout_seconds, where)
        ),
        max_concurrency=_typed(raw, "max_concurrency", int, defaults.max_concurrency, where),
        retries=_typed(raw, "retries", int, defaults.retries, where),
        parallel=_typed(raw, "parallel", int, defaults.parallel, where),
        context=_typed(raw, "context", int, defaults.context, where),
        threads=_typed(raw, "threads", int, defaults.threads, where),
    )
    if entry.kind not in MODEL_KINDS:
        raise InvalidParams(f"must be one of {', '.join(MODEL_KINDS)}", path=f"{where}.kind")
    if entry.tier is not None and entry.tier not in TIERS:
        raise InvalidParams(f"must be one of {', '.join(TIERS)}", path=f"{where}.tier")
    if entry.kind == "embedded" and entry.urls:
        raise InvalidParams("an embedded model has no urls", path=f"{where}.urls")
    if entry.kind != "embedded" and not entry.urls:
        raise InvalidParams("is required", path=f"{where}.urls")
    for key in ("max_concurrency", "parallel", "context", "threads"):
        if getattr(entry, key) < 1:
            raise InvalidParams("must be at least 1", path=f"{where}.{key}")
    if entry.retries < 0 or entry.timeout_seconds <= 0:
        raise InvalidParams("must be positive", path=f"{where}.retries/timeout_seconds")
    return entry


def _routing(raw: Any) -> RoutingConfig:
    where = "routing"
    if not isinstance(raw, dict):
        raise InvalidParams("must be a table", path=where)
    _check_keys(raw, {f.name for f in fields(RoutingConfig)}, where)
    d = RoutingConfig()
    weights = raw.get("weights", {})
    if not isinstance(weights, dict):
        raise InvalidParams("must be a table", path=f"{where}.weights")
    from gateway.routing.complexity import Weights  # noqa: PLC0415 - only when configured

    checked = Weights.from_mapping(weights).as_dict() if weights else {}
    entry = RoutingConfig(
        enabled=_bool(raw.get("enabled", d.enabled), f"{where}.enabled"),
        planner=_typed(raw, "planner", str, d.planner, where),
        model=_typed(raw, "model", str, d.model, where),
        skills=_strings(raw, "skills", d.skills, where),
        max_subtasks=_typed(raw, "max_subtasks", int, d.max_subtasks, where),
        max_depth=_typed(raw, "max_depth", int, d.max_depth, where),
        concurrency=_typed(raw, "concurrency", int, d.concurrency, where),
        subtask_timeout_seconds=float(
            _typed(raw, "subtask_timeout_seconds", float, d.subtask_timeout_seconds, where)
        ),
        retries=_typed(raw, "retries", int, d.retries, where),
        weights=tuple(sorted((k, float(v)) for k, v in checked.items() if k in weights)),
    )
    if entry.planner not in PLANNERS:
        raise InvalidParams(f"must be one of {', '.join(PLANNERS)}", path=f"{where}.planner")
    if not 1 <= entry.max_subtasks <= 9:
        raise InvalidParams("must be between 1 and 9", path=f"{where}.max_subtasks")
    if not 1 <= entry.max_depth <= 4:
        raise InvalidParams("must be between 1 and 4", path=f"{where}.max_depth")
    if not 1 <= entry.concurrency <= 64:
        raise InvalidParams("must be between 1 and 64", path=f"{where}.concurrency")
    if not 0 <= entry.retries <= 5:
        raise InvalidParams("must be between 0 and 5", path=f"{where}.retries")
    if entry.subtask_timeout_seconds <= 0:
        raise InvalidParams("must be positive", path=f"{where}.subtask_timeout_seconds")
    return entry


_TABLES: Final = ("agents", "tokens", "models", "routing", "federation", "telemetry")


def load(path: str | Path | None, **overrides: Any) -> Config:
    """Settings from ``path`` (none: defaults), then non-None ``overrides`` on top.

    Raises:
        InvalidParams: the file is not TOML or has an unknown or mistyped setting.
    """
    settings: dict[str, Any] = {}
    join = tuple(overrides.pop("join", None) or ())
    federation_table: Any = None
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidParams(f"{path} is not valid TOML: {exc}") from None
        _check_keys(
            doc,
            {"gateway", "agents", "tokens", "models", "routing", "federation", "telemetry"},
            str(path),
        )
        federation_table = doc.get("federation")
        gateway = doc.get("gateway", {})
        allowed = {f.name for f in fields(Config)} - set(_TABLES)
        _check_keys(gateway, allowed, "gateway")
        settings.update(gateway)
        if "tokens" in doc:
            table = doc["tokens"]
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise InvalidParams("must map names to environment variable names", path="tokens")
            settings["tokens"] = tuple(sorted(table.items()))
        if "agents" in doc:
            if not isinstance(doc["agents"], list):
                raise InvalidParams("must be an array of tables ([[agents]])", path="agents")
            settings["agents"] = tuple(_agent(a, i) for i, a in enumerate(doc["agents"]))
        if "models" in doc:
            table = doc["models"]
            if not isinstance(table, dict):
                raise InvalidParams("must be a table", path="models")
            models = {name: _model(name, raw) for name, raw in table.items()}
            models.setdefault("default", ModelConfig("default"))
            settings["models"] = tuple(models.values())
        if "routing" in doc:
            settings["routing"] = _routing(doc["routing"])
        if "telemetry" in doc:
            try:
                settings["telemetry"] = parse_telemetry(doc["telemetry"])
            except InvalidSetting as exc:
                raise InvalidParams(str(exc)) from None
    settings.update({k: v for k, v in overrides.items() if v is not None})
    settings["federation"] = parse_federation(federation_table, join)
    config = Config(**settings)
    for f in fields(Config):
        value = getattr(config, f.name)
        expected = type(getattr(Config(), f.name))
        widened = isinstance(value, int) and expected is float
        if f.name not in _TABLES and not isinstance(value, expected) and not widened:
            raise InvalidParams(f"has the wrong type {type(value).__name__}", path=f.name)
    return config
