"""A pure ASGI layer that looks at a POST body before an SDK's endpoint reads it.

The SDKs parse bodies their own way, and some answer bad input with the parser's exception
text, a 500, or silence. The layer reads the body (the guard has already read it whole, so this
is one message), asks a protocol's ``Check`` about it, and either answers the refusal the
check built or hands the same bytes on.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Refusal = tuple[int, bytes]
"""(HTTP status, JSON body) of an answer in the endpoint's protocol."""
Check = Callable[[str, bytes], Refusal | None]
"""(path, body) -> the refusal, or None to let the endpoint have the body."""


class CheckedBodies:
    def __init__(self, app: ASGIApp, check: Check) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = self.check(scope["path"], body)
        if refusal is None:
            await self.app(scope, replay(body, receive), send)
            return
        status, payload = refusal
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then waits on the client (for
    its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
