"""Calls across the federation: forwarding a call toward the gateway that offers the agent,
and serving a call a peer forwarded (here, or onward).

A forwarded call carries a message id, a hop count and the gateways it visited. A gateway
refuses a call that has passed it already, one over the hop limit, and a message id it has
seen; it never sends a call back to a gateway the call has passed.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from adapters import a2a, jsonrpc
from adapters.errors import (
    InvalidParams,
    InvalidRequest,
    NotFound,
    UpstreamUnavailable,
    as_effmesh_error,
    quote,
)
from adapters.model import AgentDescriptor, Invocation, StreamItem
from agents.base import Agent
from agents.memory.scope import scope_for
from gateway.mesh.federation import wire
from gateway.mesh.federation.link import Link
from gateway.mesh.federation.settings import FEDERATION
from gateway.mesh.federation.table import RouteTable
from gateway.registry import Registry
from gateway.runtime import calls
from observability import boundary, tracing

SEEN_LIMIT = 4096


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


class FederatedAgent(Agent):
    """An agent offered by other gateways: each call is forwarded to the nearest of them."""

    federated = True

    def __init__(self, descriptor: AgentDescriptor, calls: Calls) -> None:
        self._descriptor = descriptor
        self.calls = calls

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    @descriptor.setter
    def descriptor(self, descriptor: AgentDescriptor) -> None:
        """The nearest gateway offering the agent describes it anew."""
        self._descriptor = descriptor

    def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        return self.calls.forward(self.descriptor.name, invocation)


class Calls:
    """The federation's calls, for one gateway. Shares the table, the links and the counters
    with ``gateway.mesh.federation.service.Federation``, which owns them."""

    def __init__(
        self,
        registry: Registry,
        me: str,
        *,
        max_hops: int,
        table: RouteTable,
        links: dict[int, Link],
        counters: collections.Counter[str],
    ) -> None:
        self.registry = registry
        self.me = me
        self.max_hops = max_hops
        self.table = table
        self.links = links
        self.counters = counters
        self.seen = SeenIds()

    async def serve(self, link: Link, call_id: Any, params: dict[str, Any]) -> None:
        """Run a call a peer forwarded: here if the agent is this gateway's, else onward."""
        inner = params.get("params")
        message = inner.get("message") if isinstance(inner, dict) else None
        carrier = tracing.carrier_of(message.get("metadata") if isinstance(message, dict) else None)
        with boundary.request("federation", "mesh/run", carrier) as req:
            try:
                name = params.get("agent")
                if type(name) is not str:
                    raise InvalidParams("must be a string", path="params.agent")
                message_id = params.get("message")
                if type(message_id) is not str or not 0 < len(message_id) <= 64:
                    raise InvalidParams("must be a message id", path="params.message")
                visited = wire.path(params.get("visited"), "params.visited")
                hops = params.get("hops")
                if type(hops) is not int or hops < 1:
                    raise InvalidParams("must be a positive integer", path="params.hops")
                if self.me in visited:
                    self.counters["loops_refused"] += 1
                    raise InvalidRequest("the call has passed this gateway already")
                if not self.seen.add(message_id):
                    self.counters["duplicates_refused"] += 1
                    raise InvalidRequest(f"duplicate message {quote(message_id)}")
                if hops > self.max_hops:
                    self.counters["hops_refused"] += 1
                    raise InvalidRequest(f"the call crossed more than {self.max_hops} gateways")
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
                req.routed(name, invocation.skill)
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
                    event = {"call": call_id, "item": a2a.encode_stream_item(item)}
                    link.post(jsonrpc.request(None, "mesh/event", event))
                link.post(jsonrpc.result(call_id, {}))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the peer, never raised
                error = as_effmesh_error(exc)
                req.failed(error)
                link.post(a2a.jsonrpc_error(error, call_id))
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
        outgoing = calls.traced(replace(invocation, message=message, mode="stream", history=()))
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
            async for item in link.replies(queue):
                yield item
        except asyncio.CancelledError:
            link.post(jsonrpc.request(None, "mesh/cancel", {"call": call_id}))
            raise
        finally:
            link.close_call(call_id)
