"""An error as an HTTP response in the protocol the path belongs to.

The bodies come from each adapter's one error mapping and the status from
``adapters.errors.HTTP_STATUS``; this module only picks the protocol by path.
"""

from __future__ import annotations

from adapters import _json, a2a, acp, mcp
from adapters.errors import HTTP_STATUS, EffmeshError, ErrorCode


def http_error(path: str, err: EffmeshError) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, extra headers) for ``err`` raised on ``path``."""
    headers = {"www-authenticate": "Bearer"} if err.code is ErrorCode.UNAUTHORIZED else {}
    status = HTTP_STATUS[err.code]
    if path.startswith("/mcp"):
        return status, _json.dumps(mcp.error_response(err, None)), headers
    if path.startswith("/a2a") or path.startswith("/.well-known"):
        return status, _json.dumps(a2a.jsonrpc_error(err, None)), headers
    if path.startswith("/acp"):
        _, body = acp.encode_error(err)
        return status, _json.dumps(body), headers
    body = {"error": {"code": err.code.value, "message": err.public_message}}
    return status, _json.dumps(body), headers
