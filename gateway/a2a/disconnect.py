"""A blocking A2A send whose client leaves is cancelled, not run to its end for no one.

a2a-sdk answers a blocking ``SendMessage`` (JSON-RPC, or ``POST .../message:send``) by
subscribing to a task whose agent runs on its own, so a client that leaves stops only the
subscription. :func:`watch_blocking_sends` wraps an endpoint: for a blocking send it puts an
event in the request's state (:data:`CLIENT_GONE`, carried into the SDK's call context) and
sets it when the client disconnects; the agent bridge runs its call :func:`until_gone`.
Streams are left alone (their responses watch the client themselves), and so is every other
request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, Final, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters import _json
from adapters.errors import EffmeshError

CLIENT_GONE: Final = "effmesh.client_gone"
"""Request (and call context) state: an ``asyncio.Event`` set when the client has left."""
SEND_METHOD = "SendMessage"
REST_SEND = "/message:send"
T = TypeVar("T")


def blocking_send(path: str, body: bytes) -> bool:
    """Whether a POST of ``body`` to ``path`` is a blocking send (the caller waits for the
    task to settle)."""
    try:
        request: Any = _json.loads(body)
    except EffmeshError:
        return False
    if not isinstance(request, dict):
        return False
    if path.endswith(REST_SEND):
        params: Any = request
    elif request.get("method") == SEND_METHOD:
        params = request.get("params")
    else:
        return False
    configuration = params.get("configuration") if isinstance(params, dict) else None
    if not isinstance(configuration, dict):
        return True
    return configuration.get("returnImmediately") is not True


def watch_blocking_sends(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await app(scope, receive, send)
            return
        # The guard has read the body whole: it arrives as one message.
        first = await receive()
        body = first.get("body", b"") if first["type"] == "http.request" else b""
        gone = asyncio.Event()
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return first
            await gone.wait()
            return {"type": "http.disconnect"}

        if not blocking_send(scope.get("path", ""), body):
            await app(scope, replay, send)
            return

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        scope.setdefault("state", {})[CLIENT_GONE] = gone
        watcher = asyncio.ensure_future(watch())
        try:
            await app(scope, replay, send)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    return wrapped


async def until_gone(gone: Any, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None once ``gone`` (an ``asyncio.Event``, or None: never) is set,
    with ``work`` cancelled and ended first."""
    if not isinstance(gone, asyncio.Event):
        return await work
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(gone.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # Cancelled from outside (the SDK cancelling its producer on CancelTask): the work
        # goes with it, as it would had it been awaited directly.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None
