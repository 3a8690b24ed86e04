"""Calls across the federation: forwarding a call toward the gateway that offers the agent,
and serving a call a peer forwarded (here, or onward).

A forwarded call carries a message id, a hop count and the gateways it visited. A gateway
refuses a call that has passed it already, one over the hop limit, and a message id it has
seen; it never sends a call back to a gateway the call has passed.

The caller travels with the call: the origin gateway (the first it visited) puts its caller's
token name on it, signed with its key (``claims``), and gateways in between pass both on
unchanged. The gateway that runs the call trusts no such claim by itself: its ``[federation]
principals`` map an origin's caller to one of its own token names, and only with the origin's
signature over that caller, this destination and this agent; a call it does not map runs as
``federation``, which reaches only the agents open to every token (or naming it), and a call
that names a mapped caller without a good signature is refused. Allow lists apply there as to
any caller.

A call that reads the agent's own stream says so (its ``mode``), so an A2A agent's working
states and chunks pass as they come; a caller's answer to an agent's question goes to the
task that asked it (``followups``).
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace

from adapters import mesh
from adapters.errors import (
    EffmeshError,
    Forbidden,
    InvalidParams,
    InvalidRequest,
    NotFound,
    UpstreamUnavailable,
    as_effmesh_error,
    quote,
)
from adapters.model import AgentDescriptor, Invocation, Mode, StreamItem
from adapters.trace import join_trace
from agents.base import NOBODY, PRINCIPAL_KEY, Agent, principal_in
from agents.memory.scope import scope_for
from gateway.mesh.dialin import END
from gateway.mesh.federation import claims
from gateway.mesh.federation.followups import Asker, Newest, WaitingHere, leaves_waiting
from gateway.mesh.federation.link import Link
from gateway.mesh.federation.table import RouteTable
from gateway.registry import Registry
from gateway.runtime import calls
from gateway.settings.federation import FEDERATION
from observability import boundary

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
    """An agent offered by other gateways: each call is forwarded to the nearest of them,
    with the caller's token name (it is ``delegating`` to be told it). A caller's answer to a
    question its task asked goes to the gateway and task that asked it."""

    federated = True
    delegating = True

    def __init__(
        self, descriptor: AgentDescriptor, calls: Calls, *, speaks: str | None = None
    ) -> None:
        self._descriptor = descriptor
        self.calls = calls
        self.speaks = speaks
        """The protocol the agent speaks itself when the gateways on the way pass its answers
        on as they were (``"a2a"``); None: its gateway translates them."""
        self._waiting: Newest[str, mesh.Waiting] = Newest()
        """This gateway's task id -> the far task that waits for that task's caller."""

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    @descriptor.setter
    def descriptor(self, descriptor: AgentDescriptor) -> None:
        """The nearest gateway offering the agent describes it anew."""
        self._descriptor = descriptor

    @property
    def gateway(self) -> str | None:
        """The id of the nearest gateway offering the agent, which calls go to (None: no
        gateway offers it any more)."""
        nearest = self.calls.table.offering(self._descriptor.name)
        return nearest[0] if nearest else None

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        principal = principal_in(invocation.metadata)
        # The name goes in the frame's own field, never in the metadata the far agent reads.
        metadata = {k: v for k, v in invocation.metadata.items() if k != PRINCIPAL_KEY}
        # The far gateway reads the agent's stream when someone here listens for progress.
        listening = invocation.mode == "stream" or invocation.progress_token is not None
        mode: Mode = "stream" if listening else "sync"
        outgoing = replace(invocation, metadata=metadata, mode=mode)

        def waits(waiting: mesh.Waiting) -> None:
            self._waiting.put(task_id, waiting)

        async for item in self.calls.forward(
            self.descriptor.name,
            outgoing,
            principal=None if principal == NOBODY else principal,
            resume=self._waiting.pop(task_id),
            on_waiting=waits,
        ):
            yield item


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
        principals: Mapping[str, str] | None = None,
        signer: claims.Signer | None = None,
        keys: Mapping[str, str] | None = None,
    ) -> None:
        """``principals``: ``"<gateway id>/<token name>"`` of other gateways' callers -> the
        token name of this gateway their calls run as (``[federation] principals``), believed
        only when signed by the key ``keys`` holds for that gateway; ``signer``: this
        gateway's key, which signs its own callers' names (None: they travel unsigned)."""
        self.registry = registry
        self.principals = dict(principals or {})
        self.signer = signer
        self.keys = {gateway: claims.public_key(text) for gateway, text in (keys or {}).items()}
        self.me = me
        self.max_hops = max_hops
        self.table = table
        self.links = links
        self.counters = counters
        self.seen = SeenIds()
        self.waiting = WaitingHere()
        """Tasks of this gateway's agents that wait for callers on other gateways."""

    async def serve(self, link: Link, run: mesh.Run) -> None:
        """Run a call a peer forwarded: here if the agent is this gateway's, else onward."""
        invocation = run.invocation
        carrier = join_trace(invocation.trace, {})
        with boundary.request("federation", mesh.RUN, carrier) as req:
            try:
                forwarding = run.forwarding
                if forwarding is None:
                    raise InvalidParams("is required", path="params.message")
                if self.me in forwarding.visited:
                    self.counters["loops_refused"] += 1
                    raise InvalidRequest("the call has passed this gateway already")
                if not self.seen.add(forwarding.message):
                    self.counters["duplicates_refused"] += 1
                    raise InvalidRequest(f"duplicate message {quote(forwarding.message)}")
                if forwarding.hops > self.max_hops:
                    self.counters["hops_refused"] += 1
                    raise InvalidRequest(f"the call crossed more than {self.max_hops} gateways")
                name = run.agent
                agent = self.registry.find(name)
                if agent is None:
                    raise NotFound(f"unknown agent {quote(name)}")
                req.routed(name, invocation.skill)
                resume = run.resume
                federated = isinstance(agent, FederatedAgent)
                if resume is not None and (resume.gateway == self.me) == federated:
                    self.counters["resumes_refused"] += 1
                    raise NotFound(f"unknown task {quote(resume.task)}")
                items: AsyncIterator[StreamItem]
                waits: Callable[[StreamItem], mesh.Waiting | None]
                if federated:
                    self.counters["runs_forwarded"] += 1
                    passed: list[mesh.Waiting] = []
                    items = self.forward(
                        name,
                        invocation,
                        forwarding,
                        resume=resume,
                        on_waiting=passed.append if link.frames >= 2 else None,
                    )

                    def waits(item: StreamItem) -> mesh.Waiting | None:
                        return passed.pop() if passed else None
                else:
                    self.counters["runs_served"] += 1
                    who = self.local_principal(forwarding, name, resume)
                    asker = Asker(forwarding.origin, who, name)
                    route = self.registry.route(f"{name}.{invocation.skill}", who)
                    task_id = calls.new_task_id()
                    if resume is not None:
                        try:
                            self.waiting.take(resume.task, asker)
                        except NotFound:
                            self.counters["resumes_refused"] += 1
                            raise
                        self.counters["resumes_served"] += 1
                        task_id = resume.task
                    items = calls.stream(
                        route, invocation, task_id, scope=scope_for(who), principal=who
                    )

                    def waits(item: StreamItem) -> mesh.Waiting | None:
                        if not leaves_waiting(item):
                            return None
                        self.waiting.hold(task_id, asker)
                        return mesh.Waiting(self.me, task_id)

                async for item in items:
                    waiting = waits(item) if link.frames >= 2 else None
                    link.post(mesh.encode(mesh.Event(run.call, item, waiting)))
                link.post(mesh.encode_run_result(run.call))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the peer, never raised
                error = as_effmesh_error(exc)
                req.failed(error)
                link.post(mesh.encode_error(error, run.call))
            finally:
                link.running.pop(run.call, None)

    def local_principal(
        self, forwarding: mesh.Forwarding, agent: str, resume: mesh.Waiting | None = None
    ) -> str:
        """The token name of this gateway a forwarded call to ``agent`` runs as: the one the
        configuration maps its origin's caller to, else ``federation``. ``resume``: the
        task the call answers.

        Raises:
            Forbidden: the call names a caller the configuration maps, without the origin
                gateway's signature over it, this gateway, ``agent`` and ``resume``.
        """
        origin, principal = forwarding.origin, forwarding.principal
        if principal is None or origin is None:
            return FEDERATION
        mapped = self.principals.get(f"{origin}/{principal}")
        if mapped is None:
            return FEDERATION
        task = resume.task if resume is not None else None
        expected = claims.Claim(origin, principal, forwarding.message, self.me, agent, 0, task)
        why = claims.verify(forwarding.claim, expected, self.keys)
        if why is not None:
            self.counters["claims_refused"] += 1
            raise Forbidden(why)
        return mapped

    async def forward(
        self,
        name: str,
        invocation: Invocation,
        received: mesh.Forwarding | None = None,
        *,
        principal: str | None = None,
        resume: mesh.Waiting | None = None,
        on_waiting: Callable[[mesh.Waiting], None] | None = None,
    ) -> AsyncIterator[StreamItem]:
        """The items of ``invocation`` run by the nearest gateway offering ``name``.
        ``received``: how the call came, when a peer forwarded it here (its caller travels
        on as it came); ``principal``: else this gateway's caller's token name.
        ``resume``: the task waiting for the answer ``invocation`` carries (the call goes to
        its gateway); ``on_waiting``: told, before the item that left it so is yielded, of
        the far task that now waits for the caller.

        A gateway whose link is down is passed over for the next one offering the agent; a
        link lost while the call runs fails the call (it may have had effects already).
        Cancelling the iteration cancels the call on the far side. A link on frame set 1
        gets a plain call: no mode, no task to resume.

        Raises:
            UpstreamUnavailable: no gateway offering ``name`` (or holding the task to resume)
                is reachable, or the link was lost during the call.
        """
        message_id = received.message if received is not None else uuid.uuid4().hex
        self.seen.add(message_id)
        hops = received.hops if received is not None else 0
        visited = (*(received.visited if received is not None else ()), self.me)
        link = None
        for origin in [resume.gateway] if resume is not None else self.table.offering(name):
            best = self.table.best(origin)
            candidate = self.links.get(best[0]) if best is not None else None
            # Never back to a gateway the call has passed (tables can disagree for a moment).
            if candidate is not None and not candidate.closed and candidate.gateway not in visited:
                link = candidate
                break
        if link is None:
            raise UpstreamUnavailable(f"no gateway offering agent {quote(name)} is reachable")
        # The caller's task id is this gateway's; the far gateway makes its own.
        message = replace(invocation.message, task_id=None)
        outgoing = calls.traced(replace(invocation, message=message))
        if link.frames < 2:
            outgoing, resume = replace(outgoing, mode="sync"), None
        claim = None
        if received is not None:
            principal, claim = received.principal, received.claim
        elif principal is not None and self.signer is not None:
            claim = self.signer.sign(
                claims.Claim(
                    self.me,
                    principal,
                    message_id,
                    origin,
                    name,
                    int(time.time()),
                    resume.task if resume is not None else None,
                )
            )
        forwarding = mesh.Forwarding(message_id, hops + 1, visited, principal, claim)
        call_id, queue = link.open_call()
        try:
            link.post(mesh.encode(mesh.Run(call_id, name, outgoing, forwarding, resume)))
            while True:
                value = await queue.get()
                if value is END:
                    return
                if isinstance(value, EffmeshError):
                    raise value
                if value.waiting is not None and on_waiting is not None:
                    on_waiting(value.waiting)
                yield value.item
        except asyncio.CancelledError:
            link.post(mesh.encode(mesh.Cancel(call_id)))
            raise
        finally:
            link.close_call(call_id)
