"""A user's own credential for one upstream, on the requests of one call.

The gateway obtains a token per user and per upstream (``gateway.security.upstream``) and
puts it here for the length of a call with :func:`bearer_for`; every HTTP client the
outbound guard builds (``agents.outbound``) then sends it as ``Authorization: Bearer`` on the
requests of that call, and only on requests to the upstream's own URL, so the token cannot
follow a redirect or a card's interface URL to another server. Nothing else of the caller,
its token to the gateway least of all, goes upstream.

The token lives in a context variable: it follows the call into the tasks an SDK client
starts for it, and no other call sees it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from contextvars import ContextVar

import httpx
import httpx2

_CURRENT: ContextVar[tuple[str, str] | None] = ContextVar("effmesh.upstream_bearer", default=None)


@contextlib.contextmanager
def bearer_for(url: str, token: str) -> Iterator[None]:
    """Send ``token`` to requests under ``url`` made in this context until the block ends."""
    reset = _CURRENT.set((url.rstrip("/"), token))
    try:
        yield
    finally:
        # An async generator closed from another context cannot reset; the value dies with
        # the context anyway.
        with contextlib.suppress(ValueError):
            _CURRENT.reset(reset)


def token_for(url: str) -> str | None:
    """The current call's token for requests to ``url`` (None: none is set for it)."""
    return _token_for(url)


def _token_for(url: str) -> str | None:
    current = _CURRENT.get()
    if current is None:
        return None
    base, token = current
    return (
        token if url == base or url.startswith(base + "/") or url.startswith(base + "?") else None
    )


class HttpxBearer(httpx.Auth):
    """httpx: the current call's upstream token, on requests to that upstream."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = _token_for(str(request.url))
        if token is not None:
            request.headers["authorization"] = f"Bearer {token}"
        yield request


class Httpx2Bearer(httpx2.Auth):
    """The same for httpx2 (the MCP SDK's client)."""

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        token = _token_for(str(request.url))
        if token is not None:
            request.headers["authorization"] = f"Bearer {token}"
        yield request
