"""The peer side of the mesh WebSocket: connect out to a gateway, register local agents, and
run the calls it sends. For agents behind NAT or a firewall.

    await dial("ws://gateway:8640/ws", [EchoAgent("far")], token="...")
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, assert_never

import websockets

from adapters import _json, jsonrpc, mesh
from adapters.errors import NotFound, ParseError, as_effmesh_error
from adapters.trace import join_trace
from agents.base import Agent
from observability import boundary

REGISTER_ID = 0
"""The id of this side's one request, ``mesh/register``."""


async def dial(
    url: str,
    agents: Sequence[Agent],
    *,
    token: str | None = None,
    registered: asyncio.Event | None = None,
) -> None:
    """Serve ``agents`` through the gateway at ``url`` until the connection closes (or the
    gateway sends a frame that is not JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    by_name = {a.descriptor.name: a for a in agents}
    running: dict[jsonrpc.RequestId, asyncio.Task[None]] = {}
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol(mesh.SUBPROTOCOL)], additional_headers=headers
    ) as ws:
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await ws.send(_json.dumps(message).decode())

        descriptors = tuple(a.descriptor for a in agents)
        await send(mesh.encode(mesh.Register(REGISTER_ID, descriptors)))

        async def run(frame: mesh.Run) -> None:
            carrier = join_trace(frame.invocation.trace, {})
            with boundary.request("mesh", mesh.RUN, carrier) as req:
                try:
                    agent = by_name.get(frame.agent)
                    if agent is None:
                        raise NotFound(f"no agent {frame.agent!r:.60} here")
                    req.routed(agent.descriptor.name, frame.invocation.skill)
                    async for item in agent.run(frame.invocation, task_id=str(frame.call)):
                        await send(mesh.encode(mesh.Event(frame.call, item)))
                    await send(mesh.encode_run_result(frame.call))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported to the gateway, never raised
                    error = as_effmesh_error(exc)
                    req.failed(error)
                    await send(mesh.encode_error(error, frame.call))
                finally:
                    running.pop(frame.call, None)

        try:
            async for raw in ws:
                try:
                    message = mesh.parse(raw)
                except jsonrpc.EnvelopeError as exc:
                    if isinstance(exc.error, ParseError):
                        break
                    if exc.id is not None:
                        await send(mesh.encode_error(exc.error, exc.id))
                    continue
                match message:
                    case mesh.Run():
                        task = asyncio.get_running_loop().create_task(run(message))
                        running[message.call] = task
                    case mesh.Cancel():
                        cancelled = running.get(message.call)
                        if cancelled is not None:
                            cancelled.cancel()
                    case mesh.Reply():
                        if message.id == REGISTER_ID and registered is not None:
                            registered.set()
                    case (
                        mesh.Register()
                        | mesh.Event()
                        | mesh.Hello()
                        | mesh.Announce()
                        | mesh.Withdraw()
                        | mesh.Ping()
                    ):
                        pass  # a gateway sends a peer none of these
                    case _:
                        assert_never(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            for task in running.values():
                task.cancel()
            for task in list(running.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
