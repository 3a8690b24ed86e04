"""effmesh.toml as a whole, and :func:`load`: the file, validated, as a :class:`Config`.

Validation is strict: the TOML document goes through pydantic in JSON mode with
``strict=True``, so a string is never read as a number, nor a number as a boolean, and an
unknown key anywhere is refused.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.settings.agents import AgentEntry, default_agents
from gateway.settings.config import Config, GatewaySettings, GatewayTable
from gateway.settings.errors import Invalid, Key, SettingsError, from_validation
from gateway.settings.federation import FederationConfig
from gateway.settings.identity import OidcConfig, OidcTable
from gateway.settings.models import ModelConfig, ModelEntry, named_entries
from gateway.settings.routing import RoutingConfig
from observability.settings import TelemetryConfig

GATEWAY_KEYS = frozenset(f.name for f in fields(GatewaySettings))


class SettingsFile(BaseModel):
    """The tables of effmesh.toml; each is optional.

    The descriptions are the configuration reference's opening text for each table. Field
    docstrings of the tables themselves are read only by ``gateway.settings.reference``:
    reading them means inspecting source, which would cost every start a third of a second.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: GatewayTable = Field(
        default=GatewaySettings(),
        description="Where the gateway listens, who may call it, its limits.",
    )
    tokens: dict[str, str] = Field(
        default={},
        description=(
            "More bearer tokens, by name: each key is the name ``allow`` lists use, each value "
            'the environment variable that holds the token (``ide = "EFFMESH_TOKEN_IDE"``). '
            "Tokens are never written in the file."
        ),
    )
    agents: tuple[AgentEntry, ...] = Field(
        default_factory=default_agents,
        description=(
            "The agents the gateway serves, one table each. Without any, it serves ``echo``, "
            "``calculator``, ``memory`` and three specialists on the embedded model "
            "(``arithmetic``, ``summarizer``, ``assistant``)."
        ),
    )
    models: dict[str, ModelEntry] = Field(
        default={},
        description=(
            "Model backends by name; specialists that name none use ``default`` (the embedded "
            "model unless the file sets ``[models.default]``). The shorthand "
            '``big = "http://gpu:30000"`` is an SGLang server at that URL.'
        ),
    )
    routing: RoutingConfig = Field(
        default=RoutingConfig(),
        description=(
            "The router agent: the MCP tool ``effmesh.run``, the ACP agent ``effmesh``, the "
            "default skill of the gateway's own A2A agent."
        ),
    )
    federation: FederationConfig = Field(
        default=FederationConfig(),
        description=(
            "Gateways linked into one mesh. Federation is on when the variable ``token_env`` "
            "names holds a token: the gateway then accepts peer gateways on ``/ws`` that "
            "present it, and joins the ``join`` URLs with it."
        ),
    )
    telemetry: TelemetryConfig = Field(
        default=TelemetryConfig(), description="Traces and metrics (OpenTelemetry)."
    )
    oidc: OidcTable = Field(
        default=OidcConfig(),
        description=(
            "Callers signed in with an OpenID provider (the gateway as an OAuth resource "
            "server), and each user's own credentials for upstream agents that require OAuth."
        ),
    )

    def config(self) -> Config:
        models = dict(self.models)
        models.setdefault("default", ModelConfig("default"))
        return Config(
            **{name: getattr(self.gateway, name) for name in GATEWAY_KEYS},
            tokens=tuple(sorted(self.tokens.items())),
            agents=self.agents,
            models=tuple(models.values()),
            routing=self.routing,
            federation=self.federation,
            telemetry=self.telemetry,
            oidc=self.oidc,
        )


def validate(doc: dict[str, Any], *, file: str | None = None) -> SettingsFile:
    """The document (a parsed TOML file) checked against every table's model.

    Raises:
        SettingsError: the first unknown, mistyped or out-of-range setting, named by its key.
    """
    if "models" in doc:
        try:
            doc = {**doc, "models": named_entries(doc["models"])}
        except Invalid as exc:
            raise SettingsError(("models", *exc.key), exc.reason, file=file) from None
    try:
        # TOML dates and times have no JSON form; as strings they are refused where they
        # do not belong, like any other wrong type.
        return SettingsFile.model_validate_json(json.dumps(doc, default=str), strict=True)
    except ValidationError as exc:
        raise from_validation(exc, file=file) from None


def read(path: str | Path) -> dict[str, Any]:
    """The TOML document at ``path``.

    Raises:
        SettingsError: the file cannot be read or is not TOML.
    """
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError((), f"cannot be read ({exc.strerror})", file=str(path)) from None
    except UnicodeDecodeError:
        raise SettingsError((), "is not UTF-8 text", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError((), f"is not valid TOML: {exc}", file=str(path)) from None


def _known_model(config: Config, name: str, key: Key, file: str | None) -> None:
    try:
        config.model(name)
    except SettingsError:
        raise SettingsError(key, f"no [models] entry is called {name!r}", file=file) from None


def load(path: str | Path | None, **overrides: Any) -> Config:
    """Settings from the file at ``path`` (None: the defaults), and on top the non-None
    ``overrides``: keys of the ``[gateway]`` table, and ``join``, more federation URLs.

    Overrides are checked like the file's settings; their errors name the key, not the file.
    Every model a specialist, the router or an agent's sampling names must exist.

    Raises:
        SettingsError: the file cannot be read or is not TOML, or a setting is unknown,
            mistyped, out of range or names a missing model.
        TypeError: an override that is not a ``[gateway]`` key or ``join``.
    """
    file = None if path is None else str(path)
    parsed = validate(read(path), file=file) if path is not None else SettingsFile()
    join = tuple(overrides.pop("join", None) or ())
    given = {k: v for k, v in overrides.items() if v is not None}
    if set(given) - GATEWAY_KEYS:
        raise TypeError(f"not a [gateway] setting: {sorted(set(given) - GATEWAY_KEYS)[0]!r}")
    if given:
        table = {**asdict(parsed.gateway), **given}
        parsed = parsed.model_copy(update={"gateway": validate({"gateway": table}).gateway})
    if join:
        federation = asdict(parsed.federation)
        federation["join"] = [*parsed.federation.join]
        federation["join"] += [u for u in join if u not in parsed.federation.join]
        checked = validate({"federation": federation}).federation
        parsed = parsed.model_copy(update={"federation": checked})
    config = parsed.config()
    for origin in config.federation.unkeyed_origins():
        raise SettingsError(
            ("federation", "keys"),
            f"has no key for gateway {origin!r}, whose callers [federation.principals] maps: "
            "its calls' caller claims could not be verified",
            file=file,
        )
    for i, entry in enumerate(config.agents):
        if entry.kind == "specialist" or entry.sampling == "model":
            _known_model(config, entry.model, ("agents", i, "model"), file)
    _known_model(config, config.routing.model, ("routing", "model"), file)
    remote = {e.name for e in config.agents if e.kind in ("mcp", "a2a", "acp") and e.url}
    for name in config.oidc.upstreams:
        if name not in remote:
            key = ("oidc", "upstreams", name)
            raise SettingsError(key, "names no remote agent with a url", file=file)
    return config
