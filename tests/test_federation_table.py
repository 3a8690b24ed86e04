"""The federation's route table and message id cache on their own: versions, loops, hop
limits, split horizon, repeats, and convergence of small topologies driven by a message pump
(no sockets)."""

from __future__ import annotations

import itertools
from collections import deque

from gateway.mesh.federation.calls import SeenIds
from gateway.mesh.federation.table import Advert, Neighbour, RouteTable, diff

CARD = ({"name": "planner"},)


def test_a_stale_state_is_ignored_but_its_route_counts() -> None:
    t = RouteTable("a")
    assert t.learn(1, "c", (5, 2), ("c",), CARD)
    assert not t.learn(1, "c", (5, 1), ("c",), ())  # older version, same route: no change
    assert t.states["c"].agents == CARD
    assert t.learn(2, "c", (5, 1), ("c", "b"), ())  # a new route, though its state is stale
    assert t.states["c"].agents == CARD
    assert t.learn(2, "c", (6, 0), ("c", "b"), ())  # a restarted origin outranks its old self
    assert t.states["c"].agents == ()


def test_a_path_through_this_gateway_or_over_the_hop_limit_is_dropped() -> None:
    t = RouteTable("a", max_hops=3)
    assert not t.learn(1, "c", (1, 1), ("c", "a", "b"), CARD)
    assert not t.learn(1, "c", (1, 1), ("c", "x", "y", "b"), CARD)
    assert not t.learn(1, "a", (1, 1), ("a",), CARD)  # its own state coming back
    assert not t.learn(1, "c", (1, 1), ("x", "b"), CARD)  # a path not starting at the origin
    assert t.origins() == []


def test_a_route_is_never_told_back_to_where_it_came_from() -> None:
    t = RouteTable("b", max_hops=2)
    t.learn(1, "c", (1, 1), ("c",), CARD)
    t.learn(2, "d", (1, 1), ("d", "e"), CARD)
    to_c = t.adverts_for(Neighbour(1, "c"))
    assert set(to_c) == {"b"}  # c's own route is not told back; d's is two hops already
    to_a = t.adverts_for(Neighbour(3, "a"))
    assert to_a["c"] == Advert("c", (1, 1), ("c", "b"), CARD)
    assert "d" not in to_a


def test_diff_sends_only_changes() -> None:
    old = {"c": Advert("c", (1, 1), ("c", "b"), CARD)}
    new = {"d": Advert("d", (1, 1), ("d", "b"), CARD)}
    assert diff(old, old) == ([], [])
    assert diff(old, new) == ([new["d"]], ["c"])


class Mesh:
    """Tables joined by links, with a FIFO of messages between them, as sockets would be."""

    def __init__(self, names: list[str], edges: list[tuple[str, str]]) -> None:
        self.tables = {n: RouteTable(n, max_hops=4, epoch=1) for n in names}
        self.links: dict[int, tuple[str, str]] = {}  # link id -> (owner, neighbour)
        self.sent: dict[int, dict[str, Advert]] = {}
        self.queue: deque[tuple[int, str, Advert | None]] = deque()
        self.messages = 0
        for i, (x, y) in enumerate(edges):
            self.links[2 * i] = (x, y)
            self.links[2 * i + 1] = (y, x)
            self.sent[2 * i] = self.sent[2 * i + 1] = {}

    def peer_link(self, link: int) -> int:
        return link ^ 1

    def advertise(self, owner: str) -> None:
        for link, (who, neighbour) in self.links.items():
            if who != owner:
                continue
            now = self.tables[who].adverts_for(Neighbour(link, neighbour))
            announce, withdraw = diff(self.sent[link], now)
            for advert in announce:
                self.queue.append((self.peer_link(link), advert.origin, advert))
            for origin in withdraw:
                self.queue.append((self.peer_link(link), origin, None))
            self.sent[link] = now

    def run(self) -> None:
        for name in self.tables:
            self.advertise(name)
        while self.queue:
            link, origin, advert = self.queue.popleft()
            if link not in self.links:
                continue
            self.messages += 1
            owner = self.links[link][0]
            t = self.tables[owner]
            if advert is None:
                changed = t.withdraw(link, origin)
            else:
                changed = t.learn(link, origin, advert.version, advert.path, advert.agents)
            if changed:
                self.advertise(owner)

    def cut(self, name: str) -> None:
        """``name`` dies: its links drop on both ends."""
        for link, (who, neighbour) in list(self.links.items()):
            if name in (who, neighbour):
                del self.links[link]
                if who != name and self.tables[who].drop_link(link):
                    self.advertise(who)
        del self.tables[name]


def test_a_ring_converges_and_forgets_a_dead_gateway_without_counting_to_infinity() -> None:
    mesh = Mesh(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")])
    mesh.tables["c"].publish(CARD)
    mesh.run()
    assert mesh.tables["a"].offering("planner") == ["c"]
    assert mesh.tables["a"].best("c") is not None
    first = mesh.messages
    mesh.run()
    assert mesh.messages == first  # nothing changed, nothing sent
    mesh.cut("c")
    mesh.run()
    assert mesh.tables["a"].origins() == ["b"]
    assert mesh.tables["b"].origins() == ["a"]


def test_a_line_learns_the_far_end_within_the_hop_limit() -> None:
    names = ["g0", "g1", "g2", "g3", "g4", "g5"]
    mesh = Mesh(names, list(itertools.pairwise(names)))
    mesh.tables["g5"].publish(CARD)
    mesh.run()
    assert mesh.tables["g1"].offering("planner") == ["g5"]  # four hops away
    assert mesh.tables["g0"].offering("planner") == []  # five: beyond the limit


def test_a_restarted_origins_new_link_is_preferred_to_its_old_silent_one() -> None:
    t = RouteTable("a")
    t.learn(1, "b", (1, 3), ("b",), CARD)
    t.learn(2, "b", (2, 1), ("b",), CARD)  # b restarted (a new epoch) and linked again
    assert t.best("b") == (2, ("b",))
    t.withdraw(2, "b")
    assert t.best("b") == (1, ("b",))


def test_the_message_id_cache_refuses_repeats_and_forgets_the_oldest() -> None:
    seen = SeenIds(limit=2)
    assert seen.add("m1")
    assert not seen.add("m1")
    assert seen.add("m2")
    assert seen.add("m3")  # m1 falls out
    assert seen.add("m1")
    assert not seen.add("m3")
