"""Reading a WebSocket endpoint's frames: each holds one JSON message, as text.

A binary frame is bad input like any other: the endpoint answers it with its protocol's
Invalid Request error and goes on reading, rather than ending the connection.
"""

from __future__ import annotations

from typing import Final

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.errors import InvalidRequest

BINARY: Final = InvalidRequest("a frame must be text: one JSON message per text frame")
"""The error a binary frame is answered with."""


async def receive_text(websocket: WebSocket) -> str | None:
    """The next frame's text; None for a binary frame (answer it with :data:`BINARY`).

    Raises:
        WebSocketDisconnect: the peer has left.
    """
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None
