"""The gateway's A2A agent cards: one for the gateway itself and one per agent, each listing
the bindings the gateway serves it on, served as JSON with whole numbers kept whole.

a2a-sdk serves a card through protobuf, whose ``Struct`` turns every number of a skill's schema
into a double (``"maxLength": 128.0``); the card routes here serve the same JSON with those
numbers as the integers they were (``adapters.a2a.numbers``), with an ETag to revalidate by.
"""

from __future__ import annotations

import email.utils
import hashlib
from dataclasses import replace
from typing import Final

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters import _json, a2a
from adapters.a2a.numbers import whole_numbers
from adapters.model import AgentDescriptor
from gateway.registry import Registry

CACHE_CONTROL: Final = "max-age=0, must-revalidate"
"""A card changes as agents come and go: a client revalidates it (by its ETag, or its
Last-Modified time: when the gateway built it) before reuse."""
PROTOCOL_VERSION: Final = "1.0"


def gateway_descriptor(registry: Registry, principal: str | None = None) -> AgentDescriptor:
    """The gateway as one A2A agent: the skills of every agent ``principal`` may call,
    named ``<agent>.<skill>``."""
    skills = tuple(replace(r.skill, name=r.tool_name) for r in registry.routes(principal))
    return AgentDescriptor("effmesh", skills, "Every agent of this effmesh gateway.", "0.1.0")


def card_for(
    descriptor: AgentDescriptor, url: str, grpc: str | None = None, *, tenant: str | None = None
) -> pb.AgentCard:
    """The card of ``descriptor`` served at ``url`` (JSON-RPC; HTTP+JSON under ``/rest``) and,
    with ``grpc`` (``host:port``), over gRPC too, where requests name the agent by
    ``tenant`` (``gateway.a2a.grpc``)."""
    wire = a2a.encode_agent(descriptor, url=url)
    card = pb.AgentCard()
    json_format.ParseDict(wire, card)
    del card.supported_interfaces[:]
    card.supported_interfaces.extend(
        [
            pb.AgentInterface(
                url=url, protocol_binding="JSONRPC", protocol_version=PROTOCOL_VERSION
            ),
            pb.AgentInterface(
                url=f"{url}/rest", protocol_binding="HTTP+JSON", protocol_version=PROTOCOL_VERSION
            ),
        ]
    )
    if grpc is not None:
        interface = pb.AgentInterface(
            url=grpc, protocol_binding="GRPC", protocol_version=PROTOCOL_VERSION
        )
        if tenant is not None:
            interface.tenant = tenant
        card.supported_interfaces.append(interface)
    card.capabilities.streaming = True
    card.description = card.description or f"{descriptor.name}, through effmesh"
    card.version = card.version or "1.0"
    if not card.default_input_modes:
        card.default_input_modes.extend(["text/plain", "application/json"])
    if not card.default_output_modes:
        card.default_output_modes.extend(["text/plain", "application/json"])
    return card


def _hits(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, RFC 9110 8.2.2)."""
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def card_routes(card: pb.AgentCard, paths: set[str]) -> list[Route]:
    """GET routes serving ``card`` at each of ``paths``."""
    body = _json.dumps(whole_numbers(agent_card_to_dict(card)))
    etag = f'W/"{hashlib.sha256(body).hexdigest()}"'
    built = email.utils.formatdate(usegmt=True)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Last-Modified": built}

    async def serve(request: Request) -> Response:
        asked = request.headers.get("if-none-match")
        if asked and _hits(asked, etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return [Route(path, serve, methods=["GET"]) for path in sorted(paths)]
