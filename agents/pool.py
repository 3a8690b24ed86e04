"""One HTTP client per event loop, shared by an agent's calls.

Building a client costs milliseconds (mostly its TLS context), so an agent keeps one; but a
client's connections belong to the loop that opened them, and an agent may be set up on one
loop and called on another (a registry built before the server starts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=Closable)


class LoopPool(Generic[C]):
    """``get()`` returns this loop's client, made by ``make`` on first use in the loop.

    Not thread-safe: one agent's calls run on one loop at a time.
    """

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._held: tuple[asyncio.AbstractEventLoop, C] | None = None

    def get(self) -> C:
        loop = asyncio.get_running_loop()
        if self._held is None or self._held[0] is not loop:
            # A client of a loop that is gone cannot be closed from here; it is dropped.
            self._held = (loop, self._make())
        return self._held[1]

    async def aclose(self) -> None:
        """Close the client if it belongs to the running loop; forget it either way."""
        if self._held is not None and self._held[0] is asyncio.get_running_loop():
            await self._held[1].aclose()
        self._held = None
