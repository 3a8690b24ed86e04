"""One write per response where the app answers at once.

uvicorn writes a response's head as the app sends it and its body as the app sends that: two
writes on the socket, so a client that waits for the answer is woken for the head and again
for the body. Both come in the same step of the app's task when the body follows straight
away (a JSON answer), so the writes of one step are joined here and go out together at the
end of that step of the event loop; a head followed by a body only later (a stream of
events) still goes out by itself at once.
"""

from __future__ import annotations

import asyncio
from typing import Any


class OneWrite:
    """What a request's response cycle writes through: ``transport``, with the writes of one
    step of the event loop joined into one. On the event loop; not thread-safe."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending += data

    def flush(self) -> None:
        data, self._pending = self._pending, None
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """Send what is pending, then close (a response that ends its connection)."""
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())
