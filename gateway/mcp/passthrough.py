"""The rest of MCP through the gateway: the resources, prompts, completions and logging of
the registry's MCP agents, as the caller may see them, for every MCP transport.

Names follow the tools' rules: an agent's prompt ``p`` is ``<agent>.p``, or ``p`` for an
agent registered with ``prefix = false``. Resource URIs are the upstream's own, unchanged, so
that a link a tool returned can be read back: a read goes to the agent that listed the URI
or returned it in a call (remembered here), else to the agent with a template it matches,
else to each MCP agent the caller may see, unprefixed ones first, until one has it. A caller
reaches only the agents its token may call: another agent's resources and prompts are
neither listed nor read for it.

What an upstream keeps per client (resource subscriptions, log level) is kept here per
caller: each caller's subscriptions are its own (the upstream is subscribed while any caller
is), each caller's log level filters the lines it gets, and the upstream is asked for the
most verbose level any caller chose.
"""

from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import mcp_types as mt
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError

from adapters.errors import EffmeshError, NotFound, quote
from agents.remote.kinds import McpServerAgent, is_mcp_server
from gateway.registry import Registry

RESOURCE_NOT_FOUND: Final = -32002
LEVELS: Final[tuple[str, ...]] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
MAX_CALLERS: Final = 10_000
"""Client sessions remembered at most (the oldest is forgotten first)."""
MAX_LINKS: Final = 100_000
"""Resource URIs remembered at most, with the agent that issued each."""
Notify = Callable[[ServerSession, mt.ServerNotification], Awaitable[None]]


def admits(level: str | None, line: str) -> bool:
    """Whether a caller that chose ``level`` (None: none) gets a line at ``line``."""
    if level is None or line not in LEVELS or level not in LEVELS:
        return True
    return LEVELS.index(line) >= LEVELS.index(level)


def _template_pattern(template: str) -> re.Pattern[str]:
    """A URI template (RFC 6570, simple expressions) as a pattern its URIs match."""
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile(
        "".join("[^/]*" if p.startswith("{") else re.escape(p) for p in parts) + r"\Z"
    )


@dataclass
class Caller:
    """One client session of an MCP endpoint, as the pass-through keeps it."""

    principal: str | None
    session: ServerSession
    """The session of its latest request: notifications outside a call go through it."""
    level: str | None = None
    subscriptions: set[tuple[str, str]] = field(default_factory=set)
    session_id: str | None = None
    """Its Streamable HTTP session (None: another transport's)."""


class Passthrough:
    """The MCP agents' surface for one endpoint. On the event loop; not thread-safe."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._callers: OrderedDict[object, Caller] = OrderedDict()
        self._issuer: OrderedDict[str, str] = OrderedDict()
        self._subscribers: dict[tuple[str, str], set[object]] = {}
        self._watched: set[int] = set()
        self.tells: list[Callable[[str, str, dict[str, Any]], None]] = []
        """Told of every upstream notification that belongs to no call (its agent, method
        and params): the 2026-07-28 listen streams (:mod:`gateway.mcp.listen`)."""
        self.elsewhere: Callable[[str, dict[str, Any]], bool] | None = None
        """With replicas: sends a notification for a session's GET stream to the replica
        that holds the stream, when this one does not; whether it did."""

    # Callers

    def caller(
        self,
        key: object,
        principal: str | None,
        session: ServerSession,
        session_id: str | None = None,
    ) -> Caller:
        """The caller of session ``key`` (``session_id``: its Streamable HTTP session), noted
        as live."""
        known = self._callers.get(key)
        if known is None or known.principal != principal:
            known = Caller(principal, session, session_id=session_id)
            self._callers[key] = known
            while len(self._callers) > MAX_CALLERS:
                self._forget(*self._callers.popitem(last=False))
        known.session = session
        self._callers.move_to_end(key)
        return known

    def _forget(self, key: object, caller: Caller) -> None:
        for pair in caller.subscriptions:
            self._subscribers.get(pair, set()).discard(key)

    # Agents

    def agents(self, who: str | None) -> list[McpServerAgent]:
        """The MCP agents ``who`` may call, unprefixed ones first, each watched."""
        found = [a for a in self.registry.agents(who) if is_mcp_server(a)]
        found.sort(key=lambda a: not self.registry.is_bare(a.descriptor.name))
        for agent in found:
            if id(agent) not in self._watched:
                self._watched.add(id(agent))
                agent.listen(self._listener(agent))
        return found

    def _visible(self, name: str, who: str | None) -> McpServerAgent | None:
        agent = self.registry.find(name)
        if is_mcp_server(agent) and self.registry.allowed(name, who):
            return agent
        return None

    def public_name(self, agent: McpServerAgent, own: str) -> str:
        name = agent.descriptor.name
        return own if self.registry.is_bare(name) else f"{name}.{own}"

    @staticmethod
    async def _capabilities(agent: McpServerAgent) -> mt.ServerCapabilities | None:
        try:
            return await agent.server_capabilities()
        except EffmeshError:
            return None  # down: listed as having nothing

    def learn(self, agent: str, wire: Any) -> None:
        """Remember the agent that issued every resource URI in ``wire`` (a result)."""
        if isinstance(wire, dict):
            uri = wire.get("uri")
            if isinstance(uri, str) and wire.get("type") in ("resource_link", None):
                # The first agent to issue a URI keeps it: two that issue the same one
                # cannot both be asked, and the answer must not change from call to call.
                self._issuer.setdefault(uri, agent)
                self._issuer.move_to_end(uri)
            for value in wire.values():
                if isinstance(value, dict | list):
                    self.learn(agent, value)
        elif isinstance(wire, list):
            for item in wire:
                self.learn(agent, item)
        while len(self._issuer) > MAX_LINKS:
            self._issuer.popitem(last=False)

    # Prompts

    async def list_prompts(self, who: str | None) -> list[dict[str, Any]]:
        out = []
        for agent in self.agents(who):
            caps = await self._capabilities(agent)
            if caps is None or caps.prompts is None:
                continue
            for prompt in await agent.list_prompts():
                out.append({**prompt, "name": self.public_name(agent, prompt["name"])})
        return out

    async def _prompt_owner(self, name: str, who: str | None) -> tuple[McpServerAgent, str]:
        agent_name, dot, own = name.partition(".")
        if dot:
            agent = self._visible(agent_name, who)
            if agent is not None and not self.registry.is_bare(agent_name):
                return agent, own
        for agent in self.agents(who):
            if not self.registry.is_bare(agent.descriptor.name):
                continue
            caps = await self._capabilities(agent)
            if (
                caps is not None
                and caps.prompts is not None
                and any(p["name"] == name for p in await agent.list_prompts())
            ):
                return agent, name
        raise NotFound(f"unknown prompt {quote(name)}")

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, str] | None,
        who: str | None,
        *,
        hand_on: bool = False,
        input_responses: dict[str, Any] | None = None,
        request_state: str | None = None,
    ) -> dict[str, Any]:
        """``hand_on``: for a 2026-07-28 caller, one round, its ``input_responses`` and
        ``request_state`` passed on and the server's ``input_required`` handed back."""
        agent, own = await self._prompt_owner(name, who)
        result = await agent.get_prompt(
            own,
            arguments,
            hand_on=hand_on,
            input_responses=input_responses,
            request_state=request_state,
        )
        self.learn(agent.descriptor.name, result)
        return result

    # Resources

    async def list_resources(self, who: str | None) -> list[dict[str, Any]]:
        out = []
        for agent in self.agents(who):
            caps = await self._capabilities(agent)
            if caps is None or caps.resources is None:
                continue
            listed = await agent.list_resources()
            self.learn(agent.descriptor.name, listed)
            out.extend(listed)
        return out

    async def list_templates(self, who: str | None) -> list[dict[str, Any]]:
        out = []
        for agent in self.agents(who):
            caps = await self._capabilities(agent)
            if caps is not None and caps.resources is not None:
                out.extend(await agent.list_resource_templates())
        return out

    async def _resource_owners(self, uri: str, who: str | None) -> list[McpServerAgent]:
        """The agents to ask for ``uri``, most likely first: the one that listed it or returned
        it (the agents are listed first when none has yet), then those with a template it
        matches, then the rest."""
        agents = self.agents(who)
        first: list[McpServerAgent] = []
        if uri not in self._issuer:
            with contextlib.suppress(EffmeshError):
                await self.list_resources(who)
        issuer = self._issuer.get(uri)
        for agent in agents:
            if agent.descriptor.name == issuer:
                first.append(agent)
        for agent in agents:
            caps = await self._capabilities(agent)
            if agent in first or caps is None or caps.resources is None:
                continue
            templates = await agent.list_resource_templates()
            if any(_template_pattern(t["uriTemplate"]).match(uri) for t in templates):
                first.append(agent)
        rest = [a for a in agents if a not in first]
        return first + rest

    async def read(self, uri: str, who: str | None) -> dict[str, Any]:
        """Raises MCPError: no agent ``who`` may call has the resource."""
        for agent in await self._resource_owners(uri, who):
            caps = await self._capabilities(agent)
            if caps is None or caps.resources is None:
                continue
            try:
                result = await agent.read_resource(uri)
            except EffmeshError:
                continue  # not this agent's; the next may have it
            self._issuer.setdefault(uri, agent.descriptor.name)
            return result
        raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource {quote(uri)}")

    async def subscribe(self, uri: str, key: object, caller: Caller) -> None:
        """Raises MCPError: no agent the caller may call takes subscriptions to ``uri``."""
        for agent in await self._resource_owners(uri, caller.principal):
            caps = await self._capabilities(agent)
            if caps is None or caps.resources is None or not caps.resources.subscribe:
                continue
            pair = (agent.descriptor.name, uri)
            holders = self._subscribers.setdefault(pair, set())
            if not holders:
                await agent.subscribe(uri)
            holders.add(key)
            caller.subscriptions.add(pair)
            return
        raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource {quote(uri)}")

    async def unsubscribe(self, uri: str, key: object, caller: Caller) -> None:
        """Ends the caller's own subscriptions to ``uri`` (none: nothing to do)."""
        for pair in [p for p in caller.subscriptions if p[1] == uri]:
            caller.subscriptions.discard(pair)
            holders = self._subscribers.get(pair, set())
            holders.discard(key)
            agent = self.registry.find(pair[0])
            if not holders and is_mcp_server(agent):
                self._subscribers.pop(pair, None)
                await agent.unsubscribe(uri)

    # Completion

    async def complete(self, params: mt.CompleteRequestParams, who: str | None) -> dict[str, Any]:
        ref = params.ref
        if isinstance(ref, mt.PromptReference):
            agent, own = await self._prompt_owner(ref.name, who)
            upstream = params.model_copy(update={"ref": ref.model_copy(update={"name": own})})
            return await agent.complete(upstream)
        for agent in self.agents(who):
            caps = await self._capabilities(agent)
            if caps is None or caps.resources is None:
                continue
            templates = await agent.list_resource_templates()
            if any(t["uriTemplate"] == ref.uri for t in templates):
                return await agent.complete(params)
        raise NotFound(f"unknown resource template {quote(ref.uri)}")

    # Logging

    async def set_level(self, level: str, caller: Caller) -> None:
        """The caller's own level; each MCP agent it may call is asked for the most verbose
        level any caller chose."""
        caller.level = level
        chosen = [c.level for c in self._callers.values() if c.level in LEVELS]
        verbose = min(chosen, key=LEVELS.index, default=level)
        for agent in self.agents(caller.principal):
            caps = await self._capabilities(agent)
            if caps is not None and caps.logging is not None:
                await agent.set_level(verbose)  # type: ignore[arg-type]

    # Notifications from upstreams that belong to no call

    def _listener(self, agent: McpServerAgent) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        name = agent.descriptor.name

        async def heard(method: str, params: dict[str, Any]) -> None:
            for tell in self.tells:
                tell(name, method, params)
            if method == "notifications/resources/updated":
                keys = self._subscribers.get((name, str(params.get("uri"))), set())
                targets = [self._callers[k] for k in keys if k in self._callers]
            else:
                targets = [
                    c
                    for c in self._callers.values()
                    if self.registry.allowed(name, c.principal)
                    and (method != "notifications/message" or c.level is not None)
                    and admits(c.level, str(params.get("level")))
                ]
            notification = mt.server_notification_adapter.validate_python(
                {"method": method, "params": params}, by_name=False
            )
            wire = {"jsonrpc": "2.0", "method": method, "params": params}
            for caller in targets:
                # An update is for the subscriber whose subscription this replica holds: its
                # GET stream may be on another. Other notifications every replica hears from
                # its own upstream session, and sends on the stream if it holds it.
                elsewhere, session_id = self.elsewhere, caller.session_id
                if (
                    method == "notifications/resources/updated"
                    and elsewhere is not None
                    and session_id is not None
                    and elsewhere(session_id, wire)
                ):
                    continue
                # A caller whose session is gone misses it, and no one else does.
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await caller.session.send_notification(notification)

        return heard
