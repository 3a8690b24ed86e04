"""ACP over WebSocket (``/acp/ws``): ACP's REST routes as JSON-RPC methods (``agents/list``,
``runs/create``, ``runs/get``, ``runs/cancel``, ``runs/events``) with ACP's own bodies as params;
a stream-mode run sends ``runs/event`` notifications (``{"id": <request id>, "event": <ACP
event>}``) before its final result. Errors are JSON-RPC errors whose data holds the ACP ``Error``.
"""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from adapters import acp, jsonrpc
from adapters.errors import EffmeshError, InvalidParams, MethodNotFound
from adapters.model import Task, TaskState
from gateway.acp import http as acp_http
from gateway.jsonrpc_ws import Send, record_of, serve
from gateway.registry import Registry
from gateway.runtime.tasks import TaskManager
from observability import tracing


def _acp_error(err: EffmeshError, rid: Any) -> dict[str, Any]:
    status, body = acp.encode_error(err)
    return jsonrpc.error(
        rid,
        jsonrpc.INVALID_PARAMS if status < 500 else jsonrpc.INTERNAL_ERROR,
        err.public_message,
        {"status": status, "error": body},
    )


def _acp_trace(params: dict[str, Any]) -> dict[str, str]:
    """ACP over HTTP carries trace context in headers; a frame has none, so the run's
    ``metadata`` object holds it."""
    meta = params.get("metadata")
    return tracing.carrier_of(meta if isinstance(meta, dict) else None)


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
            await send(jsonrpc.result(rid, {"agents": acp_http.manifests(registry, principal)}))
        elif req.method == "runs/create":
            invocation = acp.decode_invocation(params)
            route = registry.route(invocation.skill, principal)
            record = tasks.start(route, invocation, principal=principal, endpoint="/acp/ws")
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
                    if acp_http.said_again(item):
                        continue
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
                run = record_of(tasks, run_id, principal)
                record = await tasks.cancel(run.task.task_id, principal)
            else:
                record = record_of(tasks, run_id, principal)
            if req.method == "runs/events":
                events = [
                    e
                    for item in list(record.items)
                    if not acp_http.said_again(item)
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

    await serve(websocket, "acp", handle, _acp_error, max_bytes, trace_of=_acp_trace)
