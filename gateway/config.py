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

    [[agents]]
    name = "echo"
    kind = "echo"                    # built in; remote kinds: "mcp", "a2a", "acp"
    url = "http://..."               # for remote kinds
    allow = ["*"]                    # token names that may call it ("default" is token_env's)
    prefix = true                    # false: skills offered as "<skill>", not "<agent>.<skill>"

    [tokens]
    ide = "EFFMESH_TOKEN_IDE"        # another bearer token, named "ide"

Unknown keys are errors, so a typo does not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from adapters.errors import InvalidParams

__all__ = ["AgentConfig", "Config", "InvalidParams", "load"]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    name: str
    kind: str
    url: str | None = None
    command: tuple[str, ...] = ()
    allow: tuple[str, ...] = ("*",)
    prefix: bool = True


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
    tokens: tuple[tuple[str, str], ...] = ()
    """More named tokens: (name, environment variable), from the ``[tokens]`` table."""
    agents: tuple[AgentConfig, ...] = field(default_factory=lambda: (AgentConfig("echo", "echo"),))

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


def _agent(raw: Any, i: int) -> AgentConfig:
    where = f"agents[{i}]"
    if not isinstance(raw, dict):
        raise InvalidParams("must be a table", path=where)
    _check_keys(raw, {f.name for f in fields(AgentConfig)}, where)
    try:
        return AgentConfig(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            url=raw.get("url"),
            command=tuple(str(c) for c in raw.get("command", ())),
            allow=tuple(str(a) for a in raw.get("allow", ("*",))),
            prefix=_bool(raw.get("prefix", True), f"{where}.prefix"),
        )
    except KeyError as exc:
        raise InvalidParams("is required", path=f"{where}.{exc.args[0]}") from None


def load(path: str | Path | None, **overrides: Any) -> Config:
    """Settings from ``path`` (none: defaults), then non-None ``overrides`` on top.

    Raises:
        InvalidParams: the file is not TOML or has an unknown or mistyped setting.
    """
    settings: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidParams(f"{path} is not valid TOML: {exc}") from None
        _check_keys(doc, {"gateway", "agents", "tokens"}, str(path))
        gateway = doc.get("gateway", {})
        allowed = {f.name for f in fields(Config)} - {"agents"}
        _check_keys(gateway, allowed, "gateway")
        settings.update(gateway)
        if "tokens" in doc:
            table = doc["tokens"]
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise InvalidParams("must map names to environment variable names", path="tokens")
            settings["tokens"] = tuple(sorted(table.items()))
        if "agents" in doc:
            settings["agents"] = tuple(_agent(a, i) for i, a in enumerate(doc["agents"]))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    config = Config(**settings)
    for f in fields(Config):
        value = getattr(config, f.name)
        expected = type(getattr(Config(), f.name))
        widened = isinstance(value, int) and expected is float
        if f.name not in ("agents", "tokens") and not isinstance(value, expected) and not widened:
            raise InvalidParams(f"has the wrong type {type(value).__name__}", path=f.name)
    return config
