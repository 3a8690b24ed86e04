"""JSON-RPC 2.0 over WebSocket, one message per text frame: the loop that ``/a2a/ws`` and
``/acp/ws`` share. Each request runs concurrently and its replies carry its id; a frame that is
not a request gets the protocol's own error.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters import _json, jsonrpc
from adapters.errors import EffmeshError, Internal, InvalidRequest, RateLimited, TaskNotFound
from gateway import frames
from gateway.runtime.tasks import TaskManager, TaskRecord
from gateway.security.guard import frame_limit
from observability import boundary

Send = Callable[[dict[str, Any]], Awaitable[None]]


Handler = Callable[[jsonrpc.Request, jsonrpc.RequestId, Send], Awaitable[None]]


async def serve(
    websocket: WebSocket,
    subprotocol: str,
    handle: Handler,
    error: Callable[[EffmeshError, Any], dict[str, Any]],
    max_bytes: int,
    *,
    trace_of: Callable[[dict[str, Any]], dict[str, str]],
) -> None:
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=subprotocol if subprotocol in offered else None)
    lock = asyncio.Lock()
    running: set[asyncio.Task[None]] = set()
    limit = frame_limit(websocket.scope)

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_text(_json.dumps(message).decode())

    async def one(req: jsonrpc.Request) -> None:
        if req.id is None:
            # Every frame here is a call: a notification would have no way to be answered.
            await send(error(InvalidRequest('"id" is required'), None))
            return
        params = req.params if isinstance(req.params, dict) else {}
        with boundary.request(subprotocol, req.method, trace_of(params)) as span:
            try:
                await handle(req, req.id, send)
            except EffmeshError as exc:
                span.failed(exc)
                await send(error(exc, req.id))
            except jsonrpc.EnvelopeError as exc:
                span.failed(exc.error)
                await send(error(exc.error, exc.id))
            except Exception as exc:  # noqa: BLE001 - a request's top level: a bug is answered
                span.failed(exc)
                await send(error(Internal(), req.id))

    try:
        while True:
            text = await frames.receive_text(websocket)
            if text is None:
                await send(error(frames.BINARY, None))
                continue
            try:
                req = jsonrpc.parse_request(text.encode(), max_bytes=max_bytes)
            except jsonrpc.EnvelopeError as exc:
                await send(error(exc.error, exc.id))
                continue
            if not limit.take():
                await send(error(RateLimited(), req.id))
                continue
            # Requests run concurrently; replies carry their ids.
            task = asyncio.get_running_loop().create_task(one(req))
            running.add(task)
            task.add_done_callback(running.discard)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for task in running:
            task.cancel()
        for task in list(running):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def record_of(tasks: TaskManager, task_id: str, who: str | None) -> TaskRecord:
    """The task ``task_id`` names, if ``who`` may see it.

    Raises:
        TaskNotFound: not a task id, no such task, or another owner's.
    """
    try:
        return tasks.get(str(uuid.UUID(task_id)), who)
    except ValueError:
        raise TaskNotFound(task_id) from None
