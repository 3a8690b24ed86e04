"""The console's live view of the mesh for one caller, over one WebSocket.

The server speaks, the page listens: JSON text frames, each an object with a ``type``:

- ``hello``: ``principal``, ``operator`` (sees every caller's tasks), ``gateway`` (this
  gateway's federation id, or null);
- ``agents``: the agents the caller may see (``views.agents``), again whenever they change;
- ``federation``: ``GET /federation``'s answer, again whenever it changes;
- ``task``: one task's summary (``runtime.summary``): first every recent task the caller may
  see, then again on every change of state;
- ``event``: ``task`` and ``event``, a routing event of that task (the router's plan and its
  subtasks starting and finishing), in order, from the task's start: the page folds them
  into the plan tree.

Agents and the federation are looked at again when the registry changes and every
``REFRESH`` seconds (health and links change without the registry noticing), and sent only
when they differ. Frames from the page are read only to notice that it left; each costs one
request of the caller's rate limit. The gateway closes the socket as it stops (uvicorn sends
close code 1012), which an HTTP stream would not let it do.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Final

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters import _json
from gateway.console import runtime, views
from gateway.security.guard import frame_limit

if TYPE_CHECKING:
    from gateway.console import Console

SUBPROTOCOL: Final = "effmesh.console"
REFRESH: Final = 2.0
POLICY_VIOLATION: Final = 1008


class _Left(Exception):
    """The page closed the socket."""


class Session:
    """One page's socket: a writer and the producers that feed it."""

    def __init__(self, websocket: WebSocket, console: Console, principal: str | None) -> None:
        self.websocket = websocket
        self.console = console
        self.principal = principal
        self.out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.changed = asyncio.Event()
        self.following: set[str] = set()
        self.positions: dict[str, int] = {}

    async def run(self) -> None:
        feed = self.console.feed
        self.out.put_nowait(
            {
                "type": "hello",
                "principal": self.principal,
                "operator": feed.sees_all(self.principal),
                "gateway": self.console.gateway_id,
            }
        )
        with feed.listen() as saves, self.console.watching(self.changed):
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._write())
                    group.create_task(self._mesh())
                    for seen, record in feed.visible(self.principal):
                        self._follow(group, seen, record)
                    group.create_task(self._saves(group, saves))
                    await self._read()
            except* (_Left, WebSocketDisconnect):
                pass

    async def _read(self) -> None:
        limit = frame_limit(self.websocket.scope)
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise _Left
            if not limit.take():
                await self.websocket.close(POLICY_VIOLATION, "rate limited")
                raise _Left

    async def _write(self) -> None:
        while True:
            frame = await self.out.get()
            await self.websocket.send_text(_json.dumps(frame).decode())

    async def _mesh(self) -> None:
        last: dict[str, Any] = {}
        console = self.console
        while True:
            now = {
                "agents": views.agents(
                    console.registry,
                    console.config,
                    self.principal,
                    console.federation,
                    console.models,
                ),
                "federation": views.federation_status(
                    console.federation,
                    console.registry,
                    self.principal,
                    console.config.operators,
                ),
            }
            for kind, body in now.items():
                if last.get(kind) != body:
                    self.out.put_nowait({"type": kind, **body})
            last = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), REFRESH)
            self.changed.clear()

    async def _saves(self, group: asyncio.TaskGroup, saves: asyncio.Queue[str]) -> None:
        feed = self.console.feed
        while True:
            task_id = await saves.get()
            if task_id in self.following:
                continue
            try:
                seen, record = feed.find(task_id, self.principal)
            except runtime.TaskNotFound:
                continue  # another caller's
            self._follow(group, seen, record)

    def _follow(
        self, group: asyncio.TaskGroup, seen: runtime.Seen, record: runtime.TaskRecord
    ) -> None:
        self.following.add(seen.task_id)
        group.create_task(self._task(seen, record))

    async def _task(self, seen: runtime.Seen, record: runtime.TaskRecord) -> None:
        """Send the task's summary on every change and its routing events, until it settles
        (a resumed task is followed again from where this left off)."""
        task_id = seen.task_id
        last = runtime.summary(seen, record)
        self.out.put_nowait({"type": "task", "task": last})
        try:
            start = self.positions.get(task_id, 0)
            async for item in runtime.follow(record, start):
                self.positions[task_id] = self.positions.get(task_id, start) + 1
                event = runtime.routing_event(item)
                if event is not None:
                    self.out.put_nowait({"type": "event", "task": task_id, "event": event})
                now = runtime.summary(seen, record)
                if now != last:
                    self.out.put_nowait({"type": "task", "task": now})
                    last = now
            now = runtime.summary(seen, record)
            if now != last:
                self.out.put_nowait({"type": "task", "task": now})
        finally:
            self.following.discard(task_id)


async def serve(websocket: WebSocket, console: Console, principal: str | None) -> None:
    """Serve one page until it leaves or the gateway stops."""
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", ()):
        await websocket.close(POLICY_VIOLATION, f"offer the subprotocol {SUBPROTOCOL}")
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    await Session(websocket, console, principal).run()
