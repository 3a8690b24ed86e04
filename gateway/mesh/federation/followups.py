"""Follow-ups across the federation: a caller's answer to an agent's question reaches the
task that asked it, on the gateway that runs it.

A task that waits for its caller (input- or auth-required) on another gateway is known on
both ends of the call. The gateway that runs it keeps who may answer it (:class:`Asker`) under
the id it ran under, and names that id in the ``mesh/event`` that left it waiting; the origin
gateway keeps that name under its own task id (:class:`FederatedAgent
<gateway.mesh.federation.calls.FederatedAgent>`), and sends it back with the caller's answer,
which runs under the same id there, so an agent that keeps its conversation by task id (an
A2A agent's task, an ACP run) carries on where it stopped. Both ends keep these in memory,
the newest :data:`KEPT`: after a restart, an answer is sent as a new call with the exchange
so far as its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from adapters import lifecycle
from adapters.errors import NotFound, quote
from adapters.model import StatusEvent, StreamItem, Task

KEPT: Final = 10_000
"""Waiting tasks each side keeps track of (the oldest go)."""

K = TypeVar("K")
V = TypeVar("V")


class Newest(Generic[K, V]):
    """A mapping that keeps its newest ``limit`` entries."""

    def __init__(self, limit: int = KEPT) -> None:
        self.limit = limit
        self._items: dict[K, V] = {}

    def put(self, key: K, value: V) -> None:
        self._items.pop(key, None)
        self._items[key] = value
        while len(self._items) > self.limit:
            del self._items[next(iter(self._items))]

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)


def leaves_waiting(item: StreamItem) -> bool:
    """Whether ``item`` leaves its task waiting for the caller."""
    return isinstance(item, Task | StatusEvent) and item.state in lifecycle.INTERRUPTED


@dataclass(frozen=True, slots=True)
class Asker:
    """Who may answer a task waiting here: the gateway its call came from first, the token
    name of this gateway the call ran as, and the agent it ran on."""

    origin: str | None
    principal: str
    agent: str


class WaitingHere:
    """Tasks of this gateway's agents that wait for a caller on another gateway, by the id
    each ran under (a random UUID: the handle the origin gateway sends back)."""

    def __init__(self, limit: int = KEPT) -> None:
        self._held: Newest[str, Asker] = Newest(limit)

    def hold(self, task_id: str, asker: Asker) -> None:
        self._held.put(task_id, asker)

    def take(self, task_id: str, asker: Asker) -> None:
        """Let ``asker``'s answer run task ``task_id`` (once).

        Raises:
            NotFound: no such task waits here, or another caller's (left waiting for its own).
        """
        if self._held.get(task_id) != asker:
            raise NotFound(f"unknown task {quote(task_id)}")
        self._held.pop(task_id)
