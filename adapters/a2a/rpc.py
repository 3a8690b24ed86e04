"""A2A's JSON-RPC requests from a client, decoded into canonical values."""

from __future__ import annotations

from typing import Final

from adapters import jsonrpc
from adapters.a2a.calls import (
    SEND,
    SEND_STREAMING,
    decode_cancel,
    decode_get_task,
    decode_invocation,
    decode_subscribe,
)
from adapters.errors import EffmeshError, MethodNotFound
from adapters.model import Cancel, GetTask, Invocation

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
"""Every A2A 1.0 JSON-RPC method (a2a-sdk's ``JsonRpcDispatcher.METHOD_TO_MODEL``)."""

_SENDS: Final = frozenset({SEND, SEND_STREAMING})

Decoded = Invocation | Cancel | GetTask | jsonrpc.Request
"""A canonical value, or the request itself for A2A methods with no canonical meaning
(ListTasks, push notification configs, GetExtendedAgentCard), which the server layer answers."""


def parse_request(raw: bytes | str) -> jsonrpc.Request:
    """Raises jsonrpc.EnvelopeError for bytes that are not one JSON-RPC request."""
    return jsonrpc.parse_request(raw)


def decode_request(req: jsonrpc.Request, *, skill: str | None = None) -> Decoded:
    """Decode a well-formed envelope. ``skill`` is the agent the URL addresses.

    SendMessage / SendStreamingMessage -> Invocation, CancelTask -> Cancel, GetTask and
    SubscribeToTask -> GetTask (the caller tells them apart by ``req.method``).

    Raises:
        jsonrpc.EnvelopeError: wrapping MethodNotFound or InvalidParams, with the request id.
    """
    method = req.method
    try:
        if method in _SENDS:
            return decode_invocation(req.params, method=method, skill=skill)
        if method == "CancelTask":
            return decode_cancel(req.params)
        if method == "GetTask":
            return decode_get_task(req.params)
        if method == "SubscribeToTask":
            return decode_subscribe(req.params)
        if method in METHODS:
            return req
        raise MethodNotFound(method)
    except EffmeshError as exc:
        raise jsonrpc.EnvelopeError(exc, req.id) from None
