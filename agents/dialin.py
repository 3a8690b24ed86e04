"""The peer side of the mesh WebSocket: connect out to a gateway, register local agents, and
run the calls it sends. For agents behind NAT or a firewall.

    await dial("ws://gateway:8640/ws", [EchoAgent("far")], token="...")
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import websockets

from adapters import _json, a2a, jsonrpc
from adapters.errors import EffmeshError, NotFound, as_effmesh_error
from agents.base import Agent
from observability import boundary, tracing


async def dial(
    url: str,
    agents: Sequence[Agent],
    *,
    token: str | None = None,
    registered: asyncio.Event | None = None,
) -> None:
    """Serve ``agents`` through the gateway at ``url`` until the connection closes."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    by_name = {a.descriptor.name: a for a in agents}
    running: dict[Any, asyncio.Task[None]] = {}
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("effmesh")], additional_headers=headers
    ) as ws:
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await ws.send(_json.dumps(message).decode())

        cards = [a2a.encode_agent(a.descriptor) for a in agents]
        await send(jsonrpc.request(0, "mesh/register", {"agents": cards}))

        async def run(call_id: Any, params: dict[str, Any]) -> None:
            inner = params.get("params")
            message = inner.get("message") if isinstance(inner, dict) else None
            carrier = tracing.carrier_of(
                message.get("metadata") if isinstance(message, dict) else None
            )
            with boundary.request("mesh", "mesh/run", carrier) as req:
                try:
                    agent = by_name.get(params.get("agent", ""))
                    if agent is None:
                        raise NotFound(f"no agent {params.get('agent')!r:.60} here")
                    invocation = a2a.decode_invocation(params.get("params", {}), method="stream")
                    req.routed(agent.descriptor.name, invocation.skill)
                    async for item in agent.run(invocation, task_id=str(call_id)):
                        await send(
                            jsonrpc.request(
                                None,
                                "mesh/event",
                                {"call": call_id, "item": a2a.encode_stream_item(item)},
                            )
                        )
                    await send(jsonrpc.result(call_id, {}))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported to the gateway, never raised
                    error = as_effmesh_error(exc)
                    req.failed(error)
                    await send(a2a.jsonrpc_error(error, call_id))
                finally:
                    running.pop(call_id, None)

        try:
            async for frame in ws:
                msg = _json.loads(frame if isinstance(frame, str) else frame.decode())
                if not isinstance(msg, dict):
                    continue
                method = msg.get("method")
                raw_params = msg.get("params")
                params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
                if method == "mesh/run":
                    call_id = msg.get("id")
                    running[call_id] = asyncio.get_running_loop().create_task(run(call_id, params))
                elif method == "mesh/cancel":
                    task = running.get(params.get("call"))
                    if task is not None:
                        task.cancel()
                elif msg.get("id") == 0 and registered is not None:
                    registered.set()
        except (websockets.ConnectionClosed, EffmeshError):
            pass
        finally:
            for task in running.values():
                task.cancel()
            for task in list(running.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
