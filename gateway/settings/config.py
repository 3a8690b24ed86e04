"""The ``[gateway]`` table, and :class:`Config`: it and every other table, as the gateway
reads them."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Annotated, Final

from pydantic import AfterValidator, Field

from gateway.settings.agents import AgentConfig, default_agents
from gateway.settings.errors import Invalid, SettingsError
from gateway.settings.federation import FederationConfig
from gateway.settings.identity import OidcConfig
from gateway.settings.models import URL_PREFIXES, ModelConfig
from gateway.settings.routing import RoutingConfig
from observability.settings import TelemetryConfig

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _network(value: str) -> str:
    """An address or network (``10.0.0.0/8``), as ``ipaddress`` reads it."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"is not an address or network: {value!r}") from None
    return value


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Where the gateway listens, who may call it, and its limits."""

    host: str = "127.0.0.1"
    """The address to listen on; any but a loopback one requires a bearer token."""
    port: Annotated[int, Field(ge=0, le=65535)] = 8640
    """The port to listen on."""
    a2a_grpc_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    """The port of A2A's gRPC binding on ``host`` (0: any free port), listed in the gateway's
    and every agent's card; unset: no gRPC binding."""
    data_dir: str = "data"
    """Where state lives: task state (``tasks.sqlite3``), the memory, the trace file."""
    token_env: str = "EFFMESH_TOKEN"
    """The environment variable holding the bearer token (its name in ``allow`` lists:
    ``default``); unset: no authentication."""
    max_body_bytes: Annotated[int, Field(ge=1)] = 4 * 1024 * 1024
    """The largest request body and WebSocket frame."""
    rate_per_minute: Annotated[int, Field(ge=0)] = 600
    """Requests and WebSocket frames per minute per client address; 0 turns the limit off."""
    token_rate_per_minute: Annotated[int, Field(ge=0)] | None = None
    """Requests and WebSocket frames per minute per token, beside the per-address limit;
    unset: the same as ``rate_per_minute``; 0 turns it off."""
    trusted_proxies: tuple[Annotated[str, AfterValidator(_network)], ...] = ()
    """Addresses or networks of proxies in front of the gateway whose ``X-Forwarded-For``
    names the client; from anyone else the header is ignored."""
    header_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    """How long a request's headers may take to arrive before it is answered 408."""
    body_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    """How long a request body may pause between two reads before it is answered 408."""
    operators: tuple[str, ...] = ()
    """Token names (as in ``allow`` lists) that see and manage every caller's tasks and may
    read ``/metrics``."""
    max_running_tasks_per_token: Annotated[int, Field(ge=1)] = 64
    """Tasks one token may run at once, over every protocol; a start beyond it is refused
    with the protocol's rate-limit error."""
    max_mcp_sessions_per_token: Annotated[int, Field(ge=1)] = 100
    """MCP sessions (``mcp-session-id``) one token may hold open at once; an initialize
    beyond it is refused with a rate-limit error."""
    task_retention_days: Annotated[float, Field(gt=0)] = 7.0
    """Finished tasks last changed longer ago than this are deleted."""
    task_retention_count: Annotated[int, Field(ge=1)] = 10_000
    """Finished tasks kept per token (the newest); older ones are deleted."""
    shared_dialin: tuple[str, ...] = ()
    """Dial-in agents (``/ws``) every token may see and call, by agent name or by the token
    name that registers them; any other dial-in agent is the registering token's alone."""
    call_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    """How long one agent call may take."""
    health_interval_seconds: Annotated[float, Field(ge=0)] = 30.0
    """How often remote agents are checked again; 0: never."""
    allow_private_agents: bool = False
    """Allow remote agents on link-local and cloud-metadata addresses (never needed but for
    an agent that really lives there)."""
    outbound_loopback: bool = True
    """Allow outbound connections (remote agents, their cards, federation joins) to loopback
    addresses: agents beside the gateway."""
    outbound_private: bool = True
    """Allow outbound connections to private and shared address ranges (10/8, 172.16/12,
    192.168/16, 100.64/10, fc00::/7)."""
    memory_uri: str = ""
    """A Milvus server for the memory agent; empty: Milvus-lite in ``data_dir/memory.db``."""
    public_url: str = ""
    """How callers reach the gateway when that is not ``http(s)://host:port`` (a load
    balancer in front of replicas): A2A cards point there. Empty: this process's own."""
    store: str = ""
    """Where tasks are kept: empty for SQLite in ``data_dir/tasks.sqlite3`` (one gateway
    process); ``postgresql://user:password@host/database`` for a PostgreSQL database that
    several gateway replicas share behind a load balancer (see docs/scaling-out.md)."""
    task_lease_seconds: Annotated[float, Field(gt=0)] = 15.0
    """With a shared ``store``: how long a running task stays its replica's without a
    heartbeat; the other replicas fail it once the lease runs out (the replica stopped)."""
    tls_cert_file: str = ""
    """A PEM certificate (chain) to serve HTTPS and WSS with; empty: plain HTTP."""
    tls_key_file: str = ""
    """The certificate's key: set with ``tls_cert_file`` or not at all."""


STORE_SCHEMES: Final = ("postgresql", "postgres")


def check_gateway(table: GatewaySettings) -> GatewaySettings:
    """The TLS files go together; the task store and public URL are URLs of a known kind.

    Raises:
        Invalid: at the one that is missing.
    """
    if table.tls_cert_file and not table.tls_key_file:
        raise Invalid(("tls_key_file",), "is required with tls_cert_file")
    if table.tls_key_file and not table.tls_cert_file:
        raise Invalid(("tls_cert_file",), "is required with tls_key_file")
    if table.store and table.store.split("://", 1)[0] not in STORE_SCHEMES:
        raise Invalid(("store",), "must be empty (SQLite) or a postgresql:// URL")
    if table.public_url and table.public_url.split("://", 1)[0] not in ("http", "https"):
        raise Invalid(("public_url",), "must be an http:// or https:// URL")
    return table


GatewayTable = Annotated[GatewaySettings, AfterValidator(check_gateway)]


@dataclass(frozen=True, slots=True)
class Config(GatewaySettings):
    """Every setting of a gateway: the ``[gateway]`` table's, then the other tables'."""

    tokens: tuple[tuple[str, str], ...] = ()
    """More named tokens: (name, environment variable), from the ``[tokens]`` table."""
    agents: tuple[AgentConfig, ...] = field(default_factory=default_agents)
    models: tuple[ModelConfig, ...] = (ModelConfig("default"),)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    oidc: OidcConfig = field(default_factory=OidcConfig)

    def model(self, name: str) -> ModelConfig:
        """The ``[models]`` entry ``name``; a URL names an SGLang server at that URL.

        Raises:
            SettingsError: no such entry.
        """
        for entry in self.models:
            if entry.name == name:
                return entry
        if name.startswith(URL_PREFIXES):
            return ModelConfig(name, "sglang", (name,))
        raise SettingsError(("models",), f"no model {name!r}")

    @property
    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None

    def principals(self) -> dict[str, str]:
        """Bearer token -> the name agents' ``allow`` lists use (``default`` for token_env).

        The tokens are read from the environment on each call."""
        out = {}
        for name, env in (("default", self.token_env), *self.tokens):
            value = os.environ.get(env)
            if value:
                out[value] = name
        return out

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK
