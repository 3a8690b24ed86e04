"""The one mapping between canonical errors and MCP's JSON-RPC errors.

Codes outside JSON-RPC's own set sit in MCP's implementation-defined band (-32000..-32019).
The canonical code also travels in ``error.data.effmesh_code`` so another effmesh rebuilds the
exact error class.
"""

from __future__ import annotations

from typing import Any, Final

from adapters import jsonrpc
from adapters.errors import (
    EffmeshError,
    ErrorCode,
    Unsupported,
    as_effmesh_error,
    from_code,
    from_data,
    text_of,
)
from adapters.jsonrpc import RequestId

REQUEST_TIMEOUT: Final = -32001
UNAUTHORIZED: Final = -32010
FORBIDDEN: Final = -32011
RATE_LIMITED: Final = -32012
UPSTREAM_UNAVAILABLE: Final = -32013
CANCELED: Final = -32014
UNSUPPORTED: Final = -32015
CANNOT_CARRY: Final = -32016
ILLEGAL_TRANSITION: Final = -32017
MISSING_CAPABILITY: Final = -32021
"""MCP's own code (2026-07-28) for a request that needs a capability the client did not
declare, with ``data.requiredCapabilities``: an upstream's, passed on as it said it."""
URL_ELICITATION_REQUIRED: Final = -32042
"""MCP's own code (2025-11-25 on) for a request the user must first complete at a URL, with
``data.elicitations``: how a missing upstream authorization is told to an MCP client."""

CODES: Final[dict[ErrorCode, int]] = {
    ErrorCode.PARSE_ERROR: jsonrpc.PARSE_ERROR,
    ErrorCode.PAYLOAD_TOO_LARGE: jsonrpc.INVALID_REQUEST,
    ErrorCode.INVALID_REQUEST: jsonrpc.INVALID_REQUEST,
    ErrorCode.METHOD_NOT_FOUND: jsonrpc.METHOD_NOT_FOUND,
    ErrorCode.INVALID_PARAMS: jsonrpc.INVALID_PARAMS,
    # MCP reports an unknown tool or resource as invalid params.
    ErrorCode.NOT_FOUND: jsonrpc.INVALID_PARAMS,
    ErrorCode.UNSUPPORTED: UNSUPPORTED,
    ErrorCode.CANNOT_CARRY: CANNOT_CARRY,
    ErrorCode.ILLEGAL_TRANSITION: ILLEGAL_TRANSITION,
    ErrorCode.UNAUTHORIZED: UNAUTHORIZED,
    ErrorCode.FORBIDDEN: FORBIDDEN,
    ErrorCode.RATE_LIMITED: RATE_LIMITED,
    ErrorCode.TIMEOUT: REQUEST_TIMEOUT,
    ErrorCode.UPSTREAM_UNAVAILABLE: UPSTREAM_UNAVAILABLE,
    ErrorCode.CANCELED: CANCELED,
    ErrorCode.INTERNAL: jsonrpc.INTERNAL_ERROR,
}

# The first canonical code listed for a wire code wins when a peer sends no effmesh_code.
_FROM_WIRE: Final[dict[int, ErrorCode]] = {}
for _canonical, _wire in CODES.items():
    _FROM_WIRE.setdefault(_wire, _canonical)


def encode_error(exc: BaseException) -> dict[str, Any]:
    """The JSON-RPC ``error`` object for ``exc``; foreign exceptions become a generic error."""
    err = as_effmesh_error(exc)
    data: dict[str, Any] = {"effmesh_code": err.code.value}
    if err.data:
        data.update(err.data)
    code = CODES[err.code]
    if err.code is ErrorCode.FORBIDDEN and "elicitations" in data:
        code = URL_ELICITATION_REQUIRED
    elif err.code is ErrorCode.UNSUPPORTED and "requiredCapabilities" in data:
        code = MISSING_CAPABILITY
    return {"code": code, "message": err.public_message, "data": data}


def error_response(exc: BaseException, id: RequestId | None) -> dict[str, Any]:
    return {"jsonrpc": jsonrpc.VERSION, "id": id, "error": encode_error(exc)}


def decode_error(error: dict[str, Any]) -> EffmeshError:
    """The canonical error a peer's JSON-RPC ``error`` object stands for."""
    data = error.get("data")
    if error.get("code") == MISSING_CAPABILITY and type(data) is dict:
        required = data.get("requiredCapabilities")
        if type(required) is dict:  # kept, so an MCP caller is told what it must declare
            message = text_of(error.get("message"))
            return Unsupported(message, data={"requiredCapabilities": required})
    named = from_data(error.get("data"), error.get("message"))
    if named is not None:
        return named
    code = error.get("code")
    canonical = ErrorCode.INTERNAL
    if type(code) is int:
        canonical = _FROM_WIRE.get(code, ErrorCode.INTERNAL)
    return from_code(canonical, text_of(error.get("message")))
