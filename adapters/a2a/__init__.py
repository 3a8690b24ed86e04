"""The A2A 1.0 adapter: pure conversions between A2A wire JSON and the canonical model.

Works on the protobuf JSON form (camelCase fields, enum names, base64 bytes) with hand-written
checks, not through protobuf's json_format, which costs about 17 us for a small message.
Every bad input raises an :class:`~adapters.errors.EffmeshError`; content A2A has no place for
raises :class:`~adapters.errors.CannotCarry`.
"""

from adapters.a2a.calls import (
    decode_cancel,
    decode_get_task,
    decode_invocation,
    decode_subscribe,
    encode_cancel,
    encode_get_task,
    encode_invocation,
    encode_subscribe,
)
from adapters.a2a.cards import decode_agent, encode_agent, jsonrpc_url
from adapters.a2a.errors import decode_error, jsonrpc_error, rest_error
from adapters.a2a.events import decode_stream_item, encode_stream_item
from adapters.a2a.messages import decode_message, encode_message
from adapters.a2a.parts import decode_part, encode_part
from adapters.a2a.rpc import decode_request, parse_request
from adapters.a2a.rules import RULES
from adapters.a2a.tasks import decode_outcome, decode_task, encode_outcome, encode_task

__all__ = [
    "RULES",
    "decode_agent",
    "decode_cancel",
    "decode_error",
    "decode_get_task",
    "decode_invocation",
    "decode_message",
    "decode_outcome",
    "decode_part",
    "decode_request",
    "decode_stream_item",
    "decode_subscribe",
    "decode_task",
    "encode_agent",
    "encode_cancel",
    "encode_get_task",
    "encode_invocation",
    "encode_message",
    "encode_outcome",
    "encode_part",
    "encode_stream_item",
    "encode_subscribe",
    "encode_task",
    "jsonrpc_error",
    "jsonrpc_url",
    "parse_request",
    "rest_error",
]
