"""A vector index of a store's rows, held in this process: exact search with numpy, and for
large scopes an 8-bit pre-filter whose candidates are re-ranked exactly.

Why: Milvus-lite searches in Python. Before its vector index runs, it walks every row of the
segments in play to drop stale versions and deleted rows, one row at a time, so a top-10
search of one scope costs time in proportion to every row (measured in ``benchmarks/memory.py``:
tens of milliseconds at 100,000 memories, whatever the index or partition layout), while
exact search over the same vectors as one matrix product takes a few milliseconds.

So a store that is the only writer of its rows (a Milvus-lite directory, which one process
holds) keeps their vectors and fields here too, per scope, and answers searches from here,
without a round trip. Milvus stays the durable copy: a scope is read from it at the scope's
first search, and rows are added here only once Milvus has them.

Search at scale: a product of the query with every float32 row reads 1.5 KB a row, which at
100,000 rows is memory-bound at about 10 ms on a small machine. A scope of at least
:data:`PREFILTER_ROWS` rows, searched without field filters, is first scored on 8-bit codes
of its rows (faiss' scalar quantizer, a quarter of the bytes, one thread: this sets faiss'
thread count for the process), and the best
:func:`candidates` rows are re-ranked with their float32 vectors; the answer is the exact
top-k whenever the true top-k are among the candidates (recall@10 1.0 on the benchmark's
realistic vectors, ``benchmarks/memory.py``). faiss comes with Milvus-lite, whose store is the
only user of this index. Filtered searches, and small scopes, stay brute force.

Memory cost: a row's vector (4 bytes a dimension), its code (1 byte a dimension, in large
scopes) and its fields, about 2.4 KB a memory at 384 dimensions, for the scopes searched since
the store opened; 100,000 memories, about 240 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from agents.memory.records import Filters, Hit, Memory

_FIRST_CAPACITY: Final = 64
PREFILTER_ROWS: Final = 20_000
"""Rows from which a scope's unfiltered searches go through the 8-bit pre-filter: below it
brute force costs about a millisecond or less."""
_TRAIN_ROWS: Final = 20_000
"""Rows the quantizer's per-dimension ranges are learned from (evenly spaced)."""


def candidates(limit: int) -> int:
    """How many pre-filtered rows are re-ranked exactly for a top-``limit`` search."""
    return max(100, 10 * limit)


def passes(memory: Memory, filters: Filters | None, ids: frozenset[str] | None = None) -> bool:
    """Whether ``memory`` passes ``filters`` (and has one of ``ids``, when given): the same
    conditions as :func:`agents.memory.expressions.scoped` writes for Milvus."""
    if ids is not None and memory.memory_id not in ids:
        return False
    if filters is None:
        return True
    return (
        (not filters.kinds or memory.kind in filters.kinds)
        and (filters.agent is None or memory.agent == filters.agent)
        and (filters.task is None or memory.task == filters.task)
        and (filters.context is None or memory.context == filters.context)
        and (filters.min_importance is None or memory.importance >= filters.min_importance)
        and (filters.created_after_ms is None or memory.created_ms >= filters.created_after_ms)
        and (filters.created_before_ms is None or memory.created_ms < filters.created_before_ms)
    )


@dataclass(slots=True)
class _Scope:
    """One scope's rows: vectors in a matrix that grows by doubling, a slot per row."""

    dim: int
    vectors: npt.NDArray[np.float32] = field(init=False)
    alive: npt.NDArray[np.bool_] = field(init=False)
    rows: list[Memory | None] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)
    dead: int = 0
    codes: Any = None
    """The 8-bit codes of slots ``0 .. codes.ntotal`` (a faiss index), once the scope is large."""

    def __post_init__(self) -> None:
        self.vectors = np.zeros((_FIRST_CAPACITY, self.dim), dtype=np.float32)
        self.alive = np.zeros(_FIRST_CAPACITY, dtype=bool)

    def add(self, memory: Memory, vector: npt.NDArray[np.float32]) -> None:
        if memory.memory_id in self.slots:
            self.remove(memory.memory_id)
        n = len(self.rows)
        if n == len(self.vectors):
            grown = np.zeros((2 * n, self.dim), dtype=np.float32)
            grown[:n] = self.vectors
            self.vectors = grown
            self.alive = np.concatenate([self.alive, np.zeros(n, dtype=bool)])
        self.vectors[n] = vector
        self.alive[n] = True
        self.rows.append(memory)
        self.slots[memory.memory_id] = n

    def remove(self, memory_id: str) -> None:
        slot = self.slots.pop(memory_id, None)
        if slot is None:
            return
        self.rows[slot] = None
        self.alive[slot] = False
        self.dead += 1
        if self.dead > len(self.rows) // 2:
            self._compact()

    def _compact(self) -> None:
        keep = [i for i, row in enumerate(self.rows) if row is not None]
        rows = [self.rows[i] for i in keep]
        capacity = max(_FIRST_CAPACITY, 2 * len(keep))
        vectors = np.zeros((capacity, self.dim), dtype=np.float32)
        vectors[: len(keep)] = self.vectors[keep]
        self.alive = np.zeros(capacity, dtype=bool)
        self.alive[: len(keep)] = True
        self.rows, self.vectors, self.dead = rows, vectors, 0
        self.slots = {row.memory_id: i for i, row in enumerate(rows) if row is not None}
        self.codes = None  # slots moved: built again at the next large search

    def _coded(self) -> Any:
        """The codes of every slot, trained at first need and extended with new slots."""
        n = len(self.rows)
        if self.codes is None:
            import faiss  # noqa: PLC0415 - large scopes only

            # One query's scan is one thread's work; faiss' default of a thread per core only
            # adds contention (measured: 8.5 ms on one thread, 21 ms on two, on 2 busy cores).
            faiss.omp_set_num_threads(1)
            codes = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            step = max(1, n // _TRAIN_ROWS)
            codes.train(np.ascontiguousarray(self.vectors[:n:step]))
            self.codes = codes
        if self.codes.ntotal < n:
            self.codes.add(np.ascontiguousarray(self.vectors[self.codes.ntotal : n]))
        return self.codes

    def _prefiltered(self, query: npt.NDArray[np.float32], limit: int) -> list[Hit] | None:
        """The top ``limit`` live rows among the pre-filter's candidates, re-ranked exactly;
        None when deleted rows left fewer than ``limit`` of them (brute force decides)."""
        _, found = self._coded().search(query[None, :], candidates(limit))
        live = [(int(i), m) for i in found[0] if i >= 0 and (m := self.rows[i]) is not None]
        if len(live) < min(limit, len(self.slots)):
            return None
        scores = self.vectors[[slot for slot, _ in live]] @ query
        ordered = sorted(range(len(live)), key=lambda j: (-scores[j], live[j][0]))[:limit]
        return [Hit(live[j][1], float(scores[j])) for j in ordered]

    def search(
        self, queries: npt.NDArray[np.float32], filters: Filters | None, limit: int
    ) -> list[list[Hit]]:
        n = len(self.rows)
        if filters is None and len(self.slots) >= PREFILTER_ROWS and limit > 0:
            quick = [self._prefiltered(q, limit) for q in queries]
            if all(hits is not None for hits in quick):
                return [hits for hits in quick if hits is not None]
        mask = self.alive[:n].copy() if self.dead else None
        if filters is not None:
            # Conditions on the fields are checked row by row: a filtered search (the memory
            # agent's) costs in proportion to the scope; recall passes no filter.
            wanted = np.fromiter((r is not None and passes(r, filters) for r in self.rows), bool, n)
            mask = wanted if mask is None else mask & wanted
        found: list[list[Hit]] = []
        k = min(limit, n if mask is None else int(mask.sum()))
        for query in queries:
            # Rows times one query (cosine, as rows are unit): BLAS's matrix-vector product,
            # rather than a general product of a one-row matrix with the transposed rows.
            row = self.vectors[:n] @ query
            if mask is not None:
                row[~mask] = -np.inf
            if k <= 0:
                found.append([])
                continue
            top = np.argpartition(-row, k - 1)[:k] if k < n else np.arange(n)
            # Ties by the row's position, so equal scores come back in a fixed order.
            ordered = sorted(top.tolist(), key=lambda i: (-row[i], i))[:k]
            hits = []
            for i in ordered:
                memory = self.rows[i]
                if memory is not None and np.isfinite(row[i]):
                    hits.append(Hit(memory, float(row[i])))
            found.append(hits)
        return found


class ExactIndex:
    """Rows by scope, searched exactly. A scope is read in whole (:meth:`load`) before it is
    searched; rows written to a scope not read yet are not kept (the scope's read will find
    them). Not thread-safe: the store calls it from its one worker thread."""

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._scopes: dict[str, _Scope] = {}

    def __len__(self) -> int:
        return sum(len(s.slots) for s in self._scopes.values())

    def loaded(self, scope: str) -> bool:
        return scope in self._scopes

    def load(
        self, scope: str, memories: Sequence[Memory], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Hold ``scope`` with these rows (all of its rows; none is a scope with no memory)."""
        self._scopes[scope] = _Scope(self._dim)
        self.add(memories, vectors)

    def add(self, memories: Sequence[Memory], vectors: npt.NDArray[np.float32]) -> None:
        """Add (or replace, by id) those of ``memories`` whose scope is held; row ``i`` of
        ``vectors`` is memory ``i``'s."""
        for memory, vector in zip(memories, vectors, strict=True):
            scope = self._scopes.get(memory.scope)
            if scope is not None:
                scope.add(memory, vector)

    def remove(self, scope: str, ids: Iterable[str]) -> None:
        held = self._scopes.get(scope)
        if held is not None:
            for memory_id in ids:
                held.remove(memory_id)

    def search(
        self, scope: str, queries: npt.NDArray[np.float32], filters: Filters | None, limit: int
    ) -> list[list[Hit]]:
        """For each query, up to ``limit`` rows of ``scope`` that pass ``filters``, closest
        first (ties by insertion order).

        Raises:
            KeyError: ``scope`` is not loaded.
        """
        held = self._scopes[scope]
        if filters is not None and filters.is_empty():
            filters = None
        return held.search(np.asarray(queries, dtype=np.float32), filters, limit)
