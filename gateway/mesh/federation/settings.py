"""The ``[federation]`` table of effmesh.toml.

    [federation]
    name = "gw-a"                          # this gateway's id in the mesh: unique across it
                                           # (default: "<hostname>-<port>")
    join = ["wss://gw-b.example:8640/ws"]  # gateways to link to (also: serve --join URL)
    token_env = "EFFMESH_FEDERATION_TOKEN" # the shared federation token, from this variable
    max_hops = 4                           # gateways an announcement or a call may cross
    heartbeat_seconds = 5.0                # a link silent for 3 heartbeats is dropped
    reconnect_max_seconds = 10.0           # backoff cap between attempts to rejoin
    ca_file = ""                           # CA bundle for wss:// peers ("": the system's)

Federation is on when the token variable holds a token: the gateway then accepts peer
gateways on ``/ws`` that present it, and joins the ``join`` URLs with it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, fields
from typing import Any, Final

from adapters.errors import InvalidParams
from adapters.mesh import GATEWAY_ID_PATTERN

FEDERATION: Final = "federation"
"""The principal of the federation token: calls that arrive from peer gateways run as it."""
ID_PATTERN_TEXT: Final = GATEWAY_ID_PATTERN


@dataclass(frozen=True, slots=True)
class FederationConfig:
    name: str = ""
    join: tuple[str, ...] = ()
    token_env: str = "EFFMESH_FEDERATION_TOKEN"
    max_hops: int = 4
    heartbeat_seconds: float = 5.0
    reconnect_max_seconds: float = 10.0
    ca_file: str = ""

    @property
    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None

    def gateway_id(self, port: int) -> str:
        return self.name or f"{socket.gethostname()}-{port}"


def parse(raw: Any, join: tuple[str, ...] = ()) -> FederationConfig:
    """The table (None: absent), with ``join`` URLs from the command line added.

    Raises:
        InvalidParams: an unknown key, a wrong type or a value out of range.
    """
    where = "federation"
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise InvalidParams("must be a table", path=where)
    unknown = sorted(set(raw) - {f.name for f in fields(FederationConfig)})
    if unknown:
        raise InvalidParams(f"unknown setting {unknown[0]!r}", path=where)
    defaults = FederationConfig()
    values: dict[str, Any] = {}
    for f in fields(FederationConfig):
        value = raw.get(f.name, getattr(defaults, f.name))
        expected = type(getattr(defaults, f.name))
        if f.name == "join":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise InvalidParams("must be a list of ws:// or wss:// URLs", path=f"{where}.join")
            value = tuple(value)
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise InvalidParams(f"must be {expected.__name__}", path=f"{where}.{f.name}")
        values[f.name] = value
    values["join"] = (*values["join"], *(u for u in join if u not in values["join"]))
    config = FederationConfig(**values)
    for url in config.join:
        if not url.startswith(("ws://", "wss://")):
            raise InvalidParams(f"{url!r} must be a ws:// or wss:// URL", path=f"{where}.join")
    if config.name and not re.match(ID_PATTERN_TEXT, config.name):
        raise InvalidParams(f"must match {ID_PATTERN_TEXT}", path=f"{where}.name")
    if not 1 <= config.max_hops <= 16:
        raise InvalidParams("must be between 1 and 16", path=f"{where}.max_hops")
    if config.heartbeat_seconds <= 0 or config.reconnect_max_seconds <= 0:
        raise InvalidParams("must be positive", path=f"{where}.heartbeat_seconds")
    return config
