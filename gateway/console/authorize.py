"""The pages where a user authorizes the gateway at an upstream agent, and the endpoints
where a caller lists and revokes its own upstream credentials.

- ``GET /oauth/authorize/<id>``: the link an ``AuthorizationRequired`` error gave; sends
  the browser to the upstream's authorization server (one use; the link names the user);
- ``GET /oauth/callback``: where that server sends the browser back; stores the credential;
- ``GET /credentials``: the caller's own credentials (agents, scopes, expiry; never a token);
- ``DELETE /credentials/<agent>``: revokes the caller's credential there, at once.

A browser brings no bearer token: the first two are public, and rest on the link's id and the
state, each unguessable, bound to one user and one upstream, and used once. The last two
take the caller's token like any other endpoint and only ever touch the caller's own rows:
another user's credential is not found.
"""

from __future__ import annotations

import html
import json
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.errors import EffmeshError, Forbidden, NotFound, Unauthorized
from agents.base import NOBODY
from gateway import errors
from gateway.security.guard import principal_of
from gateway.security.upstream import AUTHORIZE_PATH, CALLBACK_PATH, Broker

PUBLIC_PREFIXES: Final = (f"{AUTHORIZE_PATH}/",)
PUBLIC: Final = (CALLBACK_PATH,)


def _page(title: str, text: str, status: int = 200) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset=utf-8><title>effmesh</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status, headers={"cache-control": "no-store"})


def _refusal(request: Request, err: EffmeshError) -> Response:
    status, body, headers = errors.http_error(request.url.path, err)
    return Response(body, status, headers=headers, media_type="application/json")


def routes(broker: Broker) -> list[BaseRoute]:
    async def begin(request: Request) -> Response:
        try:
            target = await broker.begin(request.path_params["link_id"])
        except EffmeshError as exc:
            return _page("Authorization failed", exc.public_message, 400)
        return RedirectResponse(target, 302, headers={"cache-control": "no-store"})

    async def callback(request: Request) -> Response:
        params = request.query_params
        if "error" in params:
            # The user declined, or the server refused: nothing is stored.
            broker.forget(params.get("state", ""))
            return _page("Authorization not given", "The gateway holds no credential.", 400)
        try:
            done = await broker.complete(params.get("state", ""), params.get("code", ""))
        except Forbidden as exc:
            return _page("Authorization refused", exc.public_message, 403)
        except EffmeshError as exc:
            return _page("Authorization failed", exc.public_message, 400)
        if isinstance(done, str):  # signed in: on to the upstream's authorization server
            return RedirectResponse(done, 302, headers={"cache-control": "no-store"})
        agent = done[1]
        return _page("Connected", f"effmesh now calls {agent} for you. You may close this page.")

    def caller(request: Request) -> str:
        who = principal_of(request.scope)
        if who is None or who == NOBODY:
            raise Unauthorized("credentials belong to signed-in callers")
        return who

    async def listing(request: Request) -> Response:
        try:
            who = caller(request)
        except EffmeshError as exc:
            return _refusal(request, exc)
        return JSONResponse({"credentials": broker.listing(who)})

    async def revoke(request: Request) -> Response:
        try:
            who = caller(request)
            agent = request.path_params["agent"]
            if not await broker.revoke(who, agent):
                raise NotFound(f"no credential for agent {agent!r}")
        except EffmeshError as exc:
            return _refusal(request, exc)
        return Response(json.dumps({"revoked": agent}), 200, media_type="application/json")

    return [
        Route(f"{AUTHORIZE_PATH}/{{link_id}}", begin, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
        Route("/credentials", listing, methods=["GET"]),
        Route("/credentials/{agent}", revoke, methods=["DELETE"]),
    ]
