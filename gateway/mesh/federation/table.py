"""Which gateway offers which agents, and over which link to reach it: a path-vector table.

Sans-I/O: the table takes what neighbours announce and says what to announce to each of them
in turn; ``gateway.mesh.federation.service`` moves the messages.

- Every gateway (an *origin*) publishes its own agents as one state with a version
  ``(epoch, seq)``: ``epoch`` is fixed at start-up (a restarted gateway outranks its old self),
  ``seq`` grows with every change. A state whose version is not newer than the one held is
  stale and ignored; the route it came over still counts.
- An announcement carries its path: the gateways it passed, origin first. A path that holds
  this gateway is a loop and is dropped; a path longer than ``max_hops`` is dropped, and a
  route is not passed on once passing it on would exceed ``max_hops``.
- Each neighbour is told the best route (fewest hops, then link order) to each origin, except
  a route learned from that neighbour or through it (split horizon), which is withdrawn
  instead. Only changes are sent, so a loop in the topology cannot multiply messages.
- When the last route to an origin goes (its link dropped or every neighbour withdrew it),
  the origin and its agents are forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Version = tuple[int, int]
"""(epoch, seq): compared as a tuple."""
Path = tuple[str, ...]
"""Gateway ids from the origin to the neighbour that sent the announcement."""
LinkId = int


@dataclass(frozen=True, slots=True)
class OriginState:
    version: Version
    agents: tuple[Mapping[str, Any], ...]
    """The origin's agents as A2A agent cards (JSON)."""


@dataclass(frozen=True, slots=True)
class Advert:
    """What one neighbour is told about one origin."""

    origin: str
    version: Version
    path: Path
    agents: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Neighbour:
    link: LinkId
    gateway: str


class RouteTable:
    """Routes to every origin this gateway knows. Not thread-safe; one event loop owns it."""

    def __init__(self, me: str, *, max_hops: int = 4, epoch: int = 0) -> None:
        self.me = me
        self.max_hops = max_hops
        self.own = OriginState((epoch, 0), ())
        self.states: dict[str, OriginState] = {}
        self.routes: dict[str, dict[LinkId, Path]] = {}
        self._heard: dict[str, dict[LinkId, Version]] = {}
        """The newest version of each origin that each link announced."""

    # --- what this gateway offers itself --------------------------------------------------

    def publish(self, agents: tuple[Mapping[str, Any], ...]) -> bool:
        """Set this gateway's own agents; True (and a new version) when they changed."""
        if agents == self.own.agents:
            return False
        epoch, seq = self.own.version
        self.own = OriginState((epoch, seq + 1), agents)
        return True

    # --- what neighbours say ----------------------------------------------------------------

    def learn(
        self,
        link: LinkId,
        origin: str,
        version: Version,
        path: Path,
        agents: tuple[Mapping[str, Any], ...],
    ) -> bool:
        """An announcement from ``link``; True when the table changed.

        Dropped (False): this gateway's own state coming back, a path through this gateway
        (a loop), a path longer than ``max_hops``, or a path that does not start at
        ``origin``.
        """
        if origin == self.me or self.me in path or not path or path[0] != origin:
            return False
        if len(path) > self.max_hops:
            return False
        routes = self.routes.setdefault(origin, {})
        heard = self._heard.setdefault(origin, {})
        changed = routes.get(link) != path or heard.get(link, version) < version
        routes[link] = path
        heard[link] = max(version, heard.get(link, version))
        held = self.states.get(origin)
        if held is None or version > held.version:
            self.states[origin] = OriginState(version, agents)
            changed = True
        return changed

    def withdraw(self, link: LinkId, origin: str) -> bool:
        """``link`` no longer reaches ``origin``; True when the table changed."""
        routes = self.routes.get(origin)
        if routes is None or link not in routes:
            return False
        del routes[link]
        self._heard.get(origin, {}).pop(link, None)
        if not routes:
            self._forget(origin)
        return True

    def drop_link(self, link: LinkId) -> bool:
        """Every route over ``link`` is gone; True when the table changed."""
        changed = False
        for origin in list(self.routes):
            changed = self.withdraw(link, origin) or changed
        return changed

    def _forget(self, origin: str) -> None:
        self.routes.pop(origin, None)
        self._heard.pop(origin, None)
        self.states.pop(origin, None)

    # --- answers ----------------------------------------------------------------------------

    def best(self, origin: str) -> tuple[LinkId, Path] | None:
        """The route to ``origin`` with the fewest hops; among those, the one that brought
        the newest state (a restarted gateway's new link before its old, silent one), then
        the lowest link id."""
        routes = self.routes.get(origin)
        if not routes:
            return None
        heard = self._heard.get(origin, {})

        def rank(k: LinkId) -> tuple[int, int, int, LinkId]:
            epoch, seq = heard.get(k, (0, 0))
            return len(routes[k]), -epoch, -seq, k

        link = min(routes, key=rank)
        return link, routes[link]

    def origins(self) -> list[str]:
        return sorted(self.states)

    def offering(self, agent: str) -> list[str]:
        """The origins offering an agent named ``agent``, nearest first."""
        found = []
        for origin, state in self.states.items():
            if any(card.get("name") == agent for card in state.agents):
                best = self.best(origin)
                if best is not None:
                    found.append((len(best[1]), origin))
        return [origin for _, origin in sorted(found)]

    def adverts_for(self, neighbour: Neighbour) -> dict[str, Advert]:
        """What ``neighbour`` should know now: one advert per origin it should reach
        through this gateway (the others are to be withdrawn)."""
        out = {self.me: Advert(self.me, self.own.version, (self.me,), self.own.agents)}
        for origin, state in self.states.items():
            best = self.best(origin)
            if best is None or origin == neighbour.gateway:
                continue
            link, path = best
            if link == neighbour.link or neighbour.gateway in path:
                continue  # split horizon: never tell a route back to where it came from
            if len(path) + 1 > self.max_hops:
                continue
            out[origin] = Advert(origin, state.version, (*path, self.me), state.agents)
        return out


def diff(sent: Mapping[str, Advert], now: Mapping[str, Advert]) -> tuple[list[Advert], list[str]]:
    """(adverts to send, origins to withdraw) that bring a neighbour from ``sent`` to ``now``.
    An advert that differs only in its agents' order is still sent: order is part of state."""
    announce = [advert for origin, advert in now.items() if sent.get(origin) != advert]
    withdraw = [origin for origin in sent if origin not in now]
    return announce, withdraw
