"""Checks of the values peer gateways send, and the card a gateway announces its agents by."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from adapters import a2a
from adapters.a2a.cards import INTERFACES_KEY
from adapters.errors import InvalidParams
from adapters.model import AgentDescriptor
from gateway.mesh.federation.table import Version
from gateway.settings.federation import ID_PATTERN_TEXT

ID_PATTERN = re.compile(ID_PATTERN_TEXT)
MAX_PATH = 64


def card(descriptor: AgentDescriptor) -> dict[str, Any]:
    """The card announced to peers: no address of the agent's own (peers call through us)."""
    meta = {k: v for k, v in descriptor.metadata.items() if k != INTERFACES_KEY}
    return a2a.encode_agent(replace(descriptor, url=None, metadata=meta))


def version(value: Any) -> Version:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) is int and v >= 0 for v in value)
    ):
        return value[0], value[1]
    raise InvalidParams("must be [epoch, seq]", path="params.version")


def gateway_id(value: Any, path: str) -> str:
    if type(value) is not str or not ID_PATTERN.match(value):
        raise InvalidParams(f"must be a gateway id matching {ID_PATTERN_TEXT}", path=path)
    return value


def path(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_PATH:
        raise InvalidParams("must be a list of gateway ids", path=where)
    return tuple(gateway_id(v, where) for v in value)
