"""The agents a gateway offers, by name, and the names each protocol sees them by.

MCP sees one tool per skill, named ``<agent>.<skill>``; A2A sees one agent card per agent;
ACP sees one agent per skill with the same ``<agent>.<skill>`` name. An agent registered with
``prefix=False`` offers its skills under their own names instead (a gateway in front of one
MCP server keeps that server's tool names); the qualified name reaches them too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from adapters.errors import InvalidParams, NotFound, quote
from adapters.model import Skill
from agents.base import Agent

NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Agent names: a safe URL path segment, and (with a dot and a skill) a valid MCP tool name."""
RESERVED: Final = frozenset({"rest", "ws"})
"""Names that would collide with the gateway's own /a2a/rest and /a2a/ws paths."""


@dataclass(frozen=True, slots=True)
class Route:
    agent: Agent
    skill: Skill
    bare: bool = False
    """The skill is offered under its own name, without ``<agent>.``."""

    @property
    def tool_name(self) -> str:
        if self.bare:
            return self.skill.name
        return f"{self.agent.descriptor.name}.{self.skill.name}"


class Registry:
    """Agents by name. Not thread-safe; it lives on the gateway's event loop."""

    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}
        self._allow: dict[str, tuple[str, ...]] = {}
        self._bare: dict[str, None] = {}  # agents offering unprefixed names, in order added
        self.aliases: dict[str, str] = {}
        """Other names of a skill: alias -> ``<agent>.<skill>`` (the ACP agent ``effmesh``
        is ``effmesh.run``)."""
        self.default: str | None = None
        """The skill a message to the gateway's own A2A agent runs when it names none."""
        self.listeners: list[Callable[[], None]] = []
        """Called after every add and remove (the federation announces the change)."""

    def add(self, agent: Agent, *, allow: tuple[str, ...] = ("*",), prefix: bool = True) -> None:
        """Register ``agent``; ``allow`` names the tokens that may call it (``*``: any);
        ``prefix=False`` offers its skills under their own names.

        Raises:
            InvalidParams: a bad or reserved name, or an unprefixed skill name that another
                unprefixed agent already offers.
        """
        name = agent.descriptor.name
        if not NAME_PATTERN.match(name):
            raise InvalidParams(f"agent name {quote(name)} must match {NAME_PATTERN.pattern}")
        if name in RESERVED:
            raise InvalidParams(f"agent name {quote(name)} is reserved for the gateway's paths")
        if not prefix:
            taken = {s.name for other in self._bare for s in self._skills(other)}
            clash = sorted(taken & {s.name for s in agent.descriptor.skills})
            if clash:
                raise InvalidParams(f"skill {quote(clash[0])} is already offered unprefixed")
            self._bare[name] = None
        self._agents[name] = agent
        self._allow[name] = allow
        self._changed()

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def _skills(self, name: str) -> tuple[Skill, ...]:
        agent = self._agents.get(name)
        return agent.descriptor.skills if agent is not None else ()

    def alias(self, name: str, qualified: str) -> None:
        """Offer the skill ``qualified`` (``<agent>.<skill>``) under ``name`` too."""
        self.aliases[name] = qualified

    def remove(self, name: str) -> None:
        self._agents.pop(name, None)
        self._allow.pop(name, None)
        self._bare.pop(name, None)
        self._changed()

    def allowed(self, name: str, principal: str | None) -> bool:
        """Whether ``principal`` may see and call agent ``name`` (None: no tokens are in use).
        ``agents.base.NOBODY`` is named by no list: it reaches agents open to all only."""
        allow = self._allow.get(name, ("*",))
        return principal is None or "*" in allow or principal in allow

    def is_bare(self, name: str) -> bool:
        """Whether agent ``name`` offers its skills (and prompts) under their own names."""
        return name in self._bare

    def open_to_all(self, name: str) -> bool:
        """Whether every token, and a caller with none, may call agent ``name``."""
        return "*" in self._allow.get(name, ("*",))

    def find(self, name: str) -> Agent | None:
        """The agent named ``name``, whoever asks (None: no such agent)."""
        return self._agents.get(name)

    def agents(self, principal: str | None = None) -> list[Agent]:
        return [a for n, a in self._agents.items() if self.allowed(n, principal)]

    def agent(self, name: str, principal: str | None = None) -> Agent:
        """The agent named ``name`` as ``principal`` sees it.

        Raises:
            NotFound: no such agent, or one ``principal`` may not see (hidden is the same
                as absent, so the answer does not tell a hidden agent exists).
        """
        agent = self._agents.get(name)
        if agent is None or not self.allowed(name, principal):
            raise NotFound(f"unknown agent {quote(name)}")
        return agent

    def routes(self, principal: str | None = None) -> list[Route]:
        return [
            Route(a, s, a.descriptor.name in self._bare)
            for a in self.agents(principal)
            for s in a.descriptor.skills
        ]

    def route(self, qualified: str, principal: str | None = None) -> Route:
        """The skill named ``<agent>.<skill>``, else an unprefixed agent's skill of that name
        (the first such agent registered).

        Raises:
            NotFound: no such agent or skill, or the agent's allow list does not name
                ``principal`` (a hidden agent is answered as an absent one).
        """
        qualified = self.aliases.get(qualified, qualified)
        agent_name, dot, skill_name = qualified.partition(".")
        wanted = [(agent_name, skill_name)] if dot else []
        wanted += [(bare, qualified) for bare in self._bare]
        for name, skill_name in wanted:
            if not self.allowed(name, principal):
                continue
            for skill in self._skills(name):
                if skill.name == skill_name:
                    return Route(self._agents[name], skill, name in self._bare)
        raise NotFound(f"unknown tool {quote(qualified)}")
