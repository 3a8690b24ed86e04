"""Connections that never finish their request headers are closed.

uvicorn arms a timer only between requests on a kept-alive connection; a client that opens a
connection and sends nothing, or half a request line, or headers one byte a minute, holds a
connection (and its memory) for ever. :func:`protocol_with_deadline` gives uvicorn an HTTP
protocol that allows ``seconds`` from the start of each request (or of the connection) to
the end of its headers, then answers 408 and closes. A request whose headers come whole in
one read is never timed, and one whose body has come whole when its app starts is marked so
(:data:`gateway.security.guard.BODY_WHOLE`): its body is read without a timer either.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapters import _json
from adapters.errors import Timeout
from gateway.security.guard import BODY_WHOLE
from gateway.writes import OneWrite


def _answer(text: str) -> bytes:
    body = _json.dumps({"error": {"code": "timeout", "message": text}})
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def protocol_with_deadline(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, with ``seconds`` for each request's headers to arrive,
    whose responses write head and body in one piece when they come together
    (:mod:`gateway.writes`)."""

    class HeaderDeadline(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _heading = False
        """A request has begun and its headers have not all arrived."""

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                late = Timeout("the request headers took too long")
                self.transport.write(_answer(late.public_message))
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # Armed only for headers still incomplete at the end of what came: most requests
            # arrive whole, and need no timer.
            if self._heading:
                self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._heading = True

        def on_headers_complete(self) -> None:
            self._heading = False
            self._disarm()
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:
                # Not yet started: the response's writes go out joined (gateway.writes).
                cycle.transport = OneWrite(self.transport, self.loop)  # type: ignore[assignment]

        def on_message_complete(self) -> None:
            super().on_message_complete()
            cycle = self.cycle
            if cycle is not None and not cycle.more_body:
                # Set before the request's app runs when the body came with its headers.
                cycle.scope[BODY_WHOLE] = True  # type: ignore[literal-required]

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadline
