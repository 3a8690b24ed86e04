"""The ``[federation]`` table: gateways linked into one mesh over their ``/ws`` sockets.

Federation is on when the token variable holds a token: the gateway then accepts peer
gateways on ``/ws`` that present it, and joins the ``join`` URLs with it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final

from pydantic import AfterValidator, Field

from adapters.errors import quote
from adapters.mesh import GATEWAY_ID_PATTERN
from gateway.mesh.federation import claims

FEDERATION: Final = "federation"
"""The principal of the federation token: calls that arrive from peer gateways run as it."""
ID_PATTERN_TEXT: Final = GATEWAY_ID_PATTERN
"""What a gateway id looks like, in this table and in what peers send."""


def _ws_url(url: str) -> str:
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"must be a ws:// or wss:// URL, not {quote(url)}")
    return url


def _public_key(text: str) -> str:
    claims.public_key(text)  # raises ValueError with the reason
    return text


def _gateway_name(name: str) -> str:
    # Checked here rather than as a field pattern: "" (the default) is allowed and means a
    # name made from the host name.
    if name and not re.match(ID_PATTERN_TEXT, name):
        raise ValueError(f"must match {ID_PATTERN_TEXT}, not {quote(name)}")
    return name


@dataclass(frozen=True, slots=True)
class FederationConfig:
    """Gateways linked into one mesh, and how the links behave."""

    name: Annotated[str, AfterValidator(_gateway_name)] = ""
    """This gateway's id in the mesh, unique across it; empty: ``<hostname>-<port>``."""
    join: tuple[Annotated[str, AfterValidator(_ws_url)], ...] = ()
    """Mesh sockets of gateways to link to (``ws(s)://host:port/ws``); ``serve --join URL``
    adds more."""
    token_env: str = "EFFMESH_FEDERATION_TOKEN"
    """The environment variable holding the shared federation token; federation is on when
    it is set, and the token must differ from every caller's token."""
    max_hops: Annotated[int, Field(ge=1, le=16)] = 4
    """Gateways an announcement or a call may cross."""
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 5.0
    """How often a link is checked; a link silent for 3 heartbeats is dropped."""
    reconnect_max_seconds: Annotated[float, Field(gt=0)] = 10.0
    """The longest wait between attempts to rejoin a gateway."""
    ca_file: str = ""
    """CA bundle for ``wss://`` peers; empty: the system's."""
    principals: dict[str, str] = field(default_factory=dict)
    """Callers of other gateways, as ``"<gateway id>/<token name>"``, and the token name of
    this gateway each one's forwarded calls run as; any other forwarded call runs as
    ``federation``, which reaches only the agents open to every token (or naming it). Each
    gateway named here needs its public key in ``keys``: its calls must carry its signature."""
    keys: dict[str, Annotated[str, AfterValidator(_public_key)]] = field(default_factory=dict)
    """Public keys of other gateways by id, as ``effmesh federation-key`` prints them on
    each: a caller that ``principals`` maps is believed only with its gateway's signature."""
    key_file: str = ""
    """This gateway's signing key (Ed25519, PEM), made on first use; empty:
    ``federation.key`` in the data folder."""
    remote_allow: tuple[str, ...] = ("*",)
    """Token names of this gateway that may see and call agents offered by other gateways
    (``*``: every token)."""

    @property
    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None

    def unkeyed_origins(self) -> list[str]:
        """Gateways whose callers ``principals`` maps but whose key ``keys`` lacks."""
        origins = {who.partition("/")[0] for who in self.principals}
        return sorted(origins - self.keys.keys())

    def key_path(self, data_dir: str) -> Path:
        return Path(self.key_file) if self.key_file else Path(data_dir) / claims.KEY_FILE

    def gateway_id(self, port: int) -> str:
        return self.name or f"{socket.gethostname()}-{port}"
