"""Mesh frames to JSON-RPC 2.0 messages and back (sans-I/O).

Decoding checks every field a method defines and raises ``jsonrpc.EnvelopeError`` wrapping
the typed error (ParseError, InvalidRequest, MethodNotFound, InvalidParams) with the id to
answer: the request's, or None when the message is a reply or its id could not be read. Its
``owed`` says whether to answer at all: a request is answered, and so is a message that is
not JSON or not a well-formed request (with ``id: null``); a reply or a notification never
is. Errors travel as A2A's JSON-RPC errors, which name the canonical error code, so the far
side rebuilds the same canonical error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, assert_never

from adapters import _json, a2a, jsonrpc
from adapters import _wire as w
from adapters.a2a.calls import SEND
from adapters.a2a.cards import INTERFACES_KEY
from adapters.errors import (
    CannotCarry,
    EffmeshError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
)
from adapters.jsonrpc import RequestId
from adapters.mesh.frames import (
    ANNOUNCE,
    CANCEL,
    EVENT,
    GATEWAY_ID_PATTERN,
    HELLO,
    MAX_MESSAGE_ID,
    MAX_PATH,
    PING,
    REGISTER,
    RUN,
    SPEAKS_KEY,
    WITHDRAW,
    Announce,
    Cancel,
    Event,
    Forwarding,
    Frame,
    Hello,
    Ping,
    Received,
    Register,
    Reply,
    Run,
    Version,
    Waiting,
    Withdraw,
)
from adapters.model import AgentDescriptor

_GATEWAY_ID: Final = re.compile(GATEWAY_ID_PATTERN)
_FORWARDING_KEYS: Final = frozenset(
    {"message", "hops", "visited", "history", "principal", "claim", "mode", "resume"}
)
MAX_PRINCIPAL: Final = 256
MAX_CLAIM: Final = 2048
"""The longest token name a forwarded call may carry."""


# --- messages ------------------------------------------------------------------------------


def parse(raw: bytes | str, *, max_bytes: int = _json.MAX_BYTES) -> Received:
    """The frame or reply in the bytes of one WebSocket message.

    Raises:
        jsonrpc.EnvelopeError: see :func:`decode`; also wrapping ParseError or PayloadTooLarge.
    """
    try:
        msg = _json.loads(raw, max_bytes=max_bytes)
    except EffmeshError as exc:
        raise jsonrpc.EnvelopeError(exc, None, owed=True) from None
    return decode(msg)


def decode(msg: Any) -> Received:
    """The frame or reply of one decoded JSON-RPC message.

    Raises:
        jsonrpc.EnvelopeError: wrapping InvalidRequest (a bad envelope, a request that needs an
            id and has none), MethodNotFound or InvalidParams, with the id to answer.
    """
    if type(msg) is dict and "method" not in msg:
        return _decode_reply(msg)
    req = jsonrpc.request_from_json(msg)
    try:
        decoder = _DECODERS.get(req.method)
        if decoder is None:
            raise MethodNotFound(req.method)
        return decoder(req)
    except EffmeshError as exc:
        raise jsonrpc.EnvelopeError(exc, req.id) from None


def encode(frame: Frame) -> dict[str, Any]:
    """The JSON-RPC message of ``frame``.

    Raises:
        CannotCarry: a :class:`Run` without ``forwarding`` whose invocation has a history or
            that resumes a task.
        InvalidParams: canonical values A2A's JSON forms cannot hold (see ``adapters.a2a``).
    """
    match frame:
        case Register():
            cards = [a2a.encode_agent(d) for d in frame.agents]
            return jsonrpc.request(frame.id, REGISTER, {"agents": cards})
        case Run():
            return jsonrpc.request(frame.call, RUN, _run_params(frame))
        case Event():
            item = a2a.encode_stream_item(frame.item)
            params: dict[str, Any] = {"call": frame.call, "item": item}
            if frame.waiting is not None:
                params["waiting"] = _encode_waiting(frame.waiting)
            return jsonrpc.request(None, EVENT, params)
        case Cancel():
            return jsonrpc.request(None, CANCEL, {"call": frame.call})
        case Hello():
            return jsonrpc.request(frame.id, HELLO, _hello_params(frame.gateway, frame.frames))
        case Announce():
            params = {
                "origin": frame.origin,
                "version": list(frame.version),
                "path": list(frame.path),
                "agents": list(frame.agents),
            }
            return jsonrpc.request(None, ANNOUNCE, params)
        case Withdraw():
            return jsonrpc.request(None, WITHDRAW, {"origin": frame.origin})
        case Ping():
            return jsonrpc.request(None, PING, {})
        case _:
            assert_never(frame)


# --- replies -------------------------------------------------------------------------------


def encode_register_result(id: RequestId, names: Sequence[str]) -> dict[str, Any]:
    return jsonrpc.result(id, {"registered": list(names)})


def encode_run_result(call: RequestId) -> dict[str, Any]:
    """The end of a call that ran to its outcome (its items went before, as events)."""
    return jsonrpc.result(call, {})


def encode_hello_result(id: RequestId, gateway: str, frames: int = 1) -> dict[str, Any]:
    """The accepting gateway's answer to a hello: its id and frame set (``frames``)."""
    return jsonrpc.result(id, _hello_params(gateway, frames))


def decode_hello_result(reply: Reply) -> str:
    """The id of the gateway that accepted a hello.

    Raises:
        EffmeshError: the error the gateway answered with, or InvalidParams for a result
            without a valid gateway id.
    """
    if reply.error is not None:
        raise reply.error
    return _gateway_id(reply.result.get("gateway"), "result.gateway")


def decode_hello_frames(reply: Reply) -> int:
    """The frame set of the gateway that accepted a hello (1: it names none).

    Raises:
        InvalidParams: ``frames`` is not a positive integer.
    """
    return _frames(reply.result, "result")


def _hello_params(gateway: str, frames: int) -> dict[str, Any]:
    # Set 1 is the hello a gateway that knows no frame sets sends: leave the field out.
    return {"gateway": gateway} if frames == 1 else {"gateway": gateway, "frames": frames}


def _frames(d: Mapping[str, Any], path: str) -> int:
    frames = d.get("frames", 1)
    if type(frames) is not int or frames < 1:
        raise InvalidParams("must be a positive integer", path=f"{path}.frames")
    return frames


def encode_error(exc: BaseException, id: RequestId | None) -> dict[str, Any]:
    """The error reply for ``exc``; a foreign exception becomes a generic internal error."""
    return a2a.jsonrpc_error(exc, id)


def _request_id(value: Any) -> RequestId | None:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _decode_reply(msg: dict[str, Any]) -> Reply:
    try:
        if msg.get("jsonrpc") != jsonrpc.VERSION:
            raise InvalidRequest('"jsonrpc" must be "2.0"')
        rid = _request_id(msg.get("id"))
        if rid is None:
            raise InvalidRequest('a reply needs a string or integer "id"')
        if "error" in msg:
            return Reply(rid, error=a2a.decode_error(msg["error"]))
        result = msg.get("result")
        if type(result) is not dict:
            raise InvalidRequest('a reply needs a "result" object or an "error"')
        return Reply(rid, result)
    except EffmeshError as exc:
        raise jsonrpc.EnvelopeError(exc, None) from None


# --- cards ---------------------------------------------------------------------------------


def encode_card(descriptor: AgentDescriptor, *, speaks: str | None = None) -> dict[str, Any]:
    """The card a gateway announces an agent by (in ``mesh/announce``): no address of the
    agent's own, since peers call it through the announcing gateway. ``speaks``: the
    protocol whose answers the gateway passes on from the agent as they were (``"a2a"``).

    Raises:
        InvalidParams: an ``a2a.*`` metadata key of the wrong shape.
    """
    meta = {k: v for k, v in descriptor.metadata.items() if k not in (INTERFACES_KEY, SPEAKS_KEY)}
    if speaks is not None:
        meta[SPEAKS_KEY] = speaks
    return a2a.encode_agent(replace(descriptor, url=None, metadata=meta))


def decode_card(card: Mapping[str, Any]) -> tuple[AgentDescriptor, str | None]:
    """The agent an announced card describes, and the protocol it speaks itself when its
    gateway passes its answers on as they were (None: the gateway translates them).

    Raises:
        InvalidParams: not a valid A2A agent card.
    """
    descriptor = a2a.decode_agent(card)
    if SPEAKS_KEY not in descriptor.metadata:
        return descriptor, None
    speaks = descriptor.metadata[SPEAKS_KEY]
    meta = {k: v for k, v in descriptor.metadata.items() if k != SPEAKS_KEY}
    return replace(descriptor, metadata=meta), speaks if type(speaks) is str else None


# --- field checks --------------------------------------------------------------------------


def _gateway_id(value: Any, path: str) -> str:
    if type(value) is not str or not _GATEWAY_ID.match(value):
        raise InvalidParams(f"must be a gateway id matching {GATEWAY_ID_PATTERN}", path=path)
    return value


def _gateway_path(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_PATH:
        raise InvalidParams("must be a list of gateway ids", path=path)
    return tuple(_gateway_id(v, path) for v in value)


def _version(value: Any) -> Version:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) is int and v >= 0 for v in value)
    ):
        return value[0], value[1]
    raise InvalidParams("must be [epoch, seq]", path="params.version")


def _waiting(value: Any, path: str) -> Waiting:
    d = w.obj(value, path)
    task = d.get("task")
    if type(task) is not str or not 0 < len(task) <= MAX_MESSAGE_ID:
        raise InvalidParams("must be a task handle", path=f"{path}.task")
    return Waiting(_gateway_id(d.get("gateway"), f"{path}.gateway"), task)


def _encode_waiting(waiting: Waiting) -> dict[str, str]:
    return {"gateway": waiting.gateway, "task": waiting.task}


def _needs_id(req: jsonrpc.Request) -> RequestId:
    if req.id is None:
        raise InvalidRequest(f"{req.method} needs an id")
    return req.id


# --- each method's params ------------------------------------------------------------------


def _decode_register(req: jsonrpc.Request) -> Register:
    cards = w.req_arr(req.params, "agents", "params")
    return Register(req.id, tuple(a2a.decode_agent(card) for card in cards))


def _run_params(frame: Run) -> dict[str, Any]:
    invocation = replace(frame.invocation, mode="sync")
    forwarding = frame.forwarding
    if forwarding is None:
        if frame.resume is not None:
            raise CannotCarry("a task to resume", "a dial-in peer's mesh/run")
        _, params = a2a.encode_invocation(invocation)
        return {"agent": frame.agent, "params": params}
    _, params = a2a.encode_invocation(replace(invocation, history=()))
    out = {
        "agent": frame.agent,
        "params": params,
        "history": [a2a.encode_message(m) for m in invocation.history],
        "message": forwarding.message,
        "hops": forwarding.hops,
        "visited": list(forwarding.visited),
        **({} if forwarding.principal is None else {"principal": forwarding.principal}),
        **({} if forwarding.claim is None else {"claim": forwarding.claim}),
    }
    if frame.invocation.mode == "stream":
        out["mode"] = "stream"
    if frame.resume is not None:
        out["resume"] = _encode_waiting(frame.resume)
    return out


def _decode_run(req: jsonrpc.Request) -> Run:
    call = _needs_id(req)
    p = req.params
    agent = w.req_str(p, "agent", "params")
    forwarding = None
    if _FORWARDING_KEYS & p.keys():
        message = p.get("message")
        if type(message) is not str or not 0 < len(message) <= MAX_MESSAGE_ID:
            raise InvalidParams("must be a message id", path="params.message")
        visited = _gateway_path(p.get("visited"), "params.visited")
        hops = p.get("hops")
        if type(hops) is not int or hops < 1:
            raise InvalidParams("must be a positive integer", path="params.hops")
        principal = p.get("principal")
        if principal is not None and (
            type(principal) is not str or not 0 < len(principal) <= MAX_PRINCIPAL
        ):
            raise InvalidParams("must be a token name", path="params.principal")
        claim = p.get("claim")
        if claim is not None and (type(claim) is not str or not 0 < len(claim) <= MAX_CLAIM):
            raise InvalidParams("must be a signed claim", path="params.claim")
        forwarding = Forwarding(message, hops, visited, principal, claim)
    invocation = a2a.decode_invocation(p.get("params"), method=SEND)
    resume = None
    if forwarding is not None:
        history = w.opt_arr(p, "history", "params")
        mode = p.get("mode", "sync")
        if mode not in ("sync", "stream"):
            raise InvalidParams('must be "sync" or "stream"', path="params.mode")
        invocation = replace(
            invocation,
            mode=mode,
            history=tuple(
                a2a.decode_message(m, f"params.history[{i}]") for i, m in enumerate(history)
            ),
        )
        if "resume" in p:
            resume = _waiting(p["resume"], "params.resume")
    return Run(call, agent, invocation, forwarding, resume)


def _decode_event(req: jsonrpc.Request) -> Event:
    p = req.params
    call = w.req_id(p, "call", "params")
    waiting = _waiting(p["waiting"], "params.waiting") if "waiting" in p else None
    return Event(call, a2a.decode_stream_item(p.get("item"), "params.item"), waiting)


def _decode_cancel(req: jsonrpc.Request) -> Cancel:
    return Cancel(w.req_id(req.params, "call", "params"))


def _decode_hello(req: jsonrpc.Request) -> Hello:
    gateway = _gateway_id(req.params.get("gateway"), "params.gateway")
    return Hello(_needs_id(req), gateway, _frames(req.params, "params"))


def _decode_announce(req: jsonrpc.Request) -> Announce:
    p = req.params
    origin = _gateway_id(p.get("origin"), "params.origin")
    path = _gateway_path(p.get("path"), "params.path")
    agents = p.get("agents")
    if not isinstance(agents, list) or not all(isinstance(a, dict) for a in agents):
        raise InvalidParams("must be a list of agent cards", path="params.agents")
    return Announce(origin, _version(p.get("version")), path, tuple(agents))


def _decode_withdraw(req: jsonrpc.Request) -> Withdraw:
    return Withdraw(_gateway_id(req.params.get("origin"), "params.origin"))


def _decode_ping(req: jsonrpc.Request) -> Ping:
    return Ping()


_DECODERS: Final[Mapping[str, Callable[[jsonrpc.Request], Frame]]] = {
    REGISTER: _decode_register,
    RUN: _decode_run,
    EVENT: _decode_event,
    CANCEL: _decode_cancel,
    HELLO: _decode_hello,
    ANNOUNCE: _decode_announce,
    WITHDRAW: _decode_withdraw,
    PING: _decode_ping,
}
