"""The console's HTTP side: the page and its files (public: they hold no data), the JSON reads
and the live socket (behind the caller's token, as every other route).

The page sends the token itself, as a bearer header on each request and as a subprotocol on
the socket (``gateway.security.guard``); no cookie is ever set, so another site's page cannot
ride on a signed-in console. On a loopback gateway, which may run without tokens, a request
must name a loopback host (a page of another site that rebinds its name to 127.0.0.1 names
its own) and a socket must come from the console's own origin.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from adapters import _json
from adapters.errors import EffmeshError, Forbidden, InvalidParams
from agents.base import NOBODY
from gateway.console import live, views
from gateway.errors import http_error
from gateway.security.guard import principal_of
from gateway.settings.config import LOOPBACK

if TYPE_CHECKING:
    from gateway.console import Console

API: Final = "/console/api"
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PAGE_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
MAX_QUERY_CHARS: Final = 2000


def _assets() -> dict[str, tuple[bytes, str]]:
    """Path -> (body, media type): ``index.html`` at ``/``, the others under ``/console/``."""
    folder = resources.files("gateway.console") / "static"
    out = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in MEDIA_TYPES:
            path = "/" if entry.name == "index.html" else f"/console/{entry.name}"
            out[path] = (entry.read_bytes(), MEDIA_TYPES[suffix])
    return out


ASSETS: Final = _assets()
PUBLIC: Final = frozenset({*ASSETS, f"{API}/hello"})
"""Paths the guard serves without a token."""


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(
        _json.dumps(body), status, {"cache-control": "no-store"}, media_type="application/json"
    )


def _error(request: Request, err: EffmeshError) -> Response:
    status, body, headers = http_error(request.url.path, err)
    return Response(body, status, headers, media_type="application/json")


def _host_refused(conn: HTTPConnection, loopback: bool) -> bool:
    """Whether a loopback gateway must refuse this request's ``Host`` (see the docstring)."""
    if not loopback:
        return False
    host = (conn.url.hostname or "").strip("[]")
    return host not in LOOPBACK


def routes(console: Console) -> list[BaseRoute]:
    loopback = console.config.loopback

    def asset(path: str) -> Route:
        body, media_type = ASSETS[path]

        async def serve(request: Request) -> Response:
            return Response(body, headers=PAGE_HEADERS, media_type=media_type)

        return Route(path, serve, methods=["GET"])

    async def hello(request: Request) -> Response:
        """Public: whether the caller's token (if any) was taken; the page asks for one when
        the gateway has tokens and none was."""
        if _host_refused(request, loopback):
            return _error(request, Forbidden("the console answers loopback host names only"))
        who = principal_of(request.scope)
        return _json_response(
            {
                "tokens": console.tokens,
                "signed_in": who not in (None, NOBODY) or not console.tokens,
                "principal": who,
                "gateway": console.gateway_id,
            }
        )

    async def memory(request: Request) -> Response:
        if _host_refused(request, loopback):
            return _error(request, Forbidden("the console answers loopback host names only"))
        query = request.query_params.get("q", "")
        try:
            if len(query) > MAX_QUERY_CHARS:
                raise InvalidParams(f"the query is longer than {MAX_QUERY_CHARS} characters")
            body = await views.memory(
                console.registry,
                principal_of(request.scope),
                query,
                timeout=console.config.call_timeout_seconds,
            )
        except EffmeshError as exc:
            return _error(request, exc)
        return _json_response(body)

    async def trace(request: Request) -> Response:
        if _host_refused(request, loopback):
            return _error(request, Forbidden("the console answers loopback host names only"))
        task_id = request.path_params["task_id"]
        try:
            console.feed.find(task_id, principal_of(request.scope))
            body = await views.trace(console.trace_path, task_id)
        except EffmeshError as exc:
            return _error(request, exc)
        return _json_response(body)

    async def socket(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if _host_refused(websocket, loopback) or (
            origin is not None and urlsplit(origin).netloc != websocket.headers.get("host")
        ):
            await websocket.close(live.POLICY_VIOLATION, "not the console's own origin")
            return
        await live.serve(websocket, console, principal_of(websocket.scope))

    return [
        *(asset(path) for path in ASSETS),
        Route(f"{API}/hello", hello, methods=["GET"]),
        Route(f"{API}/memory", memory, methods=["GET"]),
        Route(f"{API}/trace/{{task_id}}", trace, methods=["GET"]),
        WebSocketRoute("/console/ws", socket),
    ]
