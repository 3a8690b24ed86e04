"""MCP over WebSocket, both ends: one JSON-RPC message per text frame, subprotocol ``mcp``.

The MCP SDK 2.x has stdio and streamable HTTP only. The server end feeds a socket into the
SDK server's ``run`` loop, which serves both protocol eras; the client end is a transport the
SDK's ``Client`` accepts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import anyio
import mcp_types as mt
import websockets
from mcp.client._transport import TransportStreams
from mcp.server.lowlevel.server import Server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters import _json, mcp
from adapters.errors import EffmeshError, InvalidRequest

SUBPROTOCOL: Final = "mcp"
MAX_FRAME: Final = _json.MAX_BYTES


def _parse(text: str) -> mt.JSONRPCMessage:
    return mt.jsonrpc_message_adapter.validate_json(text, by_name=False)


def _dump(message: SessionMessage) -> str:
    return message.message.model_dump_json(by_alias=True, exclude_unset=True)


async def serve_websocket(websocket: WebSocket, server: Server[Any]) -> None:
    """Serve one MCP connection on an accepted-or-not Starlette WebSocket."""
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(code=1002, reason="subprotocol 'mcp' required")
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_in, write_out = anyio.create_memory_object_stream[SessionMessage](16)

    async def reader() -> None:
        async with read_in:
            try:
                while True:
                    text = await websocket.receive_text()
                    try:
                        _json.loads(text, max_bytes=MAX_FRAME)
                        message = _parse(text)
                    except (EffmeshError, ValidationError) as exc:
                        err = exc if isinstance(exc, EffmeshError) else InvalidRequest()
                        await websocket.send_text(
                            _json.dumps(mcp.error_response(err, None)).decode()
                        )
                        continue
                    await read_in.send(SessionMessage(message))
            except (WebSocketDisconnect, KeyError, RuntimeError):
                # KeyError / RuntimeError: a binary frame or a socket already closing.
                return

    async def writer() -> None:
        async with write_out:
            async for message in write_out:
                await websocket.send_text(_dump(message))

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        await server.run(read_out, write_in, server.create_initialization_options())
        tg.cancel_scope.cancel()
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


@contextlib.asynccontextmanager
async def websocket_client(
    url: str, *, headers: Mapping[str, str] | None = None
) -> AsyncIterator[TransportStreams]:
    """A client transport for ``mcp.Client``: ``Client(websocket_client("ws://.../mcp/ws"))``."""
    async with websockets.connect(
        url,
        subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
        additional_headers=dict(headers or {}),
        max_size=MAX_FRAME,
    ) as ws:
        read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        write_in, write_out = anyio.create_memory_object_stream[SessionMessage](16)

        async def reader() -> None:
            async with read_in:
                try:
                    async for frame in ws:
                        text = frame if isinstance(frame, str) else frame.decode()
                        try:
                            await read_in.send(SessionMessage(_parse(text)))
                        except ValidationError as exc:
                            await read_in.send(exc)
                except websockets.ConnectionClosed:
                    return

        async def writer() -> None:
            async with write_out:
                async for message in write_out:
                    await ws.send(_dump(message))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            yield read_out, write_in
            tg.cancel_scope.cancel()
