"""A2A JSON-RPC requests <-> canonical invocations, cancels and task reads.

The skill a message is for: request metadata ``effmesh.skill`` when present, else the agent
addressed by the URL (the ``skill`` argument). Trace context rides in the message metadata
(``traceparent``, ``tracestate``, ``baggage``), since the A2A SDK does not carry it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from adapters import _wire as w
from adapters import jsonrpc
from adapters.a2a.content import IdFactory, decode_message, encode_message, new_id
from adapters.errors import CannotCarry, EffmeshError, InvalidParams, MethodNotFound
from adapters.model import EMPTY, Cancel, GetTask, Invocation, Mode
from adapters.trace import join_trace, split_trace

SEND: Final = "SendMessage"
SEND_STREAMING: Final = "SendStreamingMessage"
SKILL_KEY: Final = "effmesh.skill"
PROGRESS_META_KEY: Final = "effmesh.progressToken"
CONFIG_KEY: Final = "a2a.configuration"
TENANT_KEY: Final = "a2a.tenant"
TARGET: Final = "A2A SendMessage"

METHODS: Final = frozenset(
    {
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "ListTasks",
        "CancelTask",
        "SubscribeToTask",
        "CreateTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
        "ListTaskPushNotificationConfigs",
        "DeleteTaskPushNotificationConfig",
        "GetExtendedAgentCard",
    }
)
"""Every A2A 1.0 JSON-RPC method."""


def decode_invocation(
    params: dict[str, Any], *, method: str = SEND, skill: str | None = None
) -> Invocation:
    path = "params"
    message = decode_message(w.req_obj(params, "message", path), f"{path}.message")
    trace, message_meta = split_trace(message.metadata)
    if trace is not None:
        message = replace(message, metadata=message_meta or EMPTY)
    meta = dict(w.opt_obj(params, "metadata", path) or {})
    named = meta.pop(SKILL_KEY, None)
    if named is not None and type(named) is not str:
        raise InvalidParams("must be a string", path=f"{path}.metadata.{SKILL_KEY}")
    target = named or skill
    if not target:
        raise InvalidParams("names no skill", path=f"{path}.metadata.{SKILL_KEY}")
    token = w.opt_id(meta, PROGRESS_META_KEY, f"{path}.metadata")
    meta.pop(PROGRESS_META_KEY, None)
    config = w.opt_obj(params, "configuration", path)
    mode: Mode = "stream" if method == SEND_STREAMING else "sync"
    if config is not None:
        meta[CONFIG_KEY] = config
        if mode == "sync" and w.opt_bool(config, "returnImmediately", f"{path}.configuration"):
            mode = "async"
    tenant = w.opt_str(params, "tenant", path)
    if tenant is not None:
        meta[TENANT_KEY] = tenant
    return Invocation(target, message, mode, (), token, trace, meta or EMPTY)


def encode_invocation(inv: Invocation, new_id: IdFactory = new_id) -> tuple[str, dict[str, Any]]:
    """(method, params) of the A2A request for ``inv``.

    Raises:
        CannotCarry: the invocation has a conversation history (A2A sends one message and
            keeps the history on the agent's side, by context id).
    """
    if inv.history:
        raise CannotCarry(f"a conversation history of {len(inv.history)} messages", TARGET)
    message = inv.message
    meta_in = join_trace(inv.trace, message.metadata)
    wire_message = encode_message(replace(message, metadata=meta_in or EMPTY), new_id)
    params: dict[str, Any] = {"message": wire_message}
    meta: dict[str, Any] = {}
    config: dict[str, Any] | None = None
    for key, value in inv.metadata.items():
        if key == CONFIG_KEY:
            config = dict(value)
        elif key == TENANT_KEY:
            params["tenant"] = value
        else:
            meta[key] = value
    if inv.mode == "async":
        config = {**(config or {}), "returnImmediately": True}
    if config is not None:
        params["configuration"] = config
    meta[SKILL_KEY] = inv.skill
    if inv.progress_token is not None:
        meta[PROGRESS_META_KEY] = inv.progress_token
    params["metadata"] = meta
    return (SEND_STREAMING if inv.mode == "stream" else SEND), params


def decode_cancel(params: dict[str, Any]) -> Cancel:
    meta = dict(w.opt_obj(params, "metadata", "params") or {})
    tenant = w.opt_str(params, "tenant", "params")
    if tenant is not None:
        meta[TENANT_KEY] = tenant
    return Cancel(w.req_str(params, "id", "params"), None, meta or EMPTY)


def encode_cancel(cancel: Cancel) -> dict[str, Any]:
    params: dict[str, Any] = {"id": str(cancel.target_id)}
    meta = dict(cancel.metadata)
    if TENANT_KEY in meta:
        params["tenant"] = meta.pop(TENANT_KEY)
    if cancel.reason is not None:
        meta["effmesh.reason"] = cancel.reason
    w.put(params, "metadata", meta or None)
    return params


def decode_get_task(params: dict[str, Any]) -> GetTask:
    tenant = w.opt_str(params, "tenant", "params")
    return GetTask(
        w.req_str(params, "id", "params"),
        w.opt_int(params, "historyLength", "params"),
        {TENANT_KEY: tenant} if tenant is not None else EMPTY,
    )


def encode_get_task(get: GetTask) -> dict[str, Any]:
    params: dict[str, Any] = {"id": get.task_id}
    w.put(params, "historyLength", get.history_length)
    if TENANT_KEY in get.metadata:
        params["tenant"] = get.metadata[TENANT_KEY]
    return params


def parse_request(raw: bytes | str) -> jsonrpc.Request:
    """Raises jsonrpc.EnvelopeError for bytes that are not one JSON-RPC request."""
    return jsonrpc.parse_request(raw)


def decode_request(
    req: jsonrpc.Request, *, skill: str | None = None
) -> Invocation | Cancel | GetTask | jsonrpc.Request:
    """The canonical value of an A2A request; other A2A methods come back as the request.

    Raises:
        jsonrpc.EnvelopeError: wrapping MethodNotFound or InvalidParams, with the request id.
    """
    try:
        if req.method in (SEND, SEND_STREAMING):
            return decode_invocation(req.params, method=req.method, skill=skill)
        if req.method == "CancelTask":
            return decode_cancel(req.params)
        if req.method in ("GetTask", "SubscribeToTask"):
            return decode_get_task(req.params)
        if req.method in METHODS:
            return req
        raise MethodNotFound(req.method)
    except EffmeshError as exc:
        raise jsonrpc.EnvelopeError(exc, req.id) from None
