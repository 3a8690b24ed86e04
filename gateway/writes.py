"""One write per response where the app answers at once.

uvicorn writes a response's head as the app sends it and its body as the app sends that: two
writes on the socket, so a client that waits for the answer is woken for the head and again
for the body. Both come in the same step of the app's task when the body follows straight
away (a JSON answer), so the writes of one step are joined here and go out together at the
end of that step of the event loop; a head followed by a body only later (a stream of
events) still goes out by itself at once. Past ``JOIN_LIMIT`` bytes the step's writes go out
at once, so a large body meets the transport's flow control as before.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

JOIN_LIMIT: Final = 64 * 1024
"""Bytes held for one write at most."""


class OneWrite:
    """What a request's response cycle writes through: ``transport``, with the writes of one
    step of the event loop joined into one. On the event loop; not thread-safe."""

    __slots__ = ("_held", "_loop", "_pending", "transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._held = 0

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)
        self._held += len(data)
        if self._held >= JOIN_LIMIT:
            self.flush()

    def flush(self) -> None:
        pending, self._pending, self._held = self._pending, None, 0
        if pending and not self.transport.is_closing():
            self.transport.write(b"".join(pending))

    def close(self) -> None:
        """Send what is pending, then close (a response that ends its connection)."""
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())
