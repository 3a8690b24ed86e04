"""Long-term memory in Milvus through pymilvus's ``MilvusClient``: Milvus-lite or a server.

``uri`` picks the backend with the same code: a path ending in ``.db`` is a Milvus-lite data
directory, served from this process; ``http://host:19530`` is a Milvus server (standalone or
cluster), or ``milvus-lite server --data-dir DIR --host 127.0.0.1 --port 19530``.

One process per ``.db``: Milvus-lite locks its directory, and a second process cannot open it.
Several gateway processes on one machine must share a ``milvus-lite server`` (or a Milvus
server) by URL instead. Within a process, one :class:`MilvusStore` owns a ``.db``: opening it
twice is refused, since closing either would close the other's server.

The collection has an explicit schema: a VARCHAR primary key, scalar fields for filtering
(scope, kind, agent, task, context, created, importance), the text, and a 384-dimension
float vector with an index, compared by cosine. Writes are flushed before they return, and
the collection is created with Strong consistency: a write is searchable at once.

How a search of one scope runs, by backend (``benchmarks/memory.py`` measures the layouts
side by side at 100,000 memories):

- **Milvus-lite**: from an :class:`agents.memory.exact.ExactIndex` of the rows, built from
  the collection at the first search and kept in step with every write and delete of this
  store, which is their only writer (the directory's lock sees to that). Milvus-lite's own
  search walks every row in Python before its vector index runs (FACTS: 0.6 ms in faiss, the
  rest a per-row mask), so a partition per scope, a partition key or another index cannot
  bring it near the matrix product; the index here is exact, and Milvus-lite keeps the
  durable copy.
- **A Milvus server**: by Milvus, with the scope as the collection's partition key (for a
  collection created by this code), so the server searches only the scope's partition.

Milvus-lite is served from this process over a loopback gRPC connection; pymilvus's keepalive
pings are turned off on it. Milvus-lite's gRPC server keeps gRPC's default ping policy (no
pings without a call in flight), counts pymilvus's idle pings (every 10 s) as strikes, and
after three answers ``too_many_pings`` and closes the connection, which gRPC reports on stderr.
A keepalive finds nothing to keep alive on a loopback connection to a thread of this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from milvus_lite.server_manager import (  # type: ignore[import-untyped]
    server_manager_instance as lite_servers,
)
from pymilvus import DataType, MilvusClient, MilvusException

from adapters.errors import InvalidParams, UpstreamUnavailable, quote
from agents.embeddings import Vectors
from agents.memory import expressions
from agents.memory.exact import ExactIndex
from agents.memory.records import (
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    Filters,
    Hit,
    Kind,
    Memory,
    check_kind,
)
from agents.memory.store import QUERY_WINDOW

COLLECTION: Final = "effmesh_memory"
FIELDS: Final = ("scope", "kind", "agent", "task", "context", "text", "created", "importance")
"""The fields read back with each row (the vector is not)."""
_DELETE_BATCH: Final = 1000
_LOAD_BATCH: Final = 4000


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """The vector index, and how a search walks it.

    ``IVF_FLAT`` scans the ``nprobe`` closest of ``nlist`` clusters; ``HNSW`` walks a graph
    (``m`` links, ``ef`` candidates); ``FLAT`` compares every row.

    A Milvus server gets ``IVF_FLAT`` scanning every cluster, so search is exact; fewer probes
    lose recall (``benchmarks/memory.py``, 100,000 random vectors: recall@10 0.28 with nprobe
    16, 0.70 with 64, 1.0 with 128; on real sentence vectors, 0.80 / 0.98 / 1.0 at 2,000
    rows). At larger scale, a smaller ``nprobe`` (32 to 64) buys speed with recall.

    Milvus-lite gets ``FLAT`` (:data:`LOCAL_INDEX`). It builds one index per segment, and
    every flush (each memory write) makes a new small segment: an IVF index trains k-means
    on each, and faiss prints a clustering warning for every segment under 39 rows per
    cluster, that is on every write and merge until segments hold about 5,000 rows. FLAT
    needs no training, and the store's searches on Milvus-lite do not use Milvus's index
    anyway: they run on the in-process exact index (see the module's docstring).
    """

    kind: Literal["IVF_FLAT", "HNSW", "FLAT"] = "IVF_FLAT"
    nlist: int = 128
    nprobe: int = 128
    m: int = 16
    ef_construction: int = 200
    ef: int = 64

    def build_params(self) -> dict[str, int]:
        match self.kind:
            case "IVF_FLAT":
                return {"nlist": self.nlist}
            case "HNSW":
                return {"M": self.m, "efConstruction": self.ef_construction}
            case "FLAT":
                return {}

    def search_params(self) -> dict[str, int]:
        match self.kind:
            case "IVF_FLAT":
                return {"nprobe": self.nprobe}
            case "HNSW":
                return {"ef": self.ef}
            case "FLAT":
                return {}


LOCAL_INDEX: Final = IndexConfig("FLAT")
"""Milvus-lite's default index (see :class:`IndexConfig`)."""
_LOCAL_GRPC: Final = {
    # gRPC's "never" (INT_MAX): no keepalive pings on the loopback connection to Milvus-lite.
    "grpc.keepalive_time_ms": 2**31 - 1,
    "grpc.keepalive_permit_without_calls": False,
}
_OPEN_LOCAL: set[str] = set()
_OPEN_LOCK = threading.Lock()


@contextmanager
def _backend(action: str) -> Iterator[None]:
    """Milvus's failures as effmesh's error, without the backend's text (it is chained)."""
    try:
        yield
    except MilvusException as exc:
        raise UpstreamUnavailable(f"the memory store failed to {action}") from exc


class _LiteClock(logging.Filter):
    """Drops pymilvus's warning that a query iterator falls back to the client's clock:
    Milvus-lite keeps no server timestamps, so every read of a scope would log it, and the
    client's clock is right there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


_ITERATOR_LOG: Final = "pymilvus.client.iterator.query_iterator"


def _local_path(uri: str) -> Path | None:
    return Path(uri).resolve() if uri.endswith(".db") else None


class MilvusStore:
    """A :class:`agents.memory.store.MemoryStore` over one Milvus collection.

    Opening (the constructor) blocks: it starts Milvus-lite for a ``.db`` path, creates the
    collection if it is missing, checks an existing one's vector size, and loads it.

    ``exact``: search from an in-process :class:`ExactIndex` (default: for a ``.db`` path,
    whose rows this store alone writes). Do not turn it on for a server other processes
    write to: it would not see their rows.

    Raises (constructor):
        InvalidParams: the ``.db`` is already open in this process, or the existing
            collection's vectors do not have ``dim`` dimensions.
        UpstreamUnavailable: Milvus cannot be reached or opened (for a ``.db``: most often,
            another process holds it).
    """

    def __init__(
        self,
        uri: str,
        *,
        dim: int,
        token: str = "",
        collection: str = COLLECTION,
        index: IndexConfig | None = None,
        timeout: float = 30.0,
        exact: bool | None = None,
    ) -> None:
        self._collection = collection
        self._timeout = timeout
        self._local = _local_path(uri)
        self._dim = dim
        use_exact = self._local is not None if exact is None else exact
        self._exact = ExactIndex(dim) if use_exact else None
        if self._local is not None:
            iterator_log = logging.getLogger(_ITERATOR_LOG)
            if not any(isinstance(f, _LiteClock) for f in iterator_log.filters):
                iterator_log.addFilter(_LiteClock())
        self._index = index or (LOCAL_INDEX if self._local is not None else IndexConfig())
        if self._local is not None:
            self._local.parent.mkdir(parents=True, exist_ok=True)
            with _OPEN_LOCK:
                if str(self._local) in _OPEN_LOCAL:
                    raise InvalidParams(f"the memory store {quote(uri)} is already open")
                _OPEN_LOCAL.add(str(self._local))
        try:
            options = {"grpc_options": _LOCAL_GRPC} if self._local is not None else {}
            self._client = MilvusClient(uri=uri, token=token, timeout=timeout, **options)
        except MilvusException as exc:
            self._release_local()
            where = "is it open in another process?" if self._local else "is it running?"
            raise UpstreamUnavailable(
                f"cannot open the memory store {quote(uri)}: {where}"
            ) from exc
        try:
            with _backend("open its collection"):
                self._prepare(dim)
        except BaseException:
            self.close()
            raise

    def _prepare(self, dim: int) -> None:
        client, name = self._client, self._collection
        if not client.has_collection(name, timeout=self._timeout) and self._create(dim):
            # The collection is empty, so there is nothing to wait for (waiting would poll
            # with half-second sleeps).
            client.create_index(name, self._index_params(), timeout=self._timeout, sync=False)
        else:
            fields = client.describe_collection(name, timeout=self._timeout)["fields"]
            found = {f["name"]: f for f in fields}
            vector = found.get("vector", {}).get("params", {}).get("dim")
            if vector is None or int(vector) != dim or not set(FIELDS) <= set(found):
                raise InvalidParams(
                    f"collection {quote(name)} has another schema"
                    f" (vectors of {vector} dimensions; {dim} expected)"
                )
            self._reindex()
        client.load_collection(name, timeout=self._timeout)

    def _create(self, dim: int) -> bool:
        """Create the collection; False when another process sharing the Milvus server
        created it first (gateway replicas starting together), once it has its index."""
        client, name = self._client, self._collection
        try:
            client.create_collection(
                name, schema=self._schema(dim), consistency_level="Strong", timeout=self._timeout
            )
        except MilvusException:
            if not client.has_collection(name, timeout=self._timeout):
                raise
            deadline = time.monotonic() + self._timeout
            while not client.list_indexes(name, timeout=self._timeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            return False
        return True

    def _reindex(self) -> None:
        """Give an existing collection the configured kind of index, if it has another (a
        Milvus-lite memory written before it defaulted to FLAT has IVF_FLAT)."""
        client, name = self._client, self._collection
        held = client.describe_index(name, "vector", timeout=self._timeout) or {}
        if held.get("index_type") in (None, self._index.kind):
            return
        client.release_collection(name, timeout=self._timeout)
        client.drop_index(name, "vector", timeout=self._timeout)
        client.create_index(name, self._index_params(), timeout=self._timeout)

    def _schema(self, dim: int) -> Any:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=32)
        # On a server the scope is the partition key: a search filtered by scope reads only
        # the scope's partition. Milvus-lite routes rows to key partitions but does not prune
        # them in a search (measured slower than no key), and searches its own index here.
        schema.add_field(
            "scope", DataType.VARCHAR, max_length=128, is_partition_key=self._local is None
        )
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        for label in ("agent", "task", "context"):
            # Milvus counts VARCHAR length in bytes: 4 per character covers any UTF-8.
            schema.add_field(label, DataType.VARCHAR, max_length=4 * MAX_LABEL_CHARS)
        schema.add_field("text", DataType.VARCHAR, max_length=4 * MAX_TEXT_CHARS)
        schema.add_field("created", DataType.INT64)
        schema.add_field("importance", DataType.FLOAT)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        return schema

    def _index_params(self) -> Any:
        params = self._client.prepare_index_params()
        params.add_index(
            "vector",
            index_type=self._index.kind,
            metric_type="COSINE",
            params=self._index.build_params(),
        )
        return params

    # --- MemoryStore ---------------------------------------------------------------------

    @property
    def collection(self) -> str:
        return self._collection

    @property
    def exclusive(self) -> bool:
        return self._local is not None

    def insert(self, memories: Sequence[Memory], vectors: Vectors) -> None:
        if not memories:
            return
        rows = [
            {
                "id": m.memory_id,
                "scope": m.scope,
                "kind": m.kind,
                "agent": m.agent,
                "task": m.task,
                "context": m.context,
                "text": m.text,
                "created": m.created_ms,
                "importance": m.importance,
                "vector": vectors[i],
            }
            for i, m in enumerate(memories)
        ]
        with _backend("store memories"):
            self._client.insert(self._collection, rows, timeout=self._timeout)
            self._client.flush(self._collection, timeout=self._timeout)
        if self._exact is not None:  # only once Milvus holds them durably
            self._exact.add(memories, vectors)

    def search(
        self, scope: str, vectors: Vectors, filters: Filters | None, limit: int
    ) -> list[list[Hit]]:
        if self._exact is not None:
            if not self._exact.loaded(scope):
                self._load(self._exact, scope)
            return self._exact.search(scope, vectors, filters, limit)
        expression = expressions.scoped(scope, filters)
        with _backend("search"):
            found = self._client.search(
                self._collection,
                data=list(vectors),
                filter=expression,
                limit=limit,
                output_fields=list(FIELDS),
                search_params={"metric_type": "COSINE", "params": self._index.search_params()},
                timeout=self._timeout,
            )
        # For COSINE, Milvus's "distance" is the similarity itself.
        return [
            [Hit(_memory(h["id"], h["entity"]), float(h["distance"])) for h in hits]
            for hits in found
        ]

    def query(self, expression: str, limit: int) -> list[Memory]:
        with _backend("read memories"):
            rows = self._client.query(
                self._collection,
                filter=expression,
                output_fields=["id", *FIELDS],
                limit=min(limit, QUERY_WINDOW),
                timeout=self._timeout,
            )
        return [_memory(row["id"], row) for row in rows]

    def count(self, expression: str) -> int:
        with _backend("count memories"):
            rows = self._client.query(
                self._collection,
                filter=expression,
                output_fields=["count(*)"],
                timeout=self._timeout,
            )
        return int(rows[0]["count(*)"])

    def delete(self, expression: str) -> list[str]:
        deleted: list[str] = []
        with _backend("delete memories"):
            while True:
                # Ids first, then a delete by id: the count is exact on Milvus-lite and on a
                # server alike (a server's delete-by-filter does not report one).
                rows = self._client.query(
                    self._collection,
                    filter=expression,
                    output_fields=["id", "scope"],
                    limit=_DELETE_BATCH,
                    timeout=self._timeout,
                )
                ids = [str(row["id"]) for row in rows]
                if not ids:
                    break
                self._client.delete(self._collection, ids=ids, timeout=self._timeout)
                deleted.extend(ids)
                if self._exact is not None:
                    for row in rows:
                        self._exact.remove(str(row["scope"]), [str(row["id"])])
            if deleted:
                self._client.flush(self._collection, timeout=self._timeout)
        return deleted

    def _load(self, exact: ExactIndex, scope: str) -> None:
        """Read ``scope``'s rows into ``exact`` (seconds at 100,000 memories)."""
        memories: list[Memory] = []
        # Each page's vectors become one float32 array at once: pymilvus hands them over as
        # lists of Python floats (24 bytes each), which for a whole large scope would take
        # several times the index's own memory.
        vectors: list[npt.NDArray[np.float32]] = []
        with _backend("read memories"):
            pages = self._client.query_iterator(
                self._collection,
                batch_size=_LOAD_BATCH,
                filter=expressions.scoped(scope),
                output_fields=["id", *FIELDS, "vector"],
                timeout=self._timeout,
            )
            try:
                while rows := pages.next():
                    memories.extend(_memory(row["id"], row) for row in rows)
                    page = [row.pop("vector") for row in rows]
                    vectors.append(np.asarray(page, dtype=np.float32).reshape(-1, self._dim))
            finally:
                pages.close()
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, self._dim), np.float32)
        exact.load(scope, memories, matrix)

    def close(self) -> None:
        try:
            with _backend("close"):
                self._client.close()
        finally:
            self._release_local()

    def _release_local(self) -> None:
        if self._local is None:
            return
        # The client's close leaves Milvus-lite's in-process server (and the directory's
        # lock) up until the process exits; stop it so the .db can be opened again.
        lite_servers.release_server(str(self._local))
        with _OPEN_LOCK:
            _OPEN_LOCAL.discard(str(self._local))


def _memory(memory_id: object, row: dict[str, Any]) -> Memory:
    kind: Kind = check_kind(row["kind"], "kind")
    return Memory(
        memory_id=str(memory_id),
        scope=str(row["scope"]),
        text=str(row["text"]),
        kind=kind,
        agent=str(row["agent"]),
        task=str(row["task"]),
        context=str(row["context"]),
        created_ms=int(row["created"]),
        # Stored as float32: rounded so 0.3 reads back as 0.3.
        importance=round(float(row["importance"]), 6),
    )
