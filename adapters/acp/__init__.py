"""The ACP adapter (BeeAI's Agent Communication Protocol, acp-sdk 1.0 models): pure
conversions between ACP wire JSON and the canonical model. It does not import acp-sdk."""

from typing import Any

from adapters import _json
from adapters import _wire as w
from adapters.acp.agents import decode_agent, encode_agent
from adapters.acp.content import decode_message, decode_part, encode_message, encode_part
from adapters.acp.errors import decode_error, encode_error
from adapters.acp.reader import RunReader
from adapters.acp.rules import RULES
from adapters.acp.runs import (
    decode_cancel,
    decode_invocation,
    decode_outcome,
    decode_resume,
    decode_stream_item,
    encode_cancel,
    encode_invocation,
    encode_outcome,
    encode_resume,
    encode_stream_item,
    trace_headers,
)


def parse_body(raw: bytes) -> dict[str, Any]:
    """An ACP request body: JSON (within the size and depth limits) holding an object."""
    return w.obj(_json.loads(raw), "body")


__all__ = [
    "RULES",
    "RunReader",
    "decode_agent",
    "decode_cancel",
    "decode_error",
    "decode_invocation",
    "decode_message",
    "decode_outcome",
    "decode_part",
    "decode_resume",
    "decode_stream_item",
    "encode_agent",
    "encode_cancel",
    "encode_error",
    "encode_invocation",
    "encode_message",
    "encode_outcome",
    "encode_part",
    "encode_resume",
    "encode_stream_item",
    "parse_body",
    "trace_headers",
]
