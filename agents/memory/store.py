"""The interface of long-term storage: rows of memories with their vectors.

Expressions come from :mod:`agents.memory.expressions` and always carry the scope condition;
a store never invents one. A search names its scope and filters as values instead, so a store
can answer it without a filter expression (from an index of the scope's own rows).

Calls block: the service makes them from one worker thread, one at
a time, so an implementation need not be thread-safe. Failures of the backing store raise
``adapters.errors.UpstreamUnavailable`` with effmesh's own words, never the backend's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from agents.embeddings import Vectors
from agents.memory.records import Filters, Hit, Memory

QUERY_WINDOW: Final = 16384
"""Most rows one query may return (Milvus's own limit on a query's result window)."""


class MemoryStore(Protocol):
    @property
    def collection(self) -> str:
        """The name the rows are stored under (spans name the store's operations by it)."""
        ...

    @property
    def exclusive(self) -> bool:
        """Whether this store is the only writer of its rows (no other process writes them)."""
        ...

    def insert(self, memories: Sequence[Memory], vectors: Vectors) -> None:
        """Store ``memories`` (row ``i`` of ``vectors`` is the vector of memory ``i``), durably:
        when this returns, the rows are searchable and survive a restart."""
        ...

    def search(
        self, scope: str, vectors: Vectors, filters: Filters | None, limit: int
    ) -> list[list[Hit]]:
        """For each query vector, up to ``limit`` rows of ``scope`` (a checked scope) that pass
        ``filters`` (checked), closest first."""
        ...

    def query(self, expression: str, limit: int) -> list[Memory]:
        """Up to ``limit`` (<= ``QUERY_WINDOW``) rows matching ``expression``, in no set order."""
        ...

    def count(self, expression: str) -> int:
        """How many rows match ``expression``."""
        ...

    def delete(self, expression: str) -> list[str]:
        """Delete the rows (and their vectors) matching ``expression``; their ids."""
        ...

    def close(self) -> None:
        """Release the backend. Later calls fail."""
        ...
