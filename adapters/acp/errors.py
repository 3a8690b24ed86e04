"""The one mapping between canonical errors and ACP's wire errors.

ACP's ``Error`` has three codes (``server_error``, ``invalid_input``, ``not_found``) and takes
any other string; the HTTP status (``adapters.errors.HTTP_STATUS``) carries the rest. The
canonical code travels in ``data.effmesh_code``. A peer's status is read as acp-sdk's server
sends it too: 422 is invalid input.
"""

from __future__ import annotations

from typing import Any, Final

from adapters.errors import (
    HTTP_STATUS,
    EffmeshError,
    ErrorCode,
    as_effmesh_error,
    from_code,
    from_data,
    text_of,
)

CODES: Final[dict[ErrorCode, str]] = {
    ErrorCode.PARSE_ERROR: "invalid_input",
    ErrorCode.INVALID_REQUEST: "invalid_input",
    ErrorCode.INVALID_PARAMS: "invalid_input",
    ErrorCode.PAYLOAD_TOO_LARGE: "invalid_input",
    ErrorCode.METHOD_NOT_FOUND: "not_found",
    ErrorCode.NOT_FOUND: "not_found",
    ErrorCode.UNSUPPORTED: "invalid_input",
    ErrorCode.CANNOT_CARRY: "invalid_input",
    ErrorCode.ILLEGAL_TRANSITION: "invalid_input",
    ErrorCode.UNAUTHORIZED: "server_error",
    ErrorCode.FORBIDDEN: "server_error",
    ErrorCode.RATE_LIMITED: "server_error",
    ErrorCode.TIMEOUT: "server_error",
    ErrorCode.UPSTREAM_UNAVAILABLE: "server_error",
    ErrorCode.CANCELED: "server_error",
    ErrorCode.INTERNAL: "server_error",
}
"""canonical code -> ACP ``Error.code``."""
# A peer's server error with no effmesh_code: its status names the canonical code.
_SERVER_ERRORS: Final[dict[int, ErrorCode]] = {
    HTTP_STATUS[c]: c for c in ErrorCode if CODES[c] == "server_error"
}


def encode_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, ACP Error body); foreign exceptions become a generic server error."""
    err = as_effmesh_error(exc)
    data: dict[str, Any] = {"effmesh_code": err.code.value}
    if err.data:
        data.update(err.data)
    body = {"code": CODES[err.code], "message": err.public_message, "data": data}
    return HTTP_STATUS[err.code], body


def decode_error(status: int, body: Any) -> EffmeshError:
    """The canonical error of a peer's ACP Error body and HTTP status."""
    error = body if type(body) is dict else {}
    named = from_data(error.get("data"), error.get("message"))
    if named is not None:
        return named
    text = text_of(error.get("message"))
    code = error.get("code")
    if code == "not_found" or status == 404:
        return from_code(ErrorCode.NOT_FOUND, text)
    if code == "invalid_input" or status in (400, 422):
        return from_code(ErrorCode.INVALID_PARAMS, text)
    return from_code(_SERVER_ERRORS.get(status, ErrorCode.INTERNAL), text)
