"""One link to a peer gateway: the socket (either end of it), a heartbeat, and the calls in
flight over it.

Frames are the mesh protocol's (``adapters.mesh``), one JSON-RPC message per text frame; the
link moves them, and its owner reads them. Outgoing frames go through a queue and one writer,
so the table code can post from plain functions. A link that hears nothing for three
heartbeats is dropped: every call in flight over it fails with ``UpstreamUnavailable`` at
once, and every call it was running here is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import websockets
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters import _json, mesh
from adapters.errors import EffmeshError, UpstreamUnavailable
from gateway.mesh.dialin import PendingCalls


class LinkClosed(Exception):
    """The socket is gone."""


class Transport(Protocol):
    async def recv(self) -> str: ...
    async def send(self, text: str) -> None: ...
    async def close(self) -> None: ...


class ServerSide:
    """The accepting end: a Starlette WebSocket, already accepted."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def recv(self) -> str:
        try:
            return await self.websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError) as exc:
            raise LinkClosed from exc

    async def send(self, text: str) -> None:
        try:
            await self.websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise LinkClosed from exc

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await self.websocket.close(1001)


class ClientSide:
    """The joining end: a ``websockets`` client connection."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    async def recv(self) -> str:
        try:
            frame = await self.connection.recv()
        except websockets.ConnectionClosed as exc:
            raise LinkClosed from exc
        return frame if isinstance(frame, str) else frame.decode()

    async def send(self, text: str) -> None:
        try:
            await self.connection.send(text)
        except websockets.ConnectionClosed as exc:
            raise LinkClosed from exc

    async def close(self) -> None:
        await self.connection.close()


class Link(PendingCalls):
    """A linked peer gateway. Lives on one event loop; ``post`` never blocks."""

    def __init__(
        self,
        link_id: int,
        gateway: str,
        transport: Transport,
        *,
        heartbeat: float,
        inbound: bool,
        frames: int = 1,
    ) -> None:
        """``frames``: the frame set both ends speak (the lower of the two hellos')."""
        super().__init__()
        self.id = link_id
        self.gateway = gateway
        self.frames = frames
        self.transport = transport
        self.heartbeat = heartbeat
        self.inbound = inbound
        self.since = time.time()
        self.closed = False
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self.running: dict[Any, asyncio.Task[None]] = {}

    def post(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self._outbox.put_nowait(_json.dumps(message).decode())

    # --- calls this gateway makes over the link ------------------------------------------

    def open_call(self) -> tuple[int, asyncio.Queue[Any]]:
        call_id, queue = super().open_call()
        if self.closed:
            queue.put_nowait(self._lost())
        return call_id, queue

    def _lost(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"lost the link to gateway {self.gateway!r}")

    # --- the socket ----------------------------------------------------------------------

    async def run(self, on_message: Callable[[str], Awaitable[None]]) -> None:
        """Hand each frame read to ``on_message`` until the socket closes or falls silent;
        then fail and cancel every call of the link. The socket is left for ``close``."""
        writer = asyncio.ensure_future(self._write())
        pinger = asyncio.ensure_future(self._ping())
        try:
            while True:
                try:
                    text = await asyncio.wait_for(self.transport.recv(), 3 * self.heartbeat)
                except TimeoutError:
                    return  # silent for three heartbeats: the peer is gone or cut off
                await on_message(text)
                if writer.done():
                    return
        except LinkClosed:
            return
        finally:
            self.closed = True
            for task in (writer, pinger):
                task.cancel()
            self.fail_all(self._lost())
            for task in list(self.running.values()):
                task.cancel()

    async def close(self) -> None:
        """Close the socket, waiting at most one heartbeat for the peer's goodbye (a silent
        peer never sends one)."""
        self.closed = True
        with contextlib.suppress(LinkClosed, EffmeshError, OSError, TimeoutError):
            await asyncio.wait_for(self.transport.close(), self.heartbeat)

    async def _write(self) -> None:
        with contextlib.suppress(LinkClosed):
            while True:
                await self.transport.send(await self._outbox.get())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            self.post(mesh.encode(mesh.Ping()))
