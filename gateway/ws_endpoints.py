"""A2A and ACP over WebSocket: one JSON-RPC 2.0 message per text frame.

``/a2a/ws`` speaks A2A's own JSON-RPC methods (``SendMessage``, ``SendStreamingMessage``,
``GetTask``, ``CancelTask``, ``SubscribeToTask``); the skill is named ``<agent>.<skill>`` in the
request metadata ``effmesh.skill``. A streaming call answers with one frame per stream response
(``result`` holding a StreamResponse, the same id each time), the last one final.

``/acp/ws`` carries ACP's REST routes as methods (``agents/list``, ``runs/create``,
``runs/get``, ``runs/cancel``, ``runs/events``) with ACP's own bodies as params; a stream-mode
run sends ``runs/event`` notifications (``{"id": <request id>, "event": <ACP event>}``)
before its final result. Errors are JSON-RPC errors whose data holds the ACP ``Error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters import _json, a2a, acp, jsonrpc
from adapters.errors import (
    EffmeshError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    TaskNotFound,
)
from adapters.model import Cancel, GetTask, Invocation, Task, TaskState
from gateway import acp_server
from gateway.registry import Registry
from gateway.tasks import TaskManager, TaskRecord
from observability import boundary, tracing

Send = Callable[[dict[str, Any]], Awaitable[None]]


Handler = Callable[[jsonrpc.Request, jsonrpc.RequestId, Send], Awaitable[None]]


async def _serve(
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

    try:
        while True:
            text = await websocket.receive_text()
            try:
                req = jsonrpc.parse_request(text.encode(), max_bytes=max_bytes)
            except jsonrpc.EnvelopeError as exc:
                await send(error(exc.error, exc.id))
                continue
            # Requests run concurrently; replies carry their ids.
            task = asyncio.get_running_loop().create_task(one(req))
            running.add(task)
            task.add_done_callback(running.discard)
    except (WebSocketDisconnect, KeyError, RuntimeError):
        pass
    finally:
        for task in running:
            task.cancel()
        for task in list(running):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _a2a_error(err: EffmeshError, rid: Any) -> dict[str, Any]:
    return a2a.jsonrpc_error(err, rid)


def _acp_error(err: EffmeshError, rid: Any) -> dict[str, Any]:
    status, body = acp.encode_error(err)
    return jsonrpc.error(
        rid,
        jsonrpc.INVALID_PARAMS if status < 500 else jsonrpc.INTERNAL_ERROR,
        err.public_message,
        {"status": status, "error": body},
    )


def _a2a_trace(params: dict[str, Any]) -> dict[str, str]:
    """A2A carries trace context in the message's metadata (or the request's)."""
    message = params.get("message")
    meta = message.get("metadata") if isinstance(message, dict) else None
    return tracing.carrier_of(meta) or tracing.carrier_of(params.get("metadata"))


def _acp_trace(params: dict[str, Any]) -> dict[str, str]:
    """ACP over HTTP carries trace context in headers; a frame has none, so the run's
    ``metadata`` object holds it."""
    meta = params.get("metadata")
    return tracing.carrier_of(meta if isinstance(meta, dict) else None)


def _record(tasks: TaskManager, task_id: str) -> TaskRecord:
    try:
        return tasks.get(str(uuid.UUID(task_id)))
    except ValueError:
        raise TaskNotFound(task_id) from None


async def serve_a2a(
    websocket: WebSocket,
    registry: Registry,
    tasks: TaskManager,
    max_bytes: int,
    principal: str | None = None,
) -> None:
    async def handle(req: jsonrpc.Request, rid: jsonrpc.RequestId, send: Send) -> None:
        decoded = a2a.decode_request(req, skill=None)
        if isinstance(decoded, Invocation):
            route = registry.route(decoded.skill, principal)
            record = tasks.start(route, decoded, principal=principal)
            if decoded.mode == "stream":
                await send(jsonrpc.result(rid, a2a.encode_stream_item(record.task)))
                async for item in record.follow():
                    await send(jsonrpc.result(rid, a2a.encode_stream_item(item)))
                return
            if decoded.mode == "sync":
                await record.done.wait()
            await send(jsonrpc.result(rid, a2a.encode_outcome(record.task)))
        elif isinstance(decoded, Cancel):
            record = await tasks.cancel(str(decoded.target_id))
            await send(jsonrpc.result(rid, a2a.encode_task(record.task)))
        elif isinstance(decoded, GetTask):
            record = _record(tasks, decoded.task_id)
            if req.method == "SubscribeToTask":
                async for item in record.follow():
                    await send(jsonrpc.result(rid, a2a.encode_stream_item(item)))
                return
            await send(jsonrpc.result(rid, a2a.encode_task(record.task)))
        else:
            raise MethodNotFound(req.method)

    await _serve(websocket, "a2a", handle, _a2a_error, max_bytes, trace_of=_a2a_trace)


async def serve_acp(
    websocket: WebSocket,
    registry: Registry,
    tasks: TaskManager,
    max_bytes: int,
    principal: str | None = None,
) -> None:
    async def handle(req: jsonrpc.Request, rid: jsonrpc.RequestId, send: Send) -> None:
        params = req.params
        if req.method == "agents/list":
            await send(jsonrpc.result(rid, {"agents": acp_server.manifests(registry, principal)}))
        elif req.method == "runs/create":
            invocation = acp.decode_invocation(params)
            route = registry.route(invocation.skill, principal)
            record = tasks.start(route, invocation, principal=principal)
            if invocation.mode == "stream":
                created = Task(record.task.task_id, TaskState.SUBMITTED, record.task.context_id)
                first = acp.encode_outcome(created, agent_name=record.agent_name)
                await send(
                    jsonrpc.request(
                        None,
                        "runs/event",
                        {"id": rid, "event": {"type": "run.created", "run": first}},
                    )
                )
                async for item in record.follow():
                    for event in acp.encode_stream_item(item, agent_name=record.agent_name):
                        await send(jsonrpc.request(None, "runs/event", {"id": rid, "event": event}))
            elif invocation.mode == "sync":
                await record.done.wait()
            await send(
                jsonrpc.result(rid, acp.encode_outcome(record.task, agent_name=record.agent_name))
            )
        elif req.method in ("runs/get", "runs/cancel", "runs/events"):
            run_id = params.get("run_id")
            if type(run_id) is not str:
                raise InvalidParams("is required", path="params.run_id")
            if req.method == "runs/cancel":
                record = await tasks.cancel(_record(tasks, run_id).task.task_id)
            else:
                record = _record(tasks, run_id)
            if req.method == "runs/events":
                events = [
                    e
                    for item in list(record.items)
                    for e in acp.encode_stream_item(item, agent_name=record.agent_name)
                ]
                await send(jsonrpc.result(rid, {"events": events}))
            else:
                await send(
                    jsonrpc.result(
                        rid, acp.encode_outcome(record.task, agent_name=record.agent_name)
                    )
                )
        else:
            raise MethodNotFound(req.method)

    await _serve(websocket, "acp", handle, _acp_error, max_bytes, trace_of=_acp_trace)
