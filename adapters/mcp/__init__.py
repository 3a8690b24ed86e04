"""The MCP adapter: pure conversions between MCP wire JSON and the canonical model (and, for
``tools/call`` params, from the MCP SDK's validated model of them).

Covers protocol revisions 2025-06-18, 2025-11-25 and 2026-07-28 (older handshake revisions
share the 2025 shapes used here).
"""

from adapters.mcp.calls import (
    INPUT_REQUESTS_KEY,
    INPUT_RESPONSES_KEY,
    MODERN_VERSION,
    RESERVED_PREFIX,
    TEXT_ARGUMENT,
    arguments_parts,
    decode_call_params,
    decode_invocation,
    decode_outcome,
    elicitation_request,
    encode_invocation,
    encode_outcome,
)
from adapters.mcp.errors import decode_error, encode_error, error_response
from adapters.mcp.notifications import (
    decode_cancel,
    decode_progress,
    encode_cancel,
    encode_progress,
    encode_stream_item,
)
from adapters.mcp.rpc import decode_request, parse_request
from adapters.mcp.rules import RULES
from adapters.mcp.tools import (
    decode_agent,
    decode_skill,
    encode_agent,
    encode_skill,
    input_schema,
)

__all__ = [
    "INPUT_REQUESTS_KEY",
    "INPUT_RESPONSES_KEY",
    "MODERN_VERSION",
    "RESERVED_PREFIX",
    "RULES",
    "TEXT_ARGUMENT",
    "arguments_parts",
    "decode_agent",
    "decode_call_params",
    "decode_cancel",
    "decode_error",
    "decode_invocation",
    "decode_outcome",
    "decode_progress",
    "decode_request",
    "decode_skill",
    "elicitation_request",
    "encode_agent",
    "encode_cancel",
    "encode_error",
    "encode_invocation",
    "encode_outcome",
    "encode_progress",
    "encode_skill",
    "encode_stream_item",
    "error_response",
    "input_schema",
    "parse_request",
]
