"""The one mapping between canonical errors and A2A's wire errors (JSON-RPC and REST).

Codes and REST reasons follow a2a-sdk 1.3 (``a2a/utils/errors.py``). Canonical errors A2A has
no code for use the closest JSON-RPC code; the canonical code travels in
``data.effmesh_code`` either way.
"""

from __future__ import annotations

from typing import Any, Final

from adapters import jsonrpc
from adapters.errors import EffmeshError, ErrorCode, as_effmesh_error, from_code
from adapters.jsonrpc import RequestId

TASK_NOT_FOUND: Final = -32001
TASK_NOT_CANCELABLE: Final = -32002
PUSH_NOT_SUPPORTED: Final = -32003
UNSUPPORTED_OPERATION: Final = -32004
CONTENT_TYPE_NOT_SUPPORTED: Final = -32005
INVALID_AGENT_RESPONSE: Final = -32006

# canonical code -> (JSON-RPC code, HTTP status, gRPC status, REST reason)
TABLE: Final[dict[ErrorCode, tuple[int, int, str, str]]] = {
    ErrorCode.PARSE_ERROR: (jsonrpc.PARSE_ERROR, 400, "INVALID_ARGUMENT", "INVALID_REQUEST"),
    ErrorCode.INVALID_REQUEST: (
        jsonrpc.INVALID_REQUEST,
        400,
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
    ),
    ErrorCode.PAYLOAD_TOO_LARGE: (
        jsonrpc.INVALID_REQUEST,
        413,
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
    ),
    ErrorCode.METHOD_NOT_FOUND: (jsonrpc.METHOD_NOT_FOUND, 404, "NOT_FOUND", "METHOD_NOT_FOUND"),
    ErrorCode.INVALID_PARAMS: (jsonrpc.INVALID_PARAMS, 400, "INVALID_ARGUMENT", "INVALID_PARAMS"),
    ErrorCode.NOT_FOUND: (TASK_NOT_FOUND, 404, "NOT_FOUND", "TASK_NOT_FOUND"),
    ErrorCode.ILLEGAL_TRANSITION: (
        TASK_NOT_CANCELABLE,
        400,
        "FAILED_PRECONDITION",
        "TASK_NOT_CANCELABLE",
    ),
    ErrorCode.UNSUPPORTED: (
        UNSUPPORTED_OPERATION,
        400,
        "FAILED_PRECONDITION",
        "UNSUPPORTED_OPERATION",
    ),
    ErrorCode.CANNOT_CARRY: (
        CONTENT_TYPE_NOT_SUPPORTED,
        400,
        "INVALID_ARGUMENT",
        "CONTENT_TYPE_NOT_SUPPORTED",
    ),
    ErrorCode.UNAUTHORIZED: (jsonrpc.INVALID_REQUEST, 401, "UNAUTHENTICATED", "UNAUTHENTICATED"),
    ErrorCode.FORBIDDEN: (jsonrpc.INVALID_REQUEST, 403, "PERMISSION_DENIED", "PERMISSION_DENIED"),
    ErrorCode.RATE_LIMITED: (
        jsonrpc.INVALID_REQUEST,
        429,
        "RESOURCE_EXHAUSTED",
        "RESOURCE_EXHAUSTED",
    ),
    ErrorCode.TIMEOUT: (jsonrpc.INTERNAL_ERROR, 504, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED"),
    ErrorCode.UPSTREAM_UNAVAILABLE: (jsonrpc.INTERNAL_ERROR, 502, "UNAVAILABLE", "UNAVAILABLE"),
    ErrorCode.CANCELED: (jsonrpc.INTERNAL_ERROR, 409, "CANCELLED", "CANCELLED"),
    ErrorCode.INTERNAL: (jsonrpc.INTERNAL_ERROR, 500, "INTERNAL", "INTERNAL_ERROR"),
}

_FROM_WIRE: Final[dict[int, ErrorCode]] = {}
for _canonical, (_code, *_rest) in TABLE.items():
    _FROM_WIRE.setdefault(_code, _canonical)
_KNOWN: Final = frozenset(c.value for c in ErrorCode)


def encode_error(exc: BaseException) -> dict[str, Any]:
    """The JSON-RPC ``error`` object; foreign exceptions become a generic internal error."""
    err = as_effmesh_error(exc)
    data: dict[str, Any] = {"effmesh_code": err.code.value}
    if err.data:
        data.update(err.data)
    return {"code": TABLE[err.code][0], "message": err.public_message, "data": data}


def jsonrpc_error(exc: BaseException, id: RequestId | None) -> dict[str, Any]:
    return {"jsonrpc": jsonrpc.VERSION, "id": id, "error": encode_error(exc)}


def rest_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) in the shape of a2a-sdk's REST error handler."""
    err = as_effmesh_error(exc)
    _, http, grpc, reason = TABLE[err.code]
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "a2a-protocol.org",
        "metadata": {"effmesh_code": err.code.value},
    }
    body = {
        "error": {"code": http, "status": grpc, "message": err.public_message, "details": [detail]}
    }
    return http, body


def decode_error(error: dict[str, Any]) -> EffmeshError:
    """The canonical error of a peer's JSON-RPC ``error`` object."""
    code = error.get("code")
    message = error.get("message")
    text = message if type(message) is str else None
    data = error.get("data")
    named = data.get("effmesh_code") if type(data) is dict else None
    if isinstance(named, str) and named in _KNOWN:
        return from_code(ErrorCode(named), text)
    canonical = ErrorCode.INTERNAL
    if type(code) is int:
        canonical = _FROM_WIRE.get(code, ErrorCode.INTERNAL)
    return from_code(canonical, text)
