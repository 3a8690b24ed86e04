"""MCP's JSON-RPC requests from a client, decoded into canonical values."""

from __future__ import annotations

from typing import Final

from adapters import jsonrpc
from adapters.errors import EffmeshError, MethodNotFound
from adapters.mcp.calls import decode_invocation
from adapters.mcp.notifications import decode_cancel, decode_progress
from adapters.model import Cancel, Invocation, ProgressEvent

CLIENT_METHODS: Final = frozenset(
    {
        "completion/complete",
        "initialize",
        "logging/setLevel",
        "ping",
        "prompts/get",
        "prompts/list",
        "resources/list",
        "resources/read",
        "resources/subscribe",
        "resources/templates/list",
        "resources/unsubscribe",
        "server/discover",
        "subscriptions/listen",
        "tools/call",
        "tools/list",
    }
)
"""Every client request method of the revisions 2024-11-05 to 2026-07-28."""

CLIENT_NOTIFICATIONS: Final = frozenset(
    {
        "notifications/cancelled",
        "notifications/initialized",
        "notifications/progress",
        "notifications/roots/list_changed",
    }
)

Decoded = Invocation | Cancel | ProgressEvent | jsonrpc.Request
"""A canonical value, or the request itself for MCP methods with no canonical meaning
(initialize, ping, resources, prompts...), which the MCP server layer answers."""


def parse_request(raw: bytes | str) -> jsonrpc.Request:
    """Raises jsonrpc.EnvelopeError for bytes that are not one JSON-RPC request."""
    return jsonrpc.parse_request(raw)


def decode_request(req: jsonrpc.Request) -> Decoded:
    """Decode a well-formed envelope.

    Raises:
        jsonrpc.EnvelopeError: wrapping MethodNotFound or InvalidParams, with the request id.
    """
    try:
        if req.method == "tools/call":
            return decode_invocation(req.params)
        if req.method == "notifications/cancelled":
            return decode_cancel(req.params)
        if req.method == "notifications/progress":
            return decode_progress(req.params)
        known = CLIENT_METHODS if req.id is not None else CLIENT_NOTIFICATIONS
        if req.method in known:
            return req
        raise MethodNotFound(req.method)
    except EffmeshError as exc:
        raise jsonrpc.EnvelopeError(exc, req.id) from None
