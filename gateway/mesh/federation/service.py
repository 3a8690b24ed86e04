"""The federation of one gateway: links to peer gateways, the agents they offer, and calls
forwarded to them.

A link is a ``/ws`` socket speaking the mesh protocol (``adapters.mesh``): the joining gateway
opens it with ``mesh/hello`` and the federation token as its bearer token; then each side
announces and withdraws the origins it reaches (the route table, ``table``), forwards calls
with ``mesh/run`` (``calls``) and sends a heartbeat.

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
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, assert_never

import websockets
from starlette.websockets import WebSocket

from adapters import _json, jsonrpc, mesh
from adapters.errors import (
    EffmeshError,
    Forbidden,
    InvalidParams,
    MethodNotFound,
    ParseError,
    quote,
)
from adapters.model import AgentDescriptor
from agents import outbound
from agents.base import Agent
from gateway import logs
from gateway.mesh.dialin import END
from gateway.mesh.federation import claims
from gateway.mesh.federation.calls import Calls, FederatedAgent
from gateway.mesh.federation.link import ClientSide, Link, ServerSide, Transport
from gateway.mesh.federation.table import Advert, Neighbour, RouteTable, diff
from gateway.registry import Registry
from gateway.settings.federation import FEDERATION, FederationConfig

FIRST_RETRY_SECONDS = 0.1
log = logging.getLogger("effmesh.federation")
"""One line per link up (info) or down (warning), per join refused on either side (warning)."""


class Refused(Exception):
    """The gateway we tried to join answered ``mesh/hello`` with an error (no federation
    there, another token, the same id); ``str()`` is its reason."""


def why_not_joined(exc: BaseException) -> str:
    """A failed join's reason, as the joining side logs it."""
    match exc:
        case Refused():
            return f"refused: {exc}"
        case EffmeshError():
            return exc.public_message
        case websockets.InvalidStatus():
            status = exc.response.status_code
            if status in (401, 403):
                return f"refused (HTTP {status}): the gateway does not accept this federation token"
            return f"refused (HTTP {status})"
        case ssl.SSLError():
            return f"TLS failed ({type(exc).__name__}: {exc.reason})"
        case TimeoutError():
            return "no answer"
        case OSError():
            return f"unreachable ({exc.strerror or type(exc).__name__})"
        case _:
            return type(exc).__name__


class Federation:
    """One gateway's part of the federation. Lives on the gateway's event loop."""

    def __init__(
        self,
        registry: Registry,
        config: FederationConfig,
        *,
        gateway_id: str,
        token: str,
        signer: claims.Signer | None = None,
        max_frame: int = 4 * 1024 * 1024,
        policy: outbound.Policy = outbound.OPEN,
    ) -> None:
        """``signer``: this gateway's key, for its callers' names on forwarded calls;
        ``max_frame``: the largest frame a joined gateway may send (the accepting side's
        limit is the server's WebSocket limit); ``policy``: where joins may connect, checked
        at every connect."""
        self.policy = policy
        self.registry = registry
        self.config = config
        self.me = gateway_id
        self.token = token
        self.max_frame = max_frame
        self.table = RouteTable(gateway_id, max_hops=config.max_hops, epoch=time.time_ns())
        self.links: dict[int, Link] = {}
        self._sent: dict[int, dict[str, Advert]] = {}
        self._link_ids = itertools.count(1)
        self.counters: collections.Counter[str] = collections.Counter()
        self.calls = Calls(
            registry,
            gateway_id,
            max_hops=config.max_hops,
            table=self.table,
            links=self.links,
            counters=self.counters,
            principals=config.principals,
            signer=signer,
            keys=config.keys,
        )
        self.changed_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._refresh_due = False
        self._syncing = False
        self._join_state: dict[str, str] = {}
        self._refusals = logs.Once(log)
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
        # What a forwarded call may reach here: the agents of the federation principal, and
        # those of the principals the configuration maps other gateways' callers to.
        reachable: dict[str, Agent] = {}
        for principal in (FEDERATION, *self.config.principals.values()):
            for agent in self.registry.agents(principal):
                reachable.setdefault(agent.descriptor.name, agent)
        for agent in reachable.values():
            if isinstance(agent, FederatedAgent) or not agent.healthy:
                continue
            if not agent.descriptor.skills:
                continue
            try:
                cards.append(mesh.encode_card(agent.descriptor, speaks=agent.speaks))
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
        wanted: dict[str, tuple[AgentDescriptor, str | None]] = {}
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
                        wanted[name] = mesh.decode_card(card)
        self._syncing = True
        shadowed = []
        try:
            for name, (descriptor, speaks) in wanted.items():
                held = self.registry.find(name)
                if held is None:
                    try:
                        self.registry.add(
                            FederatedAgent(descriptor, self.calls, speaks=speaks),
                            allow=self.config.remote_allow,
                        )
                    except InvalidParams:
                        self.counters["bad_names"] += 1
                elif isinstance(held, FederatedAgent):
                    held.descriptor = descriptor
                    held.speaks = speaks
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
                    mesh.encode(
                        mesh.Announce(advert.origin, advert.version, advert.path, advert.agents)
                    )
                )
            for origin in withdraw:
                self.counters["withdraw_sent"] += 1
                link.post(mesh.encode(mesh.Withdraw(origin)))
            self._sent[link.id] = now

    def _table_changed(self) -> None:
        self.changed_at = time.time()
        self._sync_registry()
        self._advertise()

    # --- links ---------------------------------------------------------------------------

    async def accept(self, websocket: WebSocket, hello: mesh.Hello, principal: str | None) -> None:
        """Serve a peer gateway that opened ``/ws`` with ``hello``, until it leaves."""
        transport = ServerSide(websocket)
        where = websocket.client.host if websocket.client else "?"
        try:
            if principal != FEDERATION:
                raise Forbidden("joining the federation needs the federation token")
            if hello.gateway == self.me:
                raise InvalidParams(f"gateway id {quote(hello.gateway)} is this gateway's own")
        except EffmeshError as exc:
            self.counters["hello_refused"] += 1
            self._refusals.log(
                logging.WARNING,
                "refused gateway %s from %s: %s",
                quote(hello.gateway),
                where,
                exc.public_message,
            )
            await transport.send(_json.dumps(mesh.encode_error(exc, hello.id)).decode())
            await transport.close()
            return
        reply = mesh.encode_hello_result(hello.id, self.me, mesh.FRAMES)
        await transport.send(_json.dumps(reply).decode())
        log.info("gateway %s joined from %s", quote(hello.gateway), where)
        try:
            frames = min(hello.frames, mesh.FRAMES)
            await self._serve(transport, hello.gateway, inbound=True, frames=frames)
        finally:
            log.warning("lost the link from gateway %s", quote(hello.gateway))

    async def _join(self, url: str) -> None:
        """Keep a link to the gateway at ``url``: reconnect with capped, jittered backoff."""
        delay = FIRST_RETRY_SECONDS
        context: ssl.SSLContext | None = None
        if url.startswith("wss://"):
            context = ssl.create_default_context(cafile=self.config.ca_file or None)
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            try:
                target = await outbound.websocket_target(url, self.policy)
                async with websockets.connect(
                    url,
                    **target,
                    subprotocols=[websockets.Subprotocol(mesh.SUBPROTOCOL)],
                    additional_headers=headers,
                    ssl=context,
                    open_timeout=3 * self.config.heartbeat_seconds,
                    ping_interval=None,  # the link's own heartbeat covers it
                    close_timeout=self.config.heartbeat_seconds,
                    max_size=self.max_frame,
                ) as connection:
                    transport = ClientSide(connection)
                    hello = mesh.encode(mesh.Hello(1, self.me, mesh.FRAMES))
                    await transport.send(_json.dumps(hello).decode())
                    reply = mesh.parse(
                        await asyncio.wait_for(transport.recv(), 3 * self.config.heartbeat_seconds)
                    )
                    if not isinstance(reply, mesh.Reply):
                        raise InvalidParams("the peer did not answer mesh/hello")
                    if reply.error is not None:
                        raise Refused(reply.error.public_message)
                    peer = mesh.decode_hello_result(reply)
                    frames = min(mesh.decode_hello_frames(reply), mesh.FRAMES)
                    self._note(url, logging.INFO, f"linked to gateway {quote(peer)}")
                    delay = FIRST_RETRY_SECONDS
                    await self._serve(transport, peer, inbound=False, frames=frames)
                    self._note(url, logging.WARNING, f"lost the link to gateway {quote(peer)}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the join loop's top level
                # Refused, unreachable, bad certificate, a peer that is not a gateway: the
                # answer is the same, try again later (the operator may fix the far side).
                self._note(url, logging.WARNING, f"cannot join: {why_not_joined(exc)}")
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter only
            delay = min(delay * 2, self.config.reconnect_max_seconds)

    def _note(self, url: str, level: int, state: str) -> None:
        """Log a change in a join's state, once (a join retried with the same outcome is
        not logged again)."""
        if self._join_state.get(url) != state:
            self._join_state[url] = state
            log.log(level, "%s: %s", url, state)

    async def _serve(
        self, transport: Transport, peer: str, *, inbound: bool, frames: int = 1
    ) -> None:
        link = Link(
            next(self._link_ids),
            peer,
            transport,
            heartbeat=self.config.heartbeat_seconds,
            inbound=inbound,
            frames=frames,
        )
        self.links[link.id] = link
        self._sent[link.id] = {}
        self._advertise()  # the whole table, to the new link

        async def on_message(text: str) -> None:
            self._on_message(link, text)

        try:
            await link.run(on_message)
        finally:
            self.links.pop(link.id, None)
            self._sent.pop(link.id, None)
            if self.table.drop_link(link.id):
                self._table_changed()
            await link.close()

    # --- frames --------------------------------------------------------------------------

    def _on_message(self, link: Link, text: str) -> None:
        try:
            message = mesh.parse(text)
        except jsonrpc.EnvelopeError as exc:
            if isinstance(exc.error, ParseError):
                return  # not JSON: nothing to answer
            self.counters["bad_frames"] += 1
            if exc.id is not None:
                link.post(mesh.encode_error(exc.error, exc.id))
            return
        match message:
            case mesh.Ping():
                pass
            case mesh.Announce():
                self._on_announce(link, message)
            case mesh.Withdraw():
                self.counters["withdraw_received"] += 1
                if self.table.withdraw(link.id, message.origin):
                    self._table_changed()
            case mesh.Event():
                link.deliver(message.call, message)
            case mesh.Run():
                task = asyncio.get_running_loop().create_task(self.calls.serve(link, message))
                link.running[message.call] = task
            case mesh.Cancel():
                running = link.running.get(message.call)
                if running is not None:
                    running.cancel()
            case mesh.Reply():
                link.deliver(message.id, message.error or END)
            case mesh.Register() | mesh.Hello():  # a dial-in peer's, or the link's first
                self.counters["bad_frames"] += 1
                if message.id is not None:
                    link.post(mesh.encode_error(MethodNotFound(message.method), message.id))
            case _:
                assert_never(message)

    def _on_announce(self, link: Link, announce: mesh.Announce) -> None:
        self.counters["announce_received"] += 1
        if self.me in announce.path:
            self.counters["loops_dropped"] += 1
            return
        if self.table.learn(
            link.id, announce.origin, announce.version, announce.path, announce.agents
        ):
            self._table_changed()

    # --- status --------------------------------------------------------------------------

    def status(self, visible: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """What ``GET /federation`` shows; ``visible``: which agent names the asker may be
        told of (None: all)."""
        shown = visible or (lambda _: True)
        origins = {}
        for origin in self.table.origins():
            best = self.table.best(origin)
            state = self.table.states[origin]
            names = (str(c.get("name")) for c in state.agents)
            origins[origin] = {
                "version": list(state.version),
                "agents": sorted(n for n in names if shown(n)),
                "path": list(best[1]) if best else [],
            }
        return {
            "gateway": self.me,
            "version": list(self.table.own.version),
            "links": [
                {
                    "gateway": link.gateway,
                    "inbound": link.inbound,
                    "since": link.since,
                    "frames": link.frames,
                }
                for link in self.links.values()
            ],
            "origins": origins,
            "shadowed": [n for n in self.shadowed if shown(n)],
            "changed_at": self.changed_at,
            "counters": dict(self.counters),
        }
