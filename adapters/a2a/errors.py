"""The one mapping between canonical errors and A2A's wire errors (JSON-RPC and REST).

Codes, gRPC statuses and reasons follow a2a-sdk 1.3 (``a2a/utils/errors.py``,
``a2a/utils/error_handlers.py``). As A2A 1.0 asks, the JSON-RPC ``error.data`` and the REST
``error.details`` are lists of typed details with one ``google.rpc.ErrorInfo``, whose metadata
carries ``effmesh_code``: the a2a-sdk client surfaces it as the error's ``data``, and another
effmesh rebuilds the exact canonical class. Canonical errors with no A2A counterpart use the
closest JSON-RPC code. The HTTP status of each is ``adapters.errors.HTTP_STATUS``'s, which
takes A2A's own. Only ``public_message`` reaches the wire.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from adapters import jsonrpc
from adapters.errors import HTTP_STATUS, EffmeshError, ErrorCode, as_effmesh_error, from_code
from adapters.jsonrpc import RequestId

TASK_NOT_FOUND: Final = -32001
TASK_NOT_CANCELABLE: Final = -32002
PUSH_NOTIFICATION_NOT_SUPPORTED: Final = -32003
UNSUPPORTED_OPERATION: Final = -32004
CONTENT_TYPE_NOT_SUPPORTED: Final = -32005
INVALID_AGENT_RESPONSE: Final = -32006
EXTENDED_CARD_NOT_CONFIGURED: Final = -32007
EXTENSION_SUPPORT_REQUIRED: Final = -32008
VERSION_NOT_SUPPORTED: Final = -32009

ERROR_INFO_TYPE: Final = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN: Final = "a2a-protocol.org"
CODE_KEY: Final = "effmesh_code"


class ErrorRow(NamedTuple):
    jsonrpc: int
    grpc: str
    reason: str


M = ErrorRow
TABLE: Final[dict[ErrorCode, ErrorRow]] = {
    ErrorCode.PARSE_ERROR: M(jsonrpc.PARSE_ERROR, "INVALID_ARGUMENT", "INVALID_REQUEST"),
    ErrorCode.PAYLOAD_TOO_LARGE: M(jsonrpc.INVALID_PARAMS, "INVALID_ARGUMENT", "INVALID_PARAMS"),
    ErrorCode.INVALID_REQUEST: M(jsonrpc.INVALID_REQUEST, "INVALID_ARGUMENT", "INVALID_REQUEST"),
    ErrorCode.METHOD_NOT_FOUND: M(jsonrpc.METHOD_NOT_FOUND, "NOT_FOUND", "METHOD_NOT_FOUND"),
    ErrorCode.INVALID_PARAMS: M(jsonrpc.INVALID_PARAMS, "INVALID_ARGUMENT", "INVALID_PARAMS"),
    ErrorCode.NOT_FOUND: M(TASK_NOT_FOUND, "NOT_FOUND", "TASK_NOT_FOUND"),
    ErrorCode.UNSUPPORTED: M(UNSUPPORTED_OPERATION, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION"),
    ErrorCode.CANNOT_CARRY: M(
        CONTENT_TYPE_NOT_SUPPORTED, "INVALID_ARGUMENT", "CONTENT_TYPE_NOT_SUPPORTED"
    ),
    # A2A's one lifecycle error: a cancel of a task that has already finished.
    ErrorCode.ILLEGAL_TRANSITION: M(
        TASK_NOT_CANCELABLE, "FAILED_PRECONDITION", "TASK_NOT_CANCELABLE"
    ),
    # No A2A code: the caller must change the request (credentials) -> invalid request.
    ErrorCode.UNAUTHORIZED: M(jsonrpc.INVALID_REQUEST, "UNAUTHENTICATED", "INVALID_REQUEST"),
    ErrorCode.FORBIDDEN: M(jsonrpc.INVALID_REQUEST, "PERMISSION_DENIED", "INVALID_REQUEST"),
    # No A2A code: the server could not serve a valid request now -> internal error.
    ErrorCode.RATE_LIMITED: M(jsonrpc.INTERNAL_ERROR, "RESOURCE_EXHAUSTED", "INTERNAL_ERROR"),
    ErrorCode.TIMEOUT: M(jsonrpc.INTERNAL_ERROR, "DEADLINE_EXCEEDED", "INTERNAL_ERROR"),
    ErrorCode.UPSTREAM_UNAVAILABLE: M(jsonrpc.INTERNAL_ERROR, "UNAVAILABLE", "INTERNAL_ERROR"),
    ErrorCode.CANCELED: M(jsonrpc.INTERNAL_ERROR, "CANCELLED", "INTERNAL_ERROR"),
    ErrorCode.INTERNAL: M(jsonrpc.INTERNAL_ERROR, "INTERNAL", "INTERNAL_ERROR"),
}
"""canonical code -> (JSON-RPC code, gRPC status, A2A reason); the HTTP status is
``adapters.errors.HTTP_STATUS``'s."""

# A peer without effmesh_code: its code decides. The first canonical code listed for a
# JSON-RPC code wins; A2A codes effmesh never sends map to their nearest canonical code.
FROM_JSONRPC: Final[dict[int, ErrorCode]] = {
    PUSH_NOTIFICATION_NOT_SUPPORTED: ErrorCode.UNSUPPORTED,
    INVALID_AGENT_RESPONSE: ErrorCode.UPSTREAM_UNAVAILABLE,
    EXTENDED_CARD_NOT_CONFIGURED: ErrorCode.UNSUPPORTED,
    EXTENSION_SUPPORT_REQUIRED: ErrorCode.UNSUPPORTED,
    VERSION_NOT_SUPPORTED: ErrorCode.UNSUPPORTED,
}
for _canonical, _row in TABLE.items():
    FROM_JSONRPC.setdefault(_row.jsonrpc, _canonical)
_KNOWN: Final = frozenset(c.value for c in ErrorCode)


def _error_info(err: EffmeshError, reason: str) -> dict[str, Any]:
    meta: dict[str, Any] = dict(err.data) if err.data else {}
    meta[CODE_KEY] = err.code.value
    return {"@type": ERROR_INFO_TYPE, "reason": reason, "domain": DOMAIN, "metadata": meta}


def jsonrpc_error(exc: BaseException, id: RequestId | None) -> dict[str, Any]:
    """The JSON-RPC error response for ``exc``; a foreign exception becomes a generic
    internal error, its text never sent."""
    err = as_effmesh_error(exc)
    row = TABLE[err.code]
    return jsonrpc.error(id, row.jsonrpc, err.public_message, [_error_info(err, row.reason)])


def rest_error(exc: BaseException, status: int | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) in the shape of a2a-sdk's REST error handler:
    ``{"error": {"code", "status", "message", "details": [ErrorInfo]}}``.

    ``status``: the HTTP status, when the transport's is not the table's (a 405 for a method
    a route does not take); the body's ``code`` is always the answer's status."""
    err = as_effmesh_error(exc)
    row = TABLE[err.code]
    status = status or HTTP_STATUS[err.code]
    body = {
        "error": {
            "code": status,
            "status": row.grpc,
            "message": err.public_message,
            "details": [_error_info(err, row.reason)],
        }
    }
    return status, body


def _named_code(data: Any) -> Any:
    if type(data) is dict:  # effmesh's MCP and ACP style
        return data.get(CODE_KEY)
    if type(data) is list:
        for detail in data:
            if type(detail) is dict and detail.get("@type") == ERROR_INFO_TYPE:
                meta = detail.get("metadata")
                return meta.get(CODE_KEY) if type(meta) is dict else None
    return None


def decode_error(error: Any) -> EffmeshError:
    """The canonical error of a peer's JSON-RPC ``error`` object: by ``effmesh_code`` in
    ``data`` when there is one, else by code (unknown codes are internal errors). Never raises.
    """
    if type(error) is not dict:
        return from_code(ErrorCode.INTERNAL)
    message = error.get("message")
    text = message if type(message) is str and message else None
    named = _named_code(error.get("data"))
    if type(named) is str and named in _KNOWN:
        return from_code(ErrorCode(named), text)
    code = error.get("code")
    canonical = FROM_JSONRPC.get(code, ErrorCode.INTERNAL) if type(code) is int else None
    return from_code(canonical or ErrorCode.INTERNAL, text)
