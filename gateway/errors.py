"""An error as an HTTP response in the protocol the path belongs to.

The bodies come from each adapter's one error mapping; this module only picks the protocol
and the HTTP status.
"""

from __future__ import annotations

from adapters import _json, a2a, acp, mcp
from adapters.errors import EffmeshError, ErrorCode

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.PARSE_ERROR: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.METHOD_NOT_FOUND: 404,
    ErrorCode.INVALID_PARAMS: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNSUPPORTED: 400,
    ErrorCode.CANNOT_CARRY: 400,
    ErrorCode.ILLEGAL_TRANSITION: 409,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.UPSTREAM_UNAVAILABLE: 502,
    ErrorCode.CANCELED: 409,
    ErrorCode.INTERNAL: 500,
}


def http_error(path: str, err: EffmeshError) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, extra headers) for ``err`` raised on ``path``."""
    headers = {"www-authenticate": "Bearer"} if err.code is ErrorCode.UNAUTHORIZED else {}
    status = HTTP_STATUS[err.code]
    if path.startswith("/mcp"):
        return status, _json.dumps(mcp.error_response(err, None)), headers
    if path.startswith("/a2a") or path.startswith("/.well-known"):
        return status, _json.dumps(a2a.jsonrpc_error(err, None)), headers
    if path.startswith("/acp"):
        status, body = acp.encode_error(err)
        return status, _json.dumps(body), headers
    body = {"error": {"code": err.code.value, "message": err.public_message}}
    return status, _json.dumps(body), headers
