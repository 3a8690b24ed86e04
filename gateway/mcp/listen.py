"""MCP 2026-07-28 ``subscriptions/listen`` through the gateway: one listen request is one
stream of the upstream MCP servers' change events, for what its caller may see.

A 2026-07-28 client has no session to subscribe in: it names what it wants told in one
request (tools, prompts or resources list changes; updates of resource URIs) and the response
stream carries the events, acknowledged first, each tagged with the request's id. Here that
stream is fed by the pass-through (:class:`gateway.mcp.passthrough.Passthrough`): an
upstream's list change reaches the streams whose caller may call that agent; a resource
update reaches the streams that asked for that URI, which is subscribed to at the upstream
that has it (while any caller is, as for handshake-era subscriptions). A URI no agent the
caller may call has is acknowledged like any other and never fires, so the answer does not
tell whether another tenant's resource exists.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.streams.memory
import mcp_types as mt
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
    event_matches,
    event_to_notification,
)

from adapters.errors import EffmeshError
from gateway.mcp.passthrough import Caller, Passthrough

MAX_STREAMS: Final = 1024
"""Listen streams open at once, per endpoint."""
MAX_STREAMS_PER_CALLER: Final = 64
"""Listen streams one token may hold open at once, so that one cannot take them all."""
MAX_BACKLOG: Final = 256
"""Events a stream holds for a client that reads slowly; beyond, the stream ends (the
client listens again and fetches anew: there is no replay)."""
EVENTS: Final[
    dict[str, type[ToolsListChanged] | type[PromptsListChanged] | type[ResourcesListChanged]]
] = {
    "notifications/tools/list_changed": ToolsListChanged,
    "notifications/prompts/list_changed": PromptsListChanged,
    "notifications/resources/list_changed": ResourcesListChanged,
}


@dataclass
class Stream:
    """One open listen request."""

    caller: Caller
    """Its caller, whose resource subscriptions it holds."""
    honored: mt.SubscriptionFilter
    uris: frozenset[str]
    send: anyio.streams.memory.MemoryObjectSendStream[ServerEvent]

    def offer(self, event: ServerEvent) -> None:
        if not event_matches(self.honored, self.uris, event):
            return
        try:
            self.send.send_nowait(event)
        except anyio.WouldBlock:
            self.send.close()  # a client that stopped reading: its stream ends
        except anyio.ClosedResourceError:
            pass


def _honored(asked: mt.SubscriptionFilter) -> mt.SubscriptionFilter:
    """Every kind asked for is honored (whether it fires depends on the upstreams)."""
    return mt.SubscriptionFilter(
        tools_list_changed=True if asked.tools_list_changed else None,
        prompts_list_changed=True if asked.prompts_list_changed else None,
        resources_list_changed=True if asked.resources_list_changed else None,
        resource_subscriptions=list(asked.resource_subscriptions)
        if asked.resource_subscriptions
        else None,
    )


class Listens:
    """The ``subscriptions/listen`` handler of one MCP endpoint."""

    def __init__(self, upstreams: Passthrough) -> None:
        self.upstreams = upstreams
        self.streams: dict[object, Stream] = {}
        upstreams.tells.append(self.tell)

    def tell(self, agent: str, method: str, params: dict[str, Any]) -> None:
        """Hand the upstream ``agent``'s notification to the streams it concerns: a resource
        update to those that subscribed to it there, a list change to those whose caller may
        call ``agent``."""
        event = event_of(method, params)
        if event is None:
            return
        for stream in list(self.streams.values()):
            if isinstance(event, ResourceUpdated):
                if (agent, event.uri) not in stream.caller.subscriptions:
                    continue
            elif not self.upstreams.registry.allowed(agent, stream.caller.principal):
                continue
            stream.offer(event)

    async def serve(
        self,
        ctx: ServerRequestContext[Any],
        params: mt.SubscriptionsListenRequestParams,
        who: str | None,
    ) -> dict[str, Any]:
        """Serve one listen stream for ``who`` until the client goes (or its backlog fills).

        Raises:
            MCPError: the request has no id, or too many streams are open (in all, or of
                ``who``).
        """
        listen_id = ctx.request_id
        if listen_id is None:
            raise MCPError(mt.INVALID_REQUEST, "subscriptions/listen needs a request id")
        held = sum(1 for stream in self.streams.values() if stream.caller.principal == who)
        if len(self.streams) >= MAX_STREAMS or held >= MAX_STREAMS_PER_CALLER:
            raise MCPError(mt.INTERNAL_ERROR, "too many listen streams")
        honored = _honored(params.notifications)
        uris = frozenset(honored.resource_subscriptions or ())
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: listen_id}
        key = object()
        caller = Caller(who, ctx.session)
        send, receive = anyio.create_memory_object_stream[ServerEvent](MAX_BACKLOG)
        self.streams[key] = Stream(caller, honored, uris, send)
        agents = self.upstreams.agents(who)  # each watched, so that its list changes are heard
        watched: list[Any] = []
        try:
            lists = (
                honored.tools_list_changed,
                honored.prompts_list_changed,
                honored.resources_list_changed,
            )
            if any(lists):
                for agent in agents:
                    # A 2026-07-28 server tells only its own listeners: it is listened to.
                    with contextlib.suppress(EffmeshError):
                        await agent.watch_lists(True)
                        watched.append(agent)
            for uri in sorted(uris):
                # Not any agent's the caller may call: acknowledged all the same, never fires.
                with contextlib.suppress(MCPError, EffmeshError):
                    await self.upstreams.subscribe(uri, key, caller)
            ack = mt.SubscriptionsAcknowledgedNotification(
                params=mt.SubscriptionsAcknowledgedNotificationParams(
                    notifications=honored, _meta=meta
                )
            )
            await ctx.session.send_notification(ack, related_request_id=listen_id)
            async for event in receive:
                note = event_to_notification(event, meta)
                await ctx.session.send_notification(note, related_request_id=listen_id)
        finally:
            del self.streams[key]
            send.close()
            receive.close()
            with anyio.CancelScope(shield=True):
                for agent in watched:
                    with contextlib.suppress(EffmeshError):
                        await agent.watch_lists(False)
                for _, uri in list(caller.subscriptions):
                    with contextlib.suppress(MCPError, EffmeshError):
                        await self.upstreams.unsubscribe(uri, key, caller)
        return {"_meta": meta, "resultType": "complete"}


def event_of(method: str, params: dict[str, Any]) -> ServerEvent | None:
    """The change event of an upstream's notification, if it is one a listen stream carries."""
    if method == "notifications/resources/updated":
        uri = params.get("uri")
        return ResourceUpdated(uri=uri) if isinstance(uri, str) else None
    kind = EVENTS.get(method)
    return kind() if kind is not None else None
