"""Milvus-lite searches through the in-process exact index: the same answers as exact search
and as Milvus's own filtered search, kept in step with writes and deletes, and rebuilt from
the durable rows after a reopen. Real Milvus-lite in a temporary directory; vectors are
random unit vectors (the index does not care where they come from)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pymilvus import MilvusClient

from agents.memory import Filters, IndexConfig, Memory, MilvusStore
from agents.memory.exact import PREFILTER_ROWS, ExactIndex, passes
from agents.memory.expressions import scoped

DIM = 16
KINDS = ("fact", "result", "summary")


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def memories(n: int) -> list[Memory]:
    return [
        Memory(
            f"{i:032x}",
            f"s{i % 3}",
            f"memory {i}",
            KINDS[i % 3 if i % 2 else 0],
            f"agent{i % 4}",
            f"task{i % 5}",
            f"ctx{i % 2}",
            1000 + i,
            round((i % 10) / 10, 1),
        )
        for i in range(n)
    ]


FILTERS = [
    None,
    Filters(kinds=("fact",)),
    Filters(agent="agent1", min_importance=0.3),
    Filters(context="ctx0", created_after_ms=1100, created_before_ms=1250),
    Filters(kinds=("result", "summary"), task="task2"),
]


def brute(
    rows: list[Memory], vectors: np.ndarray, scope: str, f: Filters | None, q: np.ndarray
) -> list[str]:
    chosen = [i for i, m in enumerate(rows) if m.scope == scope and passes(m, f)]
    scores = vectors[chosen] @ q
    order = sorted(range(len(chosen)), key=lambda j: (-scores[j], chosen[j]))[:10]
    return [rows[chosen[j]].memory_id for j in order]


def test_the_exact_index_answers_as_exact_search_and_as_milvus_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows, vectors = memories(400), unit(rng, 400)
    queries = unit(rng, 5)
    uri = str(tmp_path / "m.db")
    store = MilvusStore(uri, dim=DIM, index=IndexConfig("FLAT"), exact=False)
    store.insert(rows[:200], vectors[:200])
    store.insert(rows[200:], vectors[200:])
    by_milvus = {
        (scope, i, j): [h.memory.memory_id for h in store.search(scope, q[None, :], f, 10)[0]]
        for scope in ("s0", "s2")
        for i, f in enumerate(FILTERS)
        for j, q in enumerate(queries)
    }
    store.close()
    store = MilvusStore(uri, dim=DIM)  # the default on a .db: the exact index
    try:
        for (scope, i, j), milvus in by_milvus.items():
            hits = store.search(scope, queries[j][None, :], FILTERS[i], 10)[0]
            mine = [h.memory.memory_id for h in hits]
            assert mine == brute(rows, vectors, scope, FILTERS[i], queries[j])
            assert set(mine) == set(milvus)
            assert all(h.memory == rows[int(h.memory.memory_id, 16)] for h in hits)
            assert [round(h.score, 4) for h in hits] == sorted(
                (round(h.score, 4) for h in hits), reverse=True
            )
    finally:
        store.close()


def test_writes_and_deletes_reach_a_loaded_scope_and_survive_a_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    rows, vectors = memories(30), unit(rng, 30)
    uri = str(tmp_path / "m.db")
    store = MilvusStore(uri, dim=DIM)
    store.insert(rows[:20], vectors[:20])
    assert len(store.search("s1", vectors[1][None, :], None, 50)[0]) == 7  # s1 loaded now
    store.insert(rows[20:], vectors[20:])
    top = store.search("s1", vectors[22][None, :], None, 1)[0]
    assert top[0].memory.memory_id == rows[22].memory_id
    assert store.delete(scoped("s1", ids=[rows[22].memory_id])) == [rows[22].memory_id]
    after = store.search("s1", vectors[22][None, :], None, 50)[0]
    assert rows[22].memory_id not in {h.memory.memory_id for h in after}
    assert len(after) == 9
    store.close()
    store = MilvusStore(uri, dim=DIM)
    try:
        again = store.search("s1", vectors[22][None, :], None, 50)[0]
        assert [h.memory.memory_id for h in again] == [h.memory.memory_id for h in after]
        assert store.search("nobody", vectors[0][None, :], None, 5) == [[]]
    finally:
        store.close()


def test_a_scope_emptied_and_refilled_compacts_and_still_finds_its_rows() -> None:
    rng = np.random.default_rng(9)
    rows = [m for m in memories(300) if m.scope == "s0"]
    vectors = unit(rng, len(rows))
    index = ExactIndex(DIM)
    index.load("s0", rows, vectors)
    index.remove("s0", [m.memory_id for m in rows[:80]])
    assert len(index) == len(rows) - 80
    hits = index.search("s0", vectors[90][None, :], None, 3)[0]
    assert hits[0].memory.memory_id == rows[90].memory_id
    index.add(rows[:80], vectors[:80])
    assert index.search("s0", vectors[5][None, :], None, 1)[0][0].memory == rows[5]
    with pytest.raises(KeyError):
        index.search("s9", vectors[:1], None, 1)


def anisotropic(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Unit vectors crowded around one direction with uneven spread, as sentence embeddings
    are (any two of them score high): harder for 8-bit codes than isotropic ones."""
    spread = rng.standard_normal((n, dim)) * np.linspace(0.05, 0.4, dim)
    v = (spread + rng.standard_normal(dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_large_scope_is_pre_filtered_and_answers_as_exact_search() -> None:
    rng = np.random.default_rng(3)
    n, dim = PREFILTER_ROWS + 500, 64
    rows = [Memory(f"{i:032x}", "big", f"m{i}", "fact", "", "", "", i, 0.5) for i in range(n)]
    vectors = anisotropic(rng, n, dim)
    index = ExactIndex(dim)
    index.load("big", rows, vectors)
    queries = anisotropic(rng, 40, dim)

    def exact(q: np.ndarray, alive: np.ndarray) -> list[str]:
        scores = np.where(alive, vectors @ q, -np.inf)
        order = sorted(np.argpartition(-scores, 10)[:10], key=lambda i: (-scores[i], i))
        return [rows[i].memory_id for i in order]

    alive = np.ones(n, dtype=bool)
    found = index.search("big", queries, None, 10)
    expected = [exact(q, alive) for q in queries]
    assert index._scopes["big"].codes.ntotal == n  # the pre-filter answered
    # Exact re-ranking: the same rows in the same order whenever the candidates held them.
    same = sum(
        [h.memory.memory_id for h in hits] == e for hits, e in zip(found, expected, strict=True)
    )
    assert same >= 38
    # Deleted rows never come back; rows added after the codes were built are found.
    gone = {h.memory.memory_id for h in found[0]}
    index.remove("big", gone)
    alive[[int(g, 16) for g in gone]] = False
    assert not gone & {h.memory.memory_id for h in index.search("big", queries[:1], None, 10)[0]}
    extra = Memory(f"{n:032x}", "big", "new", "fact", "", "", "", n, 0.5)
    index.add([extra], queries[5][None, :])
    assert index.search("big", queries[5][None, :], None, 1)[0][0].memory == extra
    assert index._scopes["big"].codes.ntotal == n + 1
    # A filtered search is brute force over the rows that pass.
    only = index.search("big", queries[:1], Filters(created_after_ms=n - 100), 5)[0]
    assert {h.memory.memory_id for h in only} <= {f"{i:032x}" for i in range(n - 100, n + 1)}
    assert len(only) == 5


def test_the_same_store_searches_through_a_milvus_server_by_its_partition_key(
    tmp_path: Path,
) -> None:
    # `milvus-lite server` speaks Milvus's gRPC API: the store treats it as any Milvus server
    # (an http URI): no in-process index, the scope as partition key, Milvus's own search.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "milvus-lite"),
            "server",
            "--data-dir",
            str(tmp_path / "srv"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # the server is up once it accepts a connection
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert server.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.2)
        rng = np.random.default_rng(10)
        rows, vectors = memories(90), unit(rng, 90)
        store = MilvusStore(f"http://127.0.0.1:{port}", dim=DIM)
        try:
            assert not store.exclusive
            store.insert(rows, vectors)
            for f in FILTERS[:3]:
                hits = store.search("s2", vectors[5][None, :], f, 10)[0]
                assert {h.memory.memory_id for h in hits} == set(
                    brute(rows, vectors, "s2", f, vectors[5])
                )
            other = MilvusClient(uri=f"http://127.0.0.1:{port}")
            fields = other.describe_collection(store.collection)["fields"]
            other.close()
            assert any(f["name"] == "scope" and f.get("is_partition_key") for f in fields)
        finally:
            store.close()
    finally:
        server.terminate()
        server.wait(30)
