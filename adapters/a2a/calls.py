"""A2A request params <-> canonical invocations, cancels and task reads.

``SendMessageRequest`` -> Invocation. The skill is the request metadata's ``effmesh.skill``
when present, else the agent the URL addresses (the ``skill`` argument). Trace context rides
in the message metadata (``traceparent``, ``tracestate``, ``baggage``). The request fields
with no canonical slot (``configuration`` less what ``mode`` says, ``tenant``) ride in the
invocation metadata under ``a2a.configuration`` / ``a2a.tenant``, so a round trip is exact.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from adapters import _wire as w
from adapters.a2a.messages import IdFactory, decode_message, encode_message, new_id
from adapters.errors import CannotCarry, InvalidParams
from adapters.model import (
    EMPTY,
    Cancel,
    GetTask,
    Invocation,
    Message,
    Metadata,
    Mode,
    TraceContext,
)
from adapters.trace import join_trace, split_trace

SEND: Final = "SendMessage"
SEND_STREAMING: Final = "SendStreamingMessage"
SKILL_KEY: Final = "effmesh.skill"
PROGRESS_TOKEN_KEY: Final = "effmesh.progressToken"
CANCEL_REASON_KEY: Final = "effmesh.cancelReason"
CONFIG_KEY: Final = "a2a.configuration"
TENANT_KEY: Final = "a2a.tenant"
TARGET_SEND: Final = "A2A SendMessage"
TARGET_CANCEL: Final = "A2A CancelTask"
TARGET_GET: Final = "A2A GetTask"
TARGET_SUBSCRIBE: Final = "A2A SubscribeToTask"
_INT32_MAX: Final = 2**31 - 1
_IMMEDIATE: Final = "returnImmediately"


def _history_length(d: dict[str, Any], path: str) -> int | None:
    n = w.opt_int(d, "historyLength", path)
    if n is not None and not 0 <= n <= _INT32_MAX:
        raise InvalidParams("must be between 0 and 2**31-1", path=f"{path}.historyLength")
    return n


def _check_configuration(c: dict[str, Any], path: str) -> None:
    """Raises InvalidParams unless ``c`` is a valid ``SendMessageConfiguration``."""
    w.str_list(c, "acceptedOutputModes", path)
    _history_length(c, path)
    w.opt_bool(c, _IMMEDIATE, path)
    push = w.opt_obj(c, "taskPushNotificationConfig", path)
    if push is not None:
        ppath = f"{path}.taskPushNotificationConfig"
        w.req_str(push, "url", ppath)
        for key in ("tenant", "id", "taskId", "token"):
            w.opt_str(push, key, ppath)
        auth = w.opt_obj(push, "authentication", ppath)
        if auth is not None:
            w.req_str(auth, "scheme", f"{ppath}.authentication")
            w.opt_str(auth, "credentials", f"{ppath}.authentication")


def _token(meta: dict[str, Any], path: str) -> str | int | None:
    value = meta.get(PROGRESS_TOKEN_KEY)
    # Struct numbers are doubles: a token 7 that crossed a protobuf peer comes back as 7.0.
    if type(value) is float and value.is_integer():
        return int(value)
    return w.opt_id(meta, PROGRESS_TOKEN_KEY, path)


def _addressed(
    message: Message, meta: dict[str, Any], skill: str | None
) -> tuple[Message, TraceContext | None, str, str | int | None]:
    """(the message without its trace keys, the trace context, the skill, the progress token)
    of a request; the skill and token keys are taken out of the request metadata ``meta``."""
    trace, message_meta = split_trace(message.metadata)
    if trace is not None:
        message = replace(message, metadata=message_meta or EMPTY)
    named = meta.pop(SKILL_KEY, None)
    if named is not None and (type(named) is not str or not named):
        raise InvalidParams("must be a non-empty string", path=f"params.metadata.{SKILL_KEY}")
    target = named or skill
    if not target:
        raise InvalidParams(
            "is required (no agent is addressed)", path=f"params.metadata.{SKILL_KEY}"
        )
    token = _token(meta, "params.metadata")
    meta.pop(PROGRESS_TOKEN_KEY, None)
    return message, trace, target, token


def invocation_of(
    message: Message, metadata: dict[str, Any] | None, *, skill: str | None = None
) -> Invocation:
    """The sync Invocation of a ``SendMessageRequest`` whose message is decoded already (from
    a2a-sdk's protobuf form) and whose request metadata is ``metadata``: skill, progress token
    and trace context are read as :func:`decode_invocation` reads them.

    Raises:
        InvalidParams: no skill named by the metadata or the ``skill`` argument, or a bad one.
    """
    meta = dict(metadata or EMPTY)
    message, trace, target, token = _addressed(message, meta, skill)
    return Invocation(target, message, "sync", (), token, trace, meta or EMPTY)


def decode_invocation(params: Any, *, method: str = SEND, skill: str | None = None) -> Invocation:
    """The Invocation of a ``SendMessageRequest``.

    Raises:
        InvalidParams: a bad field, or no skill named by the metadata or the ``skill`` argument.
    """
    path = "params"
    p = w.obj(params, path)
    message = decode_message(w.req_obj(p, "message", path), f"{path}.message")
    meta = dict(w.opt_obj(p, "metadata", path) or EMPTY)
    message, trace, target, token = _addressed(message, meta, skill)
    mode: Mode = "stream" if method == SEND_STREAMING else "sync"
    config = w.opt_obj(p, "configuration", path)
    if config is not None:
        _check_configuration(config, f"{path}.configuration")
        if mode != "stream" and _IMMEDIATE in config:
            # The mode says it; a streaming request keeps the field as it came.
            if config[_IMMEDIATE]:
                mode = "async"
            config = {k: v for k, v in config.items() if k != _IMMEDIATE}
        if config or mode != "async":
            meta[CONFIG_KEY] = config
    tenant = w.opt_str(p, "tenant", path)
    if tenant is not None:
        meta[TENANT_KEY] = tenant
    return Invocation(target, message, mode, (), token, trace, meta or EMPTY)


def _tenant_out(value: Any) -> str:
    if type(value) is not str:
        raise InvalidParams("must be a string", path=f"metadata.{TENANT_KEY}")
    return value


def encode_invocation(inv: Invocation, *, new_id: IdFactory = new_id) -> tuple[str, dict[str, Any]]:
    """(method, params) of the A2A request for ``inv``.

    Raises:
        CannotCarry: the invocation has a conversation history (A2A sends one message and
            keeps the history on the agent's side, by context id).
        InvalidParams: ``a2a.configuration`` / ``a2a.tenant`` metadata of the wrong shape.
    """
    if inv.history:
        raise CannotCarry(
            f"conversation history of {len(inv.history)} earlier messages", TARGET_SEND
        )
    message = inv.message
    if inv.trace is not None:
        message = replace(message, metadata=join_trace(inv.trace, message.metadata))
    params: dict[str, Any] = {"message": encode_message(message, new_id=new_id)}
    meta: dict[str, Any] = {}
    config: dict[str, Any] | None = None
    for key, value in inv.metadata.items():
        if key == CONFIG_KEY:
            config = w.obj(value, f"metadata.{CONFIG_KEY}")
            _check_configuration(config, f"metadata.{CONFIG_KEY}")
        elif key == TENANT_KEY:
            params["tenant"] = _tenant_out(value)
        else:
            meta[key] = value
    if inv.mode == "async":
        config = {**(config or EMPTY), _IMMEDIATE: True}
    elif inv.mode == "sync" and config and config.get(_IMMEDIATE):
        config = {k: v for k, v in config.items() if k != _IMMEDIATE}
    if config is not None:
        params["configuration"] = config
    meta[SKILL_KEY] = inv.skill
    if inv.progress_token is not None:
        meta[PROGRESS_TOKEN_KEY] = inv.progress_token
    params["metadata"] = meta
    return (SEND_STREAMING if inv.mode == "stream" else SEND), params


def _tenant_in(p: dict[str, Any], meta: Metadata) -> Metadata:
    tenant = w.opt_str(p, "tenant", "params")
    if tenant is None:
        return meta
    return {**meta, TENANT_KEY: tenant}


def decode_cancel(params: Any) -> Cancel:
    """The Cancel of a ``CancelTaskRequest`` {id, metadata, tenant}."""
    p = w.obj(params, "params")
    task_id = w.req_str(p, "id", "params")
    meta = w.opt_obj(p, "metadata", "params") or EMPTY
    reason = meta.get(CANCEL_REASON_KEY)
    if type(reason) is str:
        meta = {k: v for k, v in meta.items() if k != CANCEL_REASON_KEY}
    else:
        reason = None
    return Cancel(task_id, reason, _tenant_in(p, meta) or EMPTY)


def encode_cancel(cancel: Cancel) -> dict[str, Any]:
    """A ``CancelTaskRequest``; the reason rides in metadata ``effmesh.cancelReason``.

    Raises:
        CannotCarry: an integer target (an MCP request id, not an A2A task id).
    """
    if type(cancel.target_id) is not str:
        raise CannotCarry("an integer task id", TARGET_CANCEL)
    params: dict[str, Any] = {"id": cancel.target_id}
    meta = dict(cancel.metadata)
    if TENANT_KEY in meta:
        params["tenant"] = _tenant_out(meta.pop(TENANT_KEY))
    if cancel.reason is not None:
        meta[CANCEL_REASON_KEY] = cancel.reason
    if meta:
        params["metadata"] = meta
    return params


def decode_get_task(params: Any) -> GetTask:
    """The GetTask of a ``GetTaskRequest`` {id, historyLength, tenant}."""
    p = w.obj(params, "params")
    return GetTask(
        w.req_str(p, "id", "params"),
        _history_length(p, "params"),
        _tenant_in(p, EMPTY),
    )


def _get_params(get: GetTask, target: str) -> dict[str, Any]:
    params: dict[str, Any] = {"id": get.task_id}
    for key, value in get.metadata.items():
        if key != TENANT_KEY:
            raise CannotCarry(f"metadata {key!r}", target)
        params["tenant"] = _tenant_out(value)
    return params


def encode_get_task(get: GetTask) -> dict[str, Any]:
    """A ``GetTaskRequest``.

    Raises:
        CannotCarry: metadata other than ``a2a.tenant`` (the request has no metadata field).
    """
    params = _get_params(get, TARGET_GET)
    if get.history_length is not None:
        params["historyLength"] = get.history_length
    return params


def decode_subscribe(params: Any) -> GetTask:
    """The GetTask of a ``SubscribeToTaskRequest`` {id, tenant}: the caller, which knows the
    method, streams the task's events instead of answering once."""
    p = w.obj(params, "params")
    return GetTask(w.req_str(p, "id", "params"), None, _tenant_in(p, EMPTY))


def encode_subscribe(get: GetTask) -> dict[str, Any]:
    """A ``SubscribeToTaskRequest``.

    Raises:
        CannotCarry: a history length, or metadata other than ``a2a.tenant``.
    """
    if get.history_length is not None:
        raise CannotCarry("a history length", TARGET_SUBSCRIBE)
    return _get_params(get, TARGET_SUBSCRIBE)
