"""The federation of one gateway: links to peer gateways, the agents they offer, and calls
forwarded to them.

Messages on a link (JSON-RPC 2.0 text frames on ``/ws``, subprotocol ``effmesh``):

- ``mesh/hello`` ``{"gateway": <id>}`` -> ``{"gateway": <id>}``: the joining gateway opens
  the link with the federation token as its bearer token; each side learns the other's id.
- ``mesh/announce`` ``{"origin", "version": [epoch, seq], "path": [...], "agents": [<card>]}``
  and ``mesh/withdraw`` ``{"origin"}``: the route table's adverts (``table``).
- ``mesh/run`` ``{"agent", "origin", "params": <SendMessage params>, "history": [<message>],
  "message": <id>, "hops": n, "visited": [<gateway id>...]}``: a forwarded call; the answer is
  ``mesh/event`` notifications ``{"call", "item"}``, then the call's result or a JSON-RPC error.
  ``mesh/cancel`` ``{"call"}`` carries the caller's cancellation along.
- ``mesh/ping``: the heartbeat, both ways.

Names: a remote agent keeps its own name, so its MCP tools are ``<agent>.<skill>`` on every
gateway. An agent of this gateway (configured or dialled in) always wins over a remote one of
the same name; several remote gateways offering one name are one agent offered in several
places: calls go to the nearest, and to the next when the nearest is unreachable.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import random
import re
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import websockets
from starlette.websockets import WebSocket

from adapters import _json, a2a, jsonrpc
from adapters.a2a.cards import INTERFACES_KEY
from adapters.errors import (
    EffmeshError,
    Forbidden,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    NotFound,
    UpstreamUnavailable,
    as_effmesh_error,
    quote,
)
from adapters.model import AgentDescriptor, Invocation, StreamItem
from agents.memory.scope import scope_for
from gateway import calls
from gateway.federation.link import END, ClientSide, Link, ServerSide, Transport
from gateway.federation.settings import FEDERATION, ID_PATTERN_TEXT, FederationConfig
from gateway.federation.table import Advert, Neighbour, RouteTable, Version, diff
from gateway.registry import Registry

SUBPROTOCOL = "effmesh"
ID_PATTERN = re.compile(ID_PATTERN_TEXT)
SEEN_LIMIT = 4096
FIRST_RETRY_SECONDS = 0.1


class Refused(Exception):
    """The gateway we tried to join said no (wrong token, same id)."""


class SeenIds:
    """The last ``limit`` message ids: a call that comes round again is refused."""

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self._order: collections.deque[str] = collections.deque(maxlen=limit)
        self._set: set[str] = set()

    def add(self, message_id: str) -> bool:
        """False when ``message_id`` was seen already."""
        if message_id in self._set:
            return False
        if len(self._order) == self._order.maxlen:
            self._set.discard(self._order[0])
        self._order.append(message_id)
        self._set.add(message_id)
        return True


class FederatedAgent:
    """An agent offered by other gateways: each call is forwarded to the nearest of them."""

    federated = True
    """A dial-in agent of this gateway may take its name (``gateway.mesh``)."""

    def __init__(self, descriptor: AgentDescriptor, federation: Federation) -> None:
        self.descriptor = descriptor
        self.federation = federation
        self.healthy = True

    def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        return self.federation.forward(self.descriptor.name, invocation)


def _card(descriptor: AgentDescriptor) -> dict[str, Any]:
    """The card announced to peers: no address of the agent's own (peers call through us)."""
    meta = {k: v for k, v in descriptor.metadata.items() if k != INTERFACES_KEY}
    return a2a.encode_agent(replace(descriptor, url=None, metadata=meta))


def _version(value: Any) -> Version:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) is int and v >= 0 for v in value)
    ):
        return value[0], value[1]
    raise InvalidParams("must be [epoch, seq]", path="params.version")


def _gateway_id(value: Any, path: str) -> str:
    if type(value) is not str or not ID_PATTERN.match(value):
        raise InvalidParams(f"must be a gateway id matching {ID_PATTERN_TEXT}", path=path)
    return value


def _path(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 64:
        raise InvalidParams("must be a list of gateway ids", path=where)
    return tuple(_gateway_id(v, where) for v in value)


class Federation:
    """One gateway's part of the federation. Lives on the gateway's event loop."""

    def __init__(
        self,
        registry: Registry,
        config: FederationConfig,
        *,
        gateway_id: str,
        token: str,
        max_frame: int = 4 * 1024 * 1024,
    ) -> None:
        """``max_frame``: the largest frame a joined gateway may send (the accepting side's
        limit is the server's WebSocket limit)."""
        self.registry = registry
        self.config = config
        self.me = gateway_id
        self.token = token
        self.max_frame = max_frame
        self.table = RouteTable(gateway_id, max_hops=config.max_hops, epoch=time.time_ns())
        self.links: dict[int, Link] = {}
        self._sent: dict[int, dict[str, Advert]] = {}
        self._link_ids = itertools.count(1)
        self.seen = SeenIds()
        self.counters: collections.Counter[str] = collections.Counter()
        self.changed_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._refresh_due = False
        self._syncing = False
        self._join_state: dict[str, str] = {}
        self.shadowed: list[str] = []
        """Remote agents' names that an agent of this gateway holds."""
        registry.listeners.append(self._registry_changed)

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.refresh()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._join(url)) for url in self.config.join]
        self._tasks.append(loop.create_task(self._tick()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in list(self.links.values()):
            await link.close()

    async def _tick(self) -> None:
        # Local agents change without the registry noticing (a remote one goes down or
        # comes back with other skills): look again every heartbeat.
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            if self.table.publish(self._local_cards()):
                self.changed_at = time.time()
                self._advertise()

    def _registry_changed(self) -> None:
        if self._syncing or self._refresh_due:
            return
        with contextlib.suppress(RuntimeError):  # no loop: the registry is being built
            asyncio.get_running_loop().call_soon(self.refresh)
            self._refresh_due = True

    # --- the table and the registry ------------------------------------------------------

    def _local_cards(self) -> tuple[Mapping[str, Any], ...]:
        cards = []
        for agent in self.registry.agents(FEDERATION):
            if isinstance(agent, FederatedAgent) or not getattr(agent, "healthy", True):
                continue
            if not agent.descriptor.skills:
                continue
            try:
                cards.append(_card(agent.descriptor))
            except EffmeshError:
                self.counters["unannounceable"] += 1
        return tuple(sorted(cards, key=lambda c: str(c["name"])))

    def refresh(self) -> None:
        """Publish this gateway's agents if they changed; bring the registry and every
        neighbour up to date with the table."""
        self._refresh_due = False
        if self.table.publish(self._local_cards()):
            self.changed_at = time.time()
        self._sync_registry()
        self._advertise()

    def _sync_registry(self) -> None:
        wanted: dict[str, AgentDescriptor] = {}
        names = {
            str(card.get("name"))
            for origin in self.table.origins()
            for card in self.table.states[origin].agents
        }
        for name in sorted(names):
            nearest = self.table.offering(name)
            if not nearest:
                continue
            for card in self.table.states[nearest[0]].agents:
                if card.get("name") == name:
                    with contextlib.suppress(EffmeshError):
                        wanted[name] = a2a.decode_agent(card)
        self._syncing = True
        shadowed = []
        try:
            for name, descriptor in wanted.items():
                held = self.registry.find(name)
                if held is None:
                    try:
                        self.registry.add(FederatedAgent(descriptor, self))
                    except InvalidParams:
                        self.counters["bad_names"] += 1
                elif isinstance(held, FederatedAgent):
                    held.descriptor = descriptor
                else:
                    shadowed.append(name)  # this gateway's own agent wins
            for agent in self.registry.agents():
                if isinstance(agent, FederatedAgent) and agent.descriptor.name not in wanted:
                    self.registry.remove(agent.descriptor.name)
        finally:
            self._syncing = False
            self.shadowed = shadowed

    def _advertise(self) -> None:
        for link in self.links.values():
            now = self.table.adverts_for(Neighbour(link.id, link.gateway))
            announce, withdraw = diff(self._sent.get(link.id, {}), now)
            for advert in announce:
                self.counters["announce_sent"] += 1
                link.post(
                    jsonrpc.request(
                        None,
                        "mesh/announce",
                        {
                            "origin": advert.origin,
                            "version": list(advert.version),
                            "path": list(advert.path),
                            "agents": list(advert.agents),
                        },
                    )
                )
            for origin in withdraw:
                self.counters["withdraw_sent"] += 1
                link.post(jsonrpc.request(None, "mesh/withdraw", {"origin": origin}))
            self._sent[link.id] = now

    def _table_changed(self) -> None:
        self.changed_at = time.time()
        self._sync_registry()
        self._advertise()

    # --- links ---------------------------------------------------------------------------

    async def accept(
        self, websocket: WebSocket, hello: dict[str, Any], principal: str | None
    ) -> None:
        """Serve a peer gateway that opened ``/ws`` with ``mesh/hello``, until it leaves."""
        rid = hello.get("id") if type(hello.get("id")) in (str, int) else None
        transport = ServerSide(websocket)
        try:
            if rid is None:
                raise InvalidRequest("mesh/hello needs an id")
            reply_to: str | int = rid
            if principal != FEDERATION:
                raise Forbidden("joining the federation needs the federation token")
            params = hello.get("params")
            peer = _gateway_id(
                params.get("gateway") if isinstance(params, dict) else None, "params.gateway"
            )
            if peer == self.me:
                raise InvalidParams(f"gateway id {quote(peer)} is this gateway's own")
        except EffmeshError as exc:
            self.counters["hello_refused"] += 1
            await transport.send(_json.dumps(a2a.jsonrpc_error(exc, rid)).decode())
            await transport.close()
            return
        await transport.send(_json.dumps(jsonrpc.result(reply_to, {"gateway": self.me})).decode())
        await self._serve(transport, peer, inbound=True)

    async def _join(self, url: str) -> None:
        """Keep a link to the gateway at ``url``: reconnect with capped, jittered backoff."""
        delay = FIRST_RETRY_SECONDS
        context: ssl.SSLContext | None = None
        if url.startswith("wss://"):
            context = ssl.create_default_context(cafile=self.config.ca_file or None)
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            try:
                async with websockets.connect(
                    url,
                    subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
                    additional_headers=headers,
                    ssl=context,
                    open_timeout=3 * self.config.heartbeat_seconds,
                    ping_interval=None,  # the link's own heartbeat covers it
                    close_timeout=self.config.heartbeat_seconds,
                    max_size=self.max_frame,
                ) as connection:
                    transport = ClientSide(connection)
                    hello = jsonrpc.request(1, "mesh/hello", {"gateway": self.me})
                    await transport.send(_json.dumps(hello).decode())
                    reply = _json.loads(
                        await asyncio.wait_for(transport.recv(), 3 * self.config.heartbeat_seconds)
                    )
                    if not isinstance(reply, dict) or not isinstance(reply.get("result"), dict):
                        raise Refused(url)
                    peer = _gateway_id(reply["result"].get("gateway"), "result.gateway")
                    self._note(url, f"linked to gateway {peer!r}")
                    delay = FIRST_RETRY_SECONDS
                    await self._serve(transport, peer, inbound=False)
                    self._note(url, "lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the join loop's top level
                # Refused, unreachable, bad certificate, a peer that is not a gateway: the
                # answer is the same, try again later (the operator may fix the far side).
                self._note(url, f"cannot join ({type(exc).__name__})")
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter only
            delay = min(delay * 2, self.config.reconnect_max_seconds)

    def _note(self, url: str, state: str) -> None:
        """Report a change in a join's state on stderr, once."""
        if self._join_state.get(url) != state:
            self._join_state[url] = state
            sys.stderr.write(f"effmesh: federation {url}: {state}\n")

    async def _serve(self, transport: Transport, peer: str, *, inbound: bool) -> None:
        link = Link(
            next(self._link_ids),
            peer,
            transport,
            heartbeat=self.config.heartbeat_seconds,
            inbound=inbound,
        )
        self.links[link.id] = link
        self._sent[link.id] = {}
        self._advertise()  # the whole table, to the new link

        async def on_message(msg: dict[str, Any]) -> None:
            self._on_message(link, msg)

        try:
            await link.run(on_message)
        finally:
            self.links.pop(link.id, None)
            self._sent.pop(link.id, None)
            if self.table.drop_link(link.id):
                self._table_changed()
            await link.close()

    # --- frames --------------------------------------------------------------------------

    def _on_message(self, link: Link, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        raw = msg.get("params")
        params: dict[str, Any] = raw if isinstance(raw, dict) else {}
        rid = msg.get("id") if type(msg.get("id")) in (str, int) else None
        try:
            if method == "mesh/ping":
                return
            if method == "mesh/announce":
                self._on_announce(link, params)
            elif method == "mesh/withdraw":
                self.counters["withdraw_received"] += 1
                if self.table.withdraw(link.id, _gateway_id(params.get("origin"), "origin")):
                    self._table_changed()
            elif method == "mesh/event":
                link.deliver(params.get("call"), a2a.decode_stream_item(params.get("item")))
            elif method == "mesh/run" and rid is not None:
                task = asyncio.get_running_loop().create_task(self._run(link, rid, params))
                link.running[rid] = task
            elif method == "mesh/cancel":
                running = link.running.get(params.get("call"))
                if running is not None:
                    running.cancel()
            elif method is None and rid is not None:
                error = msg.get("error")
                link.deliver(rid, a2a.decode_error(error) if isinstance(error, dict) else END)
            elif rid is not None:
                raise MethodNotFound(method)
        except EffmeshError as exc:
            self.counters["bad_frames"] += 1
            if rid is not None and method is not None:
                link.post(a2a.jsonrpc_error(exc, rid))

    def _on_announce(self, link: Link, params: dict[str, Any]) -> None:
        self.counters["announce_received"] += 1
        origin = _gateway_id(params.get("origin"), "params.origin")
        path = _path(params.get("path"), "params.path")
        if self.me in path:
            self.counters["loops_dropped"] += 1
            return
        agents = params.get("agents")
        if not isinstance(agents, list) or not all(isinstance(a, dict) for a in agents):
            raise InvalidParams("must be a list of agent cards", path="params.agents")
        if self.table.learn(link.id, origin, _version(params.get("version")), path, tuple(agents)):
            self._table_changed()

    # --- calls ---------------------------------------------------------------------------

    async def _run(self, link: Link, call_id: Any, params: dict[str, Any]) -> None:
        """Run a call a peer forwarded: here if the agent is this gateway's, else onward."""
        try:
            name = params.get("agent")
            if type(name) is not str:
                raise InvalidParams("must be a string", path="params.agent")
            message_id = params.get("message")
            if type(message_id) is not str or not 0 < len(message_id) <= 64:
                raise InvalidParams("must be a message id", path="params.message")
            visited = _path(params.get("visited"), "params.visited")
            hops = params.get("hops")
            if type(hops) is not int or hops < 1:
                raise InvalidParams("must be a positive integer", path="params.hops")
            if self.me in visited:
                self.counters["loops_refused"] += 1
                raise InvalidRequest("the call has passed this gateway already")
            if not self.seen.add(message_id):
                self.counters["duplicates_refused"] += 1
                raise InvalidRequest(f"duplicate message {quote(message_id)}")
            if hops > self.config.max_hops:
                self.counters["hops_refused"] += 1
                raise InvalidRequest(f"the call crossed more than {self.config.max_hops} gateways")
            invocation = a2a.decode_invocation(params.get("params"), method="stream")
            history = params.get("history") or []
            if not isinstance(history, list):
                raise InvalidParams("must be a list of messages", path="params.history")
            invocation = replace(
                invocation,
                history=tuple(a2a.decode_message(m, "params.history") for m in history),
            )
            agent = self.registry.find(name)
            if agent is None:
                raise NotFound(f"unknown agent {quote(name)}")
            items: AsyncIterator[StreamItem]
            if isinstance(agent, FederatedAgent):
                self.counters["runs_forwarded"] += 1
                items = self.forward(
                    name, invocation, message_id=message_id, hops=hops, visited=visited
                )
            else:
                self.counters["runs_served"] += 1
                route = self.registry.route(f"{name}.{invocation.skill}", FEDERATION)
                items = calls.stream(
                    route, invocation, calls.new_task_id(), scope=scope_for(FEDERATION)
                )
            async for item in items:
                link.post(
                    jsonrpc.request(
                        None, "mesh/event", {"call": call_id, "item": a2a.encode_stream_item(item)}
                    )
                )
            link.post(jsonrpc.result(call_id, {}))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the peer, never raised
            link.post(a2a.jsonrpc_error(as_effmesh_error(exc), call_id))
        finally:
            link.running.pop(call_id, None)

    async def forward(
        self,
        name: str,
        invocation: Invocation,
        *,
        message_id: str | None = None,
        hops: int = 0,
        visited: tuple[str, ...] = (),
    ) -> AsyncIterator[StreamItem]:
        """The items of ``invocation`` run by the nearest gateway offering ``name``.

        A gateway whose link is down is passed over for the next one offering the agent; a
        link lost while the call runs fails the call (it may have had effects already).
        Cancelling the iteration cancels the call on the far side.

        Raises:
            UpstreamUnavailable: no gateway offering ``name`` is reachable, or the link was
                lost during the call.
        """
        message_id = message_id or uuid.uuid4().hex
        self.seen.add(message_id)
        visited = (*visited, self.me)
        link = None
        for origin in self.table.offering(name):
            best = self.table.best(origin)
            candidate = self.links.get(best[0]) if best is not None else None
            # Never back to a gateway the call has passed (tables can disagree for a moment).
            if candidate is not None and not candidate.closed and candidate.gateway not in visited:
                link = candidate
                break
        if link is None:
            raise UpstreamUnavailable(f"no gateway offering agent {quote(name)} is reachable")
        message = replace(invocation.message, task_id=None)
        outgoing = replace(invocation, message=message, mode="stream", history=())
        _, params = a2a.encode_invocation(outgoing)
        call_id, queue = link.open_call()
        try:
            link.post(
                jsonrpc.request(
                    call_id,
                    "mesh/run",
                    {
                        "agent": name,
                        "params": params,
                        "history": [a2a.encode_message(m) for m in invocation.history],
                        "message": message_id,
                        "hops": hops + 1,
                        "visited": list(visited),
                    },
                )
            )
            while True:
                value = await queue.get()
                if value is END:
                    return
                if isinstance(value, EffmeshError):
                    raise value
                yield value
        except asyncio.CancelledError:
            link.post(jsonrpc.request(None, "mesh/cancel", {"call": call_id}))
            raise
        finally:
            link.close_call(call_id)

    # --- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``GET /federation`` shows."""
        origins = {}
        for origin in self.table.origins():
            best = self.table.best(origin)
            state = self.table.states[origin]
            origins[origin] = {
                "version": list(state.version),
                "agents": sorted(str(c.get("name")) for c in state.agents),
                "path": list(best[1]) if best else [],
            }
        return {
            "gateway": self.me,
            "version": list(self.table.own.version),
            "links": [
                {"gateway": link.gateway, "inbound": link.inbound, "since": link.since}
                for link in self.links.values()
            ],
            "origins": origins,
            "shadowed": self.shadowed,
            "changed_at": self.changed_at,
            "counters": dict(self.counters),
        }
