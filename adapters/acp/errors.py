"""The one mapping between canonical errors and ACP's wire errors.

ACP's ``Error`` has three codes (``server_error``, ``invalid_input``, ``not_found``) and takes
any other string; the HTTP status carries the rest, as acp-sdk's server does (422 for invalid
input, 404 for not found, 500 otherwise). The canonical code travels in ``data.effmesh_code``.
"""

from __future__ import annotations

from typing import Any, Final

from adapters.errors import (
    EffmeshError,
    ErrorCode,
    as_effmesh_error,
    from_code,
    from_data,
    text_of,
)

TABLE: Final[dict[ErrorCode, tuple[int, str]]] = {
    ErrorCode.PARSE_ERROR: (422, "invalid_input"),
    ErrorCode.INVALID_REQUEST: (422, "invalid_input"),
    ErrorCode.INVALID_PARAMS: (422, "invalid_input"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "invalid_input"),
    ErrorCode.METHOD_NOT_FOUND: (404, "not_found"),
    ErrorCode.NOT_FOUND: (404, "not_found"),
    ErrorCode.UNSUPPORTED: (422, "invalid_input"),
    ErrorCode.CANNOT_CARRY: (422, "invalid_input"),
    ErrorCode.ILLEGAL_TRANSITION: (409, "invalid_input"),
    ErrorCode.UNAUTHORIZED: (401, "server_error"),
    ErrorCode.FORBIDDEN: (403, "server_error"),
    ErrorCode.RATE_LIMITED: (429, "server_error"),
    ErrorCode.TIMEOUT: (504, "server_error"),
    ErrorCode.UPSTREAM_UNAVAILABLE: (502, "server_error"),
    ErrorCode.CANCELED: (409, "server_error"),
    ErrorCode.INTERNAL: (500, "server_error"),
}


def encode_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, ACP Error body); foreign exceptions become a generic server error."""
    err = as_effmesh_error(exc)
    status, code = TABLE[err.code]
    data: dict[str, Any] = {"effmesh_code": err.code.value}
    if err.data:
        data.update(err.data)
    return status, {"code": code, "message": err.public_message, "data": data}


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
    by_status = {c: s for c, (s, _) in TABLE.items() if TABLE[c][1] == "server_error"}
    for canonical, http in by_status.items():
        if http == status:
            return from_code(canonical, text)
    return from_code(ErrorCode.INTERNAL, text)
