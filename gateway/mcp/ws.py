"""MCP over WebSocket, both ends: one JSON-RPC message per text frame, subprotocol ``mcp``.

The MCP SDK 2.x has stdio and streamable HTTP only. The server end answers tool calls itself
and feeds every other message into the SDK server's ``run`` loop, which serves both protocol
eras; the client end is a transport the SDK's ``Client`` accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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

from adapters import _json, jsonrpc, mcp
from adapters.errors import Canceled, EffmeshError, InvalidRequest, RateLimited, Unsupported
from agents.remote.mcp_relay import CALLER
from gateway import frames
from gateway.mcp.relay import FrameRelay
from gateway.mcp.tools import ToolCalls
from gateway.security.guard import frame_limit

SUBPROTOCOL: Final = "mcp"
MAX_FRAME: Final = _json.MAX_BYTES
MODERN_KEY: Final = mt.PROTOCOL_VERSION_META_KEY
SERVER_INFO_KEY: Final = mt.SERVER_INFO_META_KEY
PROGRESS: Final = "notifications/progress"


def _parse(text: str) -> mt.JSONRPCMessage:
    return mt.jsonrpc_message_adapter.validate_json(text, by_name=False)


def _dump(message: SessionMessage) -> str:
    return message.message.model_dump_json(by_alias=True, exclude_unset=True)


def _text(frame: dict[str, Any]) -> str:
    return _json.dumps(frame).decode()


class _ToolCallLane:
    """Tool calls served straight from the socket, past the SDK session.

    ``tools/call`` is nearly all of an MCP connection's traffic once it is set up; answering
    it here (wire JSON through the adapter, no pydantic models, no session streams) is what
    makes ``/mcp/ws`` fast. Everything else (the handshake, discovery, ``tools/list``, ping,
    malformed messages) goes to the SDK server, which knows the protocol's envelope rules.
    A call takes this lane once its protocol revision is known: from the connection's
    ``initialize`` answer, or from the 2026-07-28 ``_meta`` it carries itself.
    """

    def __init__(
        self, websocket: WebSocket, server: Server[Any], tools: ToolCalls, principal: str | None
    ) -> None:
        self.websocket = websocket
        # Read once per connection: the SDK's property deep-copies it on every read, and the
        # frames that carry it only serialize it.
        self.server_info = server.server_info_stamp
        self.tools = tools
        self.principal = principal
        self.version: str | None = None
        self.can_elicit = False
        self.capabilities: dict[str, Any] = {}
        self.level: str | None = None
        """The log level the client chose (None: none, every line)."""
        self._initialize_id: object = None
        self._running: dict[Any, asyncio.Task[None]] = {}
        self._asked: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._sending = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self._sending:
            await self.websocket.send_text(text)

    def saw_request(self, message: Any) -> None:
        """Note a handshake, or a log level, passing to the SDK."""
        params = message.get("params")
        if message.get("method") == "initialize":
            caps = params.get("capabilities") if isinstance(params, dict) else None
            self.capabilities = caps if isinstance(caps, dict) else {}
            self.can_elicit = "elicitation" in self.capabilities
            self._initialize_id = message.get("id")
        elif message.get("method") == "logging/setLevel" and isinstance(params, dict):
            level = params.get("level")
            self.level = level if isinstance(level, str) else None

    def saw_reply(self, message: SessionMessage) -> None:
        """Note the SDK's answer to ``initialize``: the revision this connection speaks."""
        reply = message.message
        if isinstance(reply, mt.JSONRPCResponse) and reply.id == self._initialize_id:
            version = reply.result.get("protocolVersion")
            self.version = version if isinstance(version, str) else None

    def take(self, message: Any) -> bool:
        """Serve ``message`` here if it belongs to this lane; False hands it to the SDK."""
        method = message.get("method")
        if method == "tools/call" and "id" in message:
            params = message.get("params")
            meta = params.get("_meta") if isinstance(params, dict) else None
            modern = isinstance(meta, dict) and meta.get(MODERN_KEY) == mcp.MODERN_VERSION
            version = mcp.MODERN_VERSION if modern else self.version
            rid = message["id"]
            if version is None or not isinstance(rid, str | int) or rid in self._running:
                return False
            task = asyncio.get_running_loop().create_task(self._call(rid, params, version))
            self._running[rid] = task
            return True
        if method == "notifications/cancelled":
            params = message.get("params")
            rid = params.get("requestId") if isinstance(params, dict) else None
            running = self._running.get(rid) if isinstance(rid, str | int) else None
            if running is None:
                return False
            running.cancel()
            return True
        rid = message.get("id")
        if method is None and isinstance(rid, str) and rid in self._asked:
            asked = self._asked.pop(rid)
            if not asked.done():
                asked.set_result(message)
            return True
        return False

    async def _call(self, rid: str | int, params: Any, version: str) -> None:
        async def progress(note: dict[str, Any]) -> None:
            await self.send(_text({"jsonrpc": "2.0", "method": PROGRESS, "params": note}))

        async def notify(method: str, note: dict[str, Any]) -> None:
            await self.send(_text({"jsonrpc": "2.0", "method": method, "params": note}))

        capabilities, level = self.capabilities, self.level
        if version == mcp.MODERN_VERSION:  # declared in each request, not at a handshake
            meta = params.get("_meta") if isinstance(params, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            declared, asked = (
                meta.get(mt.CLIENT_CAPABILITIES_META_KEY),
                meta.get(mt.LOG_LEVEL_META_KEY),
            )
            capabilities = declared if isinstance(declared, dict) else {}
            level = asked if isinstance(asked, str) else None
        relay = FrameRelay(
            self.principal,
            version,
            capabilities=capabilities,
            level=level,
            ask=self._ask,
            notify=notify,
        )
        # The upstream MCP servers this call reaches ask this client, on this socket.
        CALLER.set(relay)  # this task's own context: it ends with the call
        try:
            result = await self.tools.call(
                params, who=self.principal, version=version, progress=progress, elicit=self._elicit
            )
            if version == mcp.MODERN_VERSION:
                # As the SDK does for every 2026-07-28 result: say which server answered.
                meta = result.get("_meta")
                if not isinstance(meta, dict) or meta.get(SERVER_INFO_KEY) is None:
                    meta = meta if isinstance(meta, dict) else {}
                    result["_meta"] = {**meta, SERVER_INFO_KEY: self.server_info}
            frame = {"jsonrpc": "2.0", "id": rid, "result": result}
        except EffmeshError as exc:
            frame = mcp.error_response(exc, rid)
        except asyncio.CancelledError:
            return  # a cancelled request gets no answer (MCP cancellation)
        finally:
            self._running.pop(rid, None)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.send(_text(frame))

    async def _elicit(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self.can_elicit:
            raise Unsupported("the client cannot answer elicitation requests")
        try:
            return await self._ask(request["method"], request["params"])
        except EffmeshError:
            raise Canceled("the user did not answer") from None

    async def _ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send the request ``method`` to the client and return its result.

        Raises:
            EffmeshError: the client answered with an error (or not with a result).
        """
        rid = f"effmesh-{next(self._ids)}"
        answer = asyncio.get_running_loop().create_future()
        self._asked[rid] = answer
        try:
            frame = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
            await self.send(_text(frame))
            reply = await answer
        finally:
            self._asked.pop(rid, None)
        result = reply.get("result")
        if isinstance(result, dict):
            return result
        error = reply.get("error")
        if isinstance(error, dict):
            raise mcp.decode_error(error)
        raise Canceled("the client answered with no result")

    def close(self) -> None:
        for task in self._running.values():
            task.cancel()
        for asked in self._asked.values():
            asked.cancel()


async def serve_websocket(
    websocket: WebSocket, server: Server[Any], tools: ToolCalls, principal: str | None
) -> None:
    """Serve one MCP connection on a Starlette WebSocket, not yet accepted.

    ``server`` is the SDK server for everything but tool calls, built over the same ``tools``.
    """
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(code=1002, reason="subprotocol 'mcp' required")
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    lane = _ToolCallLane(websocket, server, tools, principal)
    limit = frame_limit(websocket.scope)
    read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_in, write_out = anyio.create_memory_object_stream[SessionMessage](16)

    async def reader() -> None:
        async with read_in:
            try:
                while True:
                    text = await frames.receive_text(websocket)
                    if text is None:
                        await lane.send(_text(mcp.error_response(frames.BINARY, None)))
                        continue
                    try:
                        decoded = _json.loads(text, max_bytes=MAX_FRAME)
                        if type(decoded) is dict:
                            # The SDK would take a request with an id of the wrong type
                            # for a notification, and never answer it.
                            jsonrpc.check_id(decoded)
                            if lane.take(decoded):
                                continue
                            if "method" in decoded and not limit.take():
                                if "id" in decoded:  # a notification has no answer to get
                                    rid = decoded["id"]
                                    rid = rid if type(rid) in (str, int) else None
                                    refused = mcp.error_response(RateLimited(), rid)
                                    await lane.send(_text(refused))
                                continue
                            lane.saw_request(decoded)
                        message = mt.jsonrpc_message_adapter.validate_python(decoded, by_name=False)
                    except (EffmeshError, jsonrpc.EnvelopeError, ValidationError) as exc:
                        err = exc.error if isinstance(exc, jsonrpc.EnvelopeError) else exc
                        err = err if isinstance(err, EffmeshError) else InvalidRequest()
                        await lane.send(_text(mcp.error_response(err, None)))
                        continue
                    await read_in.send(SessionMessage(message))
            except (WebSocketDisconnect, RuntimeError):
                # RuntimeError: a socket already closing.
                return

    async def writer() -> None:
        async with write_out:
            async for message in write_out:
                lane.saw_reply(message)
                await lane.send(_dump(message))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            await server.run(read_out, write_in, server.create_initialization_options())
            tg.cancel_scope.cancel()
    finally:
        lane.close()
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
