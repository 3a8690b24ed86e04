"""A2A over WebSocket (``/a2a/ws``): A2A's own JSON-RPC methods (``SendMessage``,
``SendStreamingMessage``, ``GetTask``, ``CancelTask``, ``SubscribeToTask``), one message per text
frame. The skill is named ``<agent>.<skill>`` in the request metadata ``effmesh.skill``. A
streaming call answers with one frame per stream response (``result`` holding a StreamResponse,
the same id each time), the last one final.
"""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from adapters import a2a, jsonrpc
from adapters.errors import EffmeshError, MethodNotFound
from adapters.model import Cancel, GetTask, Invocation
from gateway.jsonrpc_ws import Send, record_of, serve
from gateway.registry import Registry
from gateway.runtime.tasks import TaskManager
from observability import tracing


def _a2a_error(err: EffmeshError, rid: Any) -> dict[str, Any]:
    return a2a.jsonrpc_error(err, rid)


def _a2a_trace(params: dict[str, Any]) -> dict[str, str]:
    """A2A carries trace context in the message's metadata (or the request's)."""
    message = params.get("message")
    meta = message.get("metadata") if isinstance(message, dict) else None
    return tracing.carrier_of(meta) or tracing.carrier_of(params.get("metadata"))


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
            record = tasks.start(route, decoded, principal=principal, endpoint="/a2a/ws")
            if decoded.mode == "stream":
                await send(jsonrpc.result(rid, a2a.encode_stream_item(record.task)))
                async for item in record.follow():
                    await send(jsonrpc.result(rid, a2a.encode_stream_item(item)))
                return
            if decoded.mode == "sync":
                await record.done.wait()
            await send(jsonrpc.result(rid, a2a.encode_outcome(record.task)))
        elif isinstance(decoded, Cancel):
            record = await tasks.cancel(str(decoded.target_id), principal)
            await send(jsonrpc.result(rid, a2a.encode_task(record.task)))
        elif isinstance(decoded, GetTask):
            record = record_of(tasks, decoded.task_id, principal)
            if req.method == "SubscribeToTask":
                async for item in record.follow():
                    await send(jsonrpc.result(rid, a2a.encode_stream_item(item)))
                return
            await send(jsonrpc.result(rid, a2a.encode_task(record.task)))
        else:
            raise MethodNotFound(req.method)

    await serve(websocket, "a2a", handle, _a2a_error, max_bytes, trace_of=_a2a_trace)
