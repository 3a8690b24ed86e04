"""A task's answer carried on by the replica whose process holds the task's call open.

A handshake-era MCP server asks its question on the event stream of the call it asks in,
and waits there for the answer: the upstream call stays open in the process that made it
(replica A), parked under the gateway's task (:class:`agents.base.HoldsCalls`), and the
stored task names A (``conversations.HELD``). An A2A caller's next message, or an ACP
caller's resume, may reach replica B. B runs the task on as any task (the caller's protocol
and mode, the task's store and log are B's, so its caller is answered as usual), but the
agent's part runs on A: B sends the caller's message to A over the replicas' channel
(``effmesh_mcp``, direction ``resume``, addressed to A's name); A gives it to the waiting
upstream request and sends back every item the agent streams from then on (direction
``resumed``), each saying whether the call is held open there again (the server asked
again: the task then names A again), and at last how the stream ended (an error, or not).

B checks the caller first: the task must be the caller's and wait for input, and the
store's compare-and-set gives it to one answer, so another token's answer never leaves B.
A checks again that it holds the task's call and that the task was taken up. A says at once
that it took the answer up, and again every :data:`ALIVE_SECONDS` while the call goes on;
when B hears nothing of it for :data:`TAKEN_SECONDS` (A is gone, and with it the upstream
call), the task fails as the agent being unavailable. A call whose process is gone (the
gateway restarted: a process has a name of its own) cannot be carried on by anyone: the
task fails with that reason, and the server hears nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Final

from adapters import _json, a2a, lifecycle
from adapters.errors import (
    KNOWN_CODES,
    EffmeshError,
    ErrorCode,
    Internal,
    InvalidParams,
    UpstreamUnavailable,
    from_code,
)
from adapters.model import Invocation, Message, StatusEvent, StreamItem, Task
from agents.base import Agent, HoldsCalls
from gateway.runtime import calls
from gateway.runtime.channel import Channel, Forwarded
from gateway.runtime.store import RUNNING, TaskStore
from observability import tracing

if TYPE_CHECKING:
    from gateway.registry import Registry, Route

log = logging.getLogger(__name__)

TAKEN_SECONDS: Final = 5.0
"""How long the replica holding a call has to take an answer up, and then to say that it
still carries it on."""
ALIVE_SECONDS: Final = 1.5
"""How often the replica carrying an answer on says so while its call is quiet."""
ALIVE: Final = b'{"alive":true}'
"""What the holding replica sends at once (it took the answer up), then every
:data:`ALIVE_SECONDS`."""
LOST: Final = (
    "the agent is unavailable: the call waiting for this answer was lost"
    " (the gateway process that held it stopped)"
)
GONE: Final = "the agent is unavailable: the gateway replica holding its call is gone"
KEPT: Final = 10_000
"""Tasks remembered as held open on another replica (the newest)."""


def holds(agent: Agent, task_id: str) -> bool:
    """Whether ``agent`` holds ``task_id``'s call open in this process."""
    return isinstance(agent, HoldsCalls) and agent.holds(task_id)


def _settles(item: StreamItem) -> bool:
    if isinstance(item, Message):
        return True
    return isinstance(item, Task | StatusEvent) and (
        lifecycle.is_terminal(item.state) or item.state in lifecycle.INTERRUPTED
    )


class HeldCalls:
    """Answers handed to the replica that holds their task's call, among the replicas that
    share ``channel`` and ``store``. On the event loop; not thread-safe."""

    def __init__(self, channel: Channel, store: TaskStore) -> None:
        self.channel = channel
        self.store = store
        self.registry: Registry | None = None
        """Where a handed answer's task finds its agent (None: this replica serves none)."""
        self._streams: dict[str, asyncio.Queue[bytes]] = {}
        """The answers handed from here, by key: what the holding replica sends back."""
        self._serving: dict[str, asyncio.Task[None]] = {}
        """The answers handed to this replica, by key, being carried on."""
        self._elsewhere: dict[str, str] = {}
        """Tasks whose call a stream from another replica left held open there, by id."""
        channel.hear(self._heard)

    def holder(self, agent: Agent, task_id: str) -> str | None:
        """The replica whose process holds ``task_id``'s call open, for the task to name as
        it is stored waiting: this one when ``agent`` holds it here, the one a carried-on
        stream left it held on, else None."""
        if holds(agent, task_id):
            return self.store.replica
        return self._elsewhere.get(task_id)

    def here(self, agent: Agent, task_id: str, holder: str) -> bool:
        """Whether the call the stored task names ``holder`` for is carried on in this process
        (the agent holds it here)."""
        return holder == self.store.replica and holds(agent, task_id)

    async def stream(
        self, holder: str, route: Route, invocation: Invocation, task_id: str, *, who: str | None
    ) -> AsyncGenerator[StreamItem]:
        """The agent's items for the answer ``invocation`` to task ``task_id``, carried on by
        ``holder``, whose process holds the call open.

        Raises:
            UpstreamUnavailable: the call is lost (its process stopped), or nothing was
                heard of ``holder`` for :data:`TAKEN_SECONDS` (it is gone).
            EffmeshError: the error the carried-on call ended with.
        """
        self._elsewhere.pop(task_id, None)
        if holder == self.store.replica or not self.channel.shared:
            raise UpstreamUnavailable(LOST)
        key = secrets.token_urlsafe(12)
        body = {
            "task": task_id,
            "agent": route.tool_name,
            "who": who,
            "message": a2a.encode_stream_item(invocation.message),
            "from": self.store.replica,
            "trace": tracing.wire_carrier(),  # one trace across both replicas
        }
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._streams[key] = queue
        ended = False
        try:
            self.channel.forward(holder, "resume", _json.dumps(body), key)
            while True:
                try:
                    async with asyncio.timeout(TAKEN_SECONDS):
                        got = await queue.get()
                except TimeoutError:
                    raise UpstreamUnavailable(GONE) from None
                if got == ALIVE:
                    continue
                sent = _json.loads(got)
                if not isinstance(sent, dict):
                    raise Internal()
                if "item" in sent:
                    item = a2a.decode_stream_item(sent["item"])
                    if sent.get("held"):
                        self._keep(task_id, holder)
                    ended = _settles(item)
                    yield item
                    continue
                ended = True
                error = sent.get("error")
                if isinstance(error, dict):
                    raise _error(error)
                return
        finally:
            del self._streams[key]
            if not ended:
                # The caller stopped reading (cancelled, timed out): so does the holder.
                with contextlib.suppress(Exception):
                    self.channel.forward(holder, "resume", b'{"cancel":true}', key)

    def _keep(self, task_id: str, holder: str) -> None:
        self._elsewhere[task_id] = holder
        while len(self._elsewhere) > KEPT:
            del self._elsewhere[next(iter(self._elsewhere))]

    def _heard(self, heard: Forwarded) -> None:
        if heard.session != self.store.replica or heard.key is None:
            return
        key = str(heard.key)
        if heard.direction == "resumed":
            queue = self._streams.get(key)
            body = None if queue is None else self.channel.take(heard.message_id)
            if queue is not None and body is not None:
                queue.put_nowait(body)
        elif heard.direction == "resume":
            body = self.channel.take(heard.message_id)
            request = None if body is None else _json.loads(body)
            if not isinstance(request, dict):
                return
            if request.get("cancel"):
                serving = self._serving.get(key)
                if serving is not None:
                    serving.cancel()
                return
            origin = request.get("from")
            if not isinstance(origin, str) or self.registry is None:
                return
            self.channel.forward(origin, "resumed", ALIVE, key)
            serving = asyncio.get_running_loop().create_task(self._serve(request, origin, key))
            self._serving[key] = serving
            serving.add_done_callback(lambda _: self._serving.pop(key, None))

    async def _serve(self, request: dict[str, Any], origin: str, key: str) -> None:
        """Carry one handed answer on here and send what follows back to ``origin``."""
        answer: dict[str, Any]
        beating = asyncio.get_running_loop().create_task(self._beat(origin, key))
        try:
            route, invocation, task_id, who = self._resumed(request)
            carrier = tracing.carrier_of(request.get("trace"))
            with tracing.inbound(
                "carry_on held call", carrier, attributes={"effmesh.task_id": task_id}
            ):
                items = calls.stream(
                    route, invocation, task_id, scope=calls.scope_for(who), principal=who
                )
                async with contextlib.aclosing(items):
                    async for item in items:
                        held = holds(route.agent, task_id)
                        sent = {"item": a2a.encode_stream_item(item), "held": held}
                        self.channel.forward(origin, "resumed", _json.dumps(sent), key)
            answer = {}
        except EffmeshError as exc:
            answer = {"error": {"code": exc.code.value, "message": exc.public_message}}
        except Exception:  # an agent's bug: the caller's task fails, generically
            log.warning("a handed answer's call failed", exc_info=True)
            answer = {"error": {"code": ErrorCode.INTERNAL.value}}
        finally:
            beating.cancel()
        try:
            self.channel.forward(origin, "resumed", _json.dumps(answer), key)
        except Exception:  # the store may be down: the caller's replica times out
            log.warning("a handed answer's end was not sent back", exc_info=True)

    async def _beat(self, origin: str, key: str) -> None:
        """Tell ``origin`` every :data:`ALIVE_SECONDS` that its answer is still carried on."""
        while True:
            await asyncio.sleep(ALIVE_SECONDS)
            with contextlib.suppress(Exception):  # the store may be down: it may time out
                self.channel.forward(origin, "resumed", ALIVE, key)

    def _resumed(self, request: dict[str, Any]) -> tuple[Route, Invocation, str, str | None]:
        """What a handed answer carries on: the route, the answer, the task and its caller.

        Raises:
            EffmeshError: not this replica's to carry on (the call is not held here, or the
                task was not taken up for this answer), or the caller may not call the agent.
        """
        assert self.registry is not None  # checked before serving
        task_id, agent, who = request.get("task"), request.get("agent"), request.get("who")
        if not (isinstance(task_id, str) and isinstance(agent, str)):
            raise InvalidParams("a handed answer names no task")
        principal = who if isinstance(who, str) else None
        route = self.registry.route(agent, principal)
        stored = self.store.load(task_id)
        # Taken up for this answer (running again), and its call still waits here.
        if stored is None or stored.agent != agent or stored.task.state not in RUNNING:
            raise UpstreamUnavailable(LOST)
        if not holds(route.agent, task_id):
            raise UpstreamUnavailable(LOST)
        message = a2a.decode_stream_item(request.get("message"))
        if not isinstance(message, Message):
            raise InvalidParams("a handed answer carries no message")
        return route, Invocation(route.skill.name, message), task_id, principal


def _error(error: dict[str, Any]) -> EffmeshError:
    code, message = error.get("code"), error.get("message")
    known = isinstance(code, str) and code in KNOWN_CODES
    found = ErrorCode(str(code)) if known else ErrorCode.INTERNAL
    return from_code(found, message if isinstance(message, str) else None)
