"""The mesh WebSocket ``/ws``: a peer behind NAT connects out, registers its agents, and they
become callable from every protocol the gateway speaks. The frames are the mesh protocol's
(``adapters.mesh``).

A dial-in agent is its registering token's alone: no other token sees or calls it, unless
the configuration shares it (``shared_dialin`` names the agent or the token). With no tokens
in use, every dial-in agent is open to all.

When the socket closes, the peer's agents leave the registry and calls in flight fail with
``UpstreamUnavailable``. A name already taken on this gateway is refused (an agent that came
from another gateway of the federation gives way). A peer gateway opens the same socket with
``mesh/hello`` and is served by the federation (``gateway.mesh.federation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Protocol, assert_never

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters import _json, jsonrpc, mesh
from adapters.errors import (
    EffmeshError,
    Forbidden,
    InvalidParams,
    MethodNotFound,
    UpstreamUnavailable,
    quote,
)
from adapters.model import AgentDescriptor, Invocation, StreamItem
from agents.base import Agent
from gateway import frames, logs
from gateway.registry import NAME_PATTERN, RESERVED, Registry

_REFUSALS = logs.Once(logging.getLogger("effmesh.federation"))
"""Joins refused because federation is off, logged once per gateway and address."""
END: Any = object()
"""What a pending call's queue receives when the call has ended without an error."""


class Gateways(Protocol):
    """Where a peer gateway's ``mesh/hello`` goes (``gateway.mesh.federation.service``)."""

    async def accept(
        self, websocket: WebSocket, hello: mesh.Hello, principal: str | None
    ) -> None: ...


class PendingCalls:
    """Calls made over one socket and waiting for what comes back, by call id: each has a
    queue that receives the stream items, the end, or an error. The mesh peer and a
    federation link both keep their calls in one of these."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Queue[Any]] = {}

    def open_call(self) -> tuple[int, asyncio.Queue[Any]]:
        call_id = next(self._ids)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._calls[call_id] = queue
        return call_id, queue

    def close_call(self, call_id: int) -> None:
        self._calls.pop(call_id, None)

    def deliver(self, call_id: Any, value: Any) -> None:
        queue = self._calls.get(call_id) if type(call_id) is int else None
        if queue is not None:
            queue.put_nowait(value)

    def fail_all(self, error: EffmeshError) -> None:
        for queue in self._calls.values():
            queue.put_nowait(error)

    @staticmethod
    async def replies(queue: asyncio.Queue[Any]) -> AsyncIterator[StreamItem]:
        """One call's items as they arrive, until its end; an error that arrives is raised."""
        while True:
            value = await queue.get()
            if value is END:
                return
            if isinstance(value, EffmeshError):
                raise value
            yield value


class Peer(PendingCalls):
    """One connected peer: its socket, and the calls it is running for the gateway."""

    def __init__(self, websocket: WebSocket) -> None:
        super().__init__()
        self.websocket = websocket
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_text(_json.dumps(message).decode())

    def lost(self) -> None:
        self.closed = True
        self.fail_all(UpstreamUnavailable("the agent's peer disconnected"))


class DialInAgent(Agent):
    """An agent that lives behind a peer's socket."""

    def __init__(self, descriptor: AgentDescriptor, remote_name: str, peer: Peer) -> None:
        self._descriptor = descriptor
        self.remote_name = remote_name
        self.peer = peer

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    @property
    def healthy(self) -> bool:
        return not self.peer.closed

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if self.peer.closed:
            raise UpstreamUnavailable("the agent's peer disconnected")
        # The caller's task id is this gateway's; the peer's agent makes its own.
        outgoing = replace(invocation, message=replace(invocation.message, task_id=None))
        call_id, queue = self.peer.open_call()
        try:
            await self.peer.send(mesh.encode(mesh.Run(call_id, self.remote_name, outgoing)))
            async for item in self.peer.replies(queue):
                yield item
        except asyncio.CancelledError:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.peer.send(mesh.encode(mesh.Cancel(call_id)))
            raise
        finally:
            self.peer.close_call(call_id)


async def serve_peer(
    websocket: WebSocket,
    registry: Registry,
    *,
    trusted: bool,
    principal: str | None = None,
    gateways: Gateways | None = None,
    shared: tuple[str, ...] = (),
) -> None:
    """Serve one peer until its socket closes. ``trusted``: the peer authenticated (or is on
    loopback with no token configured); others may not register agents. A first message
    ``mesh/hello`` hands the socket to ``gateways``, with the caller's ``principal``.
    ``shared``: agent names and token names whose dial-in agents every token may call."""
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=mesh.SUBPROTOCOL if mesh.SUBPROTOCOL in offered else None)
    peer = Peer(websocket)
    mine: list[str] = []
    try:
        while True:
            text = await frames.receive_text(websocket)
            if text is None:
                await peer.send(mesh.encode_error(frames.BINARY, None))
                continue
            try:
                message = mesh.parse(text)
            except jsonrpc.EnvelopeError as exc:
                if exc.owed:
                    await peer.send(mesh.encode_error(exc.error, exc.id))
                continue
            match message:
                case mesh.Hello() if gateways is not None and not mine:
                    await gateways.accept(websocket, message, principal)
                    return
                case mesh.Register():
                    await _register(
                        message,
                        peer,
                        registry,
                        mine,
                        trusted=trusted,
                        principal=principal,
                        shared=shared,
                    )
                case mesh.Event():
                    peer.deliver(message.call, message.item)
                case mesh.Reply():
                    # The end of a mesh/run call: its result, or its error.
                    peer.deliver(message.id, message.error or END)
                case mesh.Hello() if gateways is None:
                    where = websocket.client.host if websocket.client else "?"
                    _REFUSALS.log(
                        logging.WARNING,
                        "refused gateway %s from %s: federation is off here (no federation "
                        "token is set)",
                        quote(message.gateway),
                        where,
                    )
                    off = Forbidden("federation is off on this gateway (no federation token)")
                    await peer.send(mesh.encode_error(off, message.id))
                case mesh.Hello():  # once agents are registered
                    await peer.send(mesh.encode_error(MethodNotFound(message.method), message.id))
                case mesh.Run():  # the gateway's to send, not a peer's
                    await peer.send(mesh.encode_error(MethodNotFound(message.method), message.call))
                case mesh.Cancel() | mesh.Announce() | mesh.Withdraw() | mesh.Ping():
                    pass  # notifications a peer has no reason to send
                case _:
                    assert_never(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        peer.lost()
        for name in mine:
            held = registry.find(name)
            if isinstance(held, DialInAgent) and held.peer is peer:
                registry.remove(name)


def allow_for(name: str, principal: str | None, shared: tuple[str, ...]) -> tuple[str, ...]:
    """Who may call a dial-in agent ``name`` that ``principal`` registers."""
    if principal is None or name in shared or principal in shared:
        return ("*",)
    return (principal,)


async def _register(
    frame: mesh.Register,
    peer: Peer,
    registry: Registry,
    mine: list[str],
    *,
    trusted: bool,
    principal: str | None,
    shared: tuple[str, ...],
) -> None:
    try:
        if not trusted:
            raise Forbidden("registering agents needs a bearer token")
        names = [d.name for d in frame.agents]
        for name in names:
            if not NAME_PATTERN.match(name) or name in RESERVED:
                raise InvalidParams(f"agent name {quote(name)} is not allowed")
            held = registry.find(name)
            # Only an agent of another gateway, or a dial-in agent whose peer is gone (or is
            # this one, registering again), gives way: a peer cannot take the name of an
            # agent this gateway serves.
            if held is not None and not (
                held.federated
                or (isinstance(held, DialInAgent) and (held.peer.closed or held.peer is peer))
            ):
                raise Forbidden(f"agent name {quote(name)} is taken on this gateway")
        if len(set(names)) != len(names):
            raise InvalidParams("agent names must be unique", path="params.agents")
        for descriptor in frame.agents:
            allow = allow_for(descriptor.name, principal, shared)
            registry.add(DialInAgent(descriptor, descriptor.name, peer), allow=allow)
            mine.append(descriptor.name)
        if frame.id is not None:
            await peer.send(mesh.encode_register_result(frame.id, names))
    except EffmeshError as exc:
        if frame.id is not None:
            await peer.send(mesh.encode_error(exc, frame.id))
