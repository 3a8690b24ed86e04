"""An error as an HTTP response in the protocol the path belongs to.

The bodies come from each adapter's one error mapping and the status from
``adapters.errors.HTTP_STATUS``; this module only picks the protocol by path. The app's
exception handlers put Starlette's own answers here too (no such route, a method the route
does not take), which would otherwise be plain text.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from adapters import _json, a2a, acp, mcp
from adapters.errors import (
    HTTP_STATUS,
    EffmeshError,
    ErrorCode,
    Internal,
    InvalidRequest,
    MethodNotFound,
    PayloadTooLarge,
)

_A2A_REST: Final = re.compile(r"^/a2a/(?:[^/]+/)?rest(?:/|$)")


def is_a2a_rest(path: str) -> bool:
    """Whether ``path`` is on an A2A HTTP+JSON binding: ``/a2a/rest/...``,
    ``/a2a/<agent>/rest/...``."""
    return _A2A_REST.match(path) is not None


def http_error(
    path: str, err: EffmeshError, status: int | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, extra headers) for ``err`` raised on ``path``; ``status`` overrides
    the table's (Starlette's 405 for a method the route does not take)."""
    headers = {"www-authenticate": "Bearer"} if err.code is ErrorCode.UNAUTHORIZED else {}
    status = status or HTTP_STATUS[err.code]
    if path.startswith("/mcp"):
        return status, _json.dumps(mcp.error_response(err, None)), headers
    if is_a2a_rest(path):
        _, body = a2a.rest_error(err, status)
        return status, _json.dumps(body), headers
    if path.startswith("/a2a") or path.startswith("/.well-known"):
        return status, _json.dumps(a2a.jsonrpc_error(err, None)), headers
    if path.startswith("/acp"):
        _, body = acp.encode_error(err)
        return status, _json.dumps(body), headers
    body = {"error": {"code": err.code.value, "message": err.public_message}}
    return status, _json.dumps(body), headers


def _refusal_of(request: Request, exc: HTTPException) -> EffmeshError:
    if exc.status_code in (404, 405):
        return MethodNotFound(f"{request.method} {request.url.path}")
    if exc.status_code == 413:
        return PayloadTooLarge()
    return InvalidRequest() if exc.status_code < 500 else Internal()


async def _starlette_refusal(request: Request, exc: Exception) -> Response:
    """Starlette's refusal with its status (and ``Allow`` header), in the path's protocol."""
    assert isinstance(exc, HTTPException)
    status, body, headers = http_error(request.url.path, _refusal_of(request, exc), exc.status_code)
    headers.update(exc.headers or {})
    return Response(body, status, headers, media_type="application/json")


async def _internal(request: Request, exc: Exception) -> Response:
    """A fault of the gateway's own: a generic internal error, its text never sent (the
    server still logs the exception)."""
    status, body, headers = http_error(request.url.path, Internal())
    return Response(body, status, headers, media_type="application/json")


EXCEPTION_HANDLERS: Final[Mapping[object, Callable[[Request, Exception], Awaitable[Response]]]] = {
    HTTPException: _starlette_refusal,
    Exception: _internal,
}
"""Starlette ``exception_handlers`` for the gateway's app."""
