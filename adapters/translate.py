"""Any protocol into any other, always through the canonical model.

For each protocol this module knows the wire form of three kinds of message:

- ``request``: MCP ``tools/call`` JSON-RPC request, A2A ``SendMessage`` JSON-RPC request,
  ACP ``RunCreateRequest`` body (its trace context travels in HTTP headers);
- ``result``: MCP ``CallToolResult``, A2A ``SendMessageResponse``, ACP ``Run``;
- ``agent``: MCP ``ListToolsResult``, A2A ``AgentCard``, ACP ``AgentsListResponse``.

A message that cannot be decoded, or whose content the target cannot carry, raises
:class:`TranslationError` holding the error in the *source* protocol's wire form: the caller
who sent the message is the one who must hear about it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from adapters import _json, a2a, acp, jsonrpc, mcp
from adapters.errors import EffmeshError, InvalidParams, as_effmesh_error
from adapters.model import AgentDescriptor, Invocation, Outcome

Protocol = Literal["mcp", "a2a", "acp"]
Kind = Literal["request", "result", "agent"]
PROTOCOLS: Final[tuple[Protocol, ...]] = ("mcp", "a2a", "acp")
DIRECTIONS: Final[tuple[tuple[Protocol, Protocol], ...]] = tuple(
    (s, t) for s in PROTOCOLS for t in PROTOCOLS if s != t
)


@dataclass(frozen=True, slots=True)
class Wire:
    """A protocol message: its JSON body and, for HTTP-bound protocols, headers."""

    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    id: jsonrpc.RequestId | None = None


class TranslationError(Exception):
    """A translation failed; ``wire`` is the error in the source protocol's form."""

    def __init__(self, error: EffmeshError, wire: bytes) -> None:
        super().__init__(error.public_message)
        self.error = error
        self.wire = wire


def _new_id() -> str:
    return uuid.uuid4().hex


# --- requests --------------------------------------------------------------------------------


def decode_request(source: Protocol, wire: Wire, *, skill: str | None = None) -> Invocation:
    body = wire.body
    if source == "acp":
        return acp.decode_invocation(_json_object(body), headers=wire.headers)
    req = jsonrpc.request_from_json(body)
    if source == "mcp":
        decoded = mcp.decode_request(req)
        if isinstance(decoded, Invocation):
            return decoded
    else:
        try:
            return a2a.decode_invocation(req.params, method=req.method, skill=skill)
        except EffmeshError as exc:
            raise jsonrpc.EnvelopeError(exc, req.id) from None
    raise jsonrpc.EnvelopeError(InvalidParams(f"{req.method!r} is not a tool call"), req.id)


def encode_request(target: Protocol, inv: Invocation, *, id: jsonrpc.RequestId | None) -> Wire:
    if target == "acp":
        body, headers = acp.encode_invocation(inv)
        return Wire(body, headers)
    rid = id if id is not None else _new_id()
    if target == "mcp":
        return Wire(jsonrpc.request(rid, "tools/call", mcp.encode_invocation(inv)), id=rid)
    method, params = a2a.encode_invocation(inv)
    return Wire(jsonrpc.request(rid, method, params), id=rid)


# --- results ---------------------------------------------------------------------------------


def decode_result(source: Protocol, wire: Wire) -> Outcome:
    body = _json_object(wire.body)
    if source == "mcp":
        return mcp.decode_outcome(body)
    if source == "a2a":
        return a2a.decode_outcome(body)
    return acp.decode_outcome(body)


def encode_result(target: Protocol, outcome: Outcome, *, agent_name: str = "agent") -> Wire:
    if target == "mcp":
        return Wire(mcp.encode_outcome(outcome))
    if target == "a2a":
        return Wire(a2a.encode_outcome(outcome))
    return Wire(acp.encode_outcome(outcome, agent_name=agent_name))


# --- agents ----------------------------------------------------------------------------------


def decode_agent(source: Protocol, wire: Wire, *, name: str = "agent") -> AgentDescriptor:
    body = _json_object(wire.body)
    if source == "mcp":
        return mcp.decode_agent(body, name=name)
    if source == "a2a":
        return a2a.decode_agent(body)
    manifests = body.get("agents")
    if type(manifests) is not list:
        raise InvalidParams("must be an array", path="agents")
    agents = [acp.decode_agent(_json_object(m)) for m in manifests]
    skills = tuple(s for a in agents for s in a.skills)
    return AgentDescriptor(name, skills)


def encode_agent(target: Protocol, agent: AgentDescriptor) -> Wire:
    if target == "mcp":
        return Wire(mcp.encode_agent(agent))
    if target == "a2a":
        return Wire(a2a.encode_agent(agent))
    return Wire({"agents": acp.encode_agent(agent)})


# --- errors ----------------------------------------------------------------------------------


def error_wire(protocol: Protocol, exc: BaseException, id: jsonrpc.RequestId | None) -> Any:
    """The error in ``protocol``'s wire form (the one mapping of each adapter)."""
    err = as_effmesh_error(exc)
    if protocol == "mcp":
        return mcp.error_response(err, id)
    if protocol == "a2a":
        return a2a.jsonrpc_error(err, id)
    status, body = acp.encode_error(err)
    return {"status": status, "body": body}


def _json_object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise InvalidParams("the message must be a JSON object")
    return value


# --- one call --------------------------------------------------------------------------------


def translate(
    kind: Kind, source: Protocol, target: Protocol, wire: Wire, *, skill: str | None = None
) -> Wire:
    """Translate one decoded message.

    Raises:
        TranslationError: the message is bad, or the target cannot carry its content.
    """
    rid = wire.body.get("id") if type(wire.body) is dict else None
    rid = rid if type(rid) in (str, int) else None
    try:
        if kind == "request":
            return encode_request(target, decode_request(source, wire, skill=skill), id=rid)
        if kind == "result":
            return encode_result(target, decode_result(source, wire))
        return encode_agent(target, decode_agent(source, wire))
    except jsonrpc.EnvelopeError as exc:
        wire_error = _json.dumps(error_wire(source, exc.error, exc.id))
        raise TranslationError(exc.error, wire_error) from None
    except EffmeshError as exc:
        raise TranslationError(exc, _json.dumps(error_wire(source, exc, rid))) from None


def translate_bytes(
    kind: Kind,
    source: Protocol,
    target: Protocol,
    raw: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    skill: str | None = None,
) -> bytes:
    """Bytes in, bytes out: the whole hot path of a translating hop (parse, map, serialize)."""
    try:
        body = _json.loads(raw)
    except EffmeshError as exc:
        raise TranslationError(exc, _json.dumps(error_wire(source, exc, None))) from None
    out = translate(kind, source, target, Wire(body, headers or {}), skill=skill)
    return _json.dumps(out.body)


DIRECTION_RULES: Final[tuple[tuple[str, str], ...]] = tuple(
    (f"direction.{s}->{t}.{kind}", f"{s.upper()} {kind} -> canonical -> {t.upper()} {kind}")
    for s, t in DIRECTIONS
    for kind in ("request", "result", "agent")
)
"""The end-to-end rules: each direction of each kind of message."""
