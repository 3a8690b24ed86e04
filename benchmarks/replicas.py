"""Replicas behind a load balancer: A2A and MCP calls through Caddy to one gateway on SQLite,
one on PostgreSQL, and two on PostgreSQL, in the same run; and the task store's own cost per
call (a save and a read, SQLite against PostgreSQL, plus the channel's publish).

Each configuration serves ``echo`` (an in-process agent: the figures are the gateway's and
the store's, not a model's). Calls are blocking A2A ``SendMessage`` (JSON-RPC), MCP
2026-07-28 ``tools/call``, and ``tools/call`` in a 2025-11-25 session (one per client, opened
before the measure; with two replicas, each takes the session up from the store at its first
request of it), from ``CLIENTS`` concurrent clients for ``SECONDS`` each; the client, Caddy,
PostgreSQL and the replicas share the machine's cores.

    python -m benchmarks.replicas --out benchmarks/results/replicas.json --doc docs/benchmarks.md
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from adapters.model import Message, Task, TaskState, TextPart
from benchmarks import report
from gateway.runtime.channel import PostgresChannel
from gateway.runtime.postgres import PostgresTaskStore
from gateway.runtime.sqlite import SQLiteTaskStore
from gateway.runtime.store import TaskStore
from tests import pg
from tests.replicas import Balancer, Replica

CLIENTS = 8
SECONDS = 6.0
STORE_CALLS = 2000
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


def _stats(ms: list[float], seconds: float) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "calls_per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2),
    }


async def _load(call: Callable[[httpx.AsyncClient], Awaitable[None]]) -> dict[str, float]:
    """``CLIENTS`` clients calling back to back for ``SECONDS``; throughput and latency."""
    ms: list[float] = []
    end = time.perf_counter() + SECONDS

    async def client() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            await call(http)  # a first call outside the measure: connections, caches
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                await call(http)
                ms.append((time.perf_counter() - t0) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return _stats(ms, time.perf_counter() - began)


def a2a_call(base: str) -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    async def call(http: httpx.AsyncClient) -> None:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": str(uuid.uuid4()),
                    "role": "ROLE_USER",
                    "parts": [{"text": "hi"}],
                },
                "metadata": {"effmesh.skill": "echo"},
            },
        }
        reply = await http.post(f"{base}/a2a/echo", json=body, headers={"A2A-Version": "1.0"})
        state = reply.json()["result"]["task"]["status"]["state"]
        assert state == "TASK_STATE_COMPLETED", reply.text

    return call


def mcp_call(base: str) -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "echo.echo",
    }

    async def call(http: httpx.AsyncClient) -> None:
        params = {"name": "echo.echo", "arguments": {"text": "hi"}, "_meta": meta}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        reply = await http.post(f"{base}/mcp", json=body, headers=headers)
        assert _text(reply) == "hi", reply.text

    return call


def session_call(base: str) -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    """A ``tools/call`` in a 2025-11-25 session, each client's own (opened at its first
    call, which the measure leaves out)."""
    sessions: dict[int, str] = {}

    async def call(http: httpx.AsyncClient) -> None:
        session = sessions.get(id(http))
        if session is None:
            client = {"name": "bench", "version": "1"}
            params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": client}
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
            opened = await http.post(f"{base}/mcp", json=init, headers={"accept": ACCEPT})
            session = sessions[id(http)] = opened.headers["mcp-session-id"]
            done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await http.post(f"{base}/mcp", json=done, headers=_in(session))
        params = {"name": "echo.echo", "arguments": {"text": "hi"}}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        reply = await http.post(f"{base}/mcp", json=body, headers=_in(session))
        assert _text(reply) == "hi", reply.text

    return call


def _text(reply: httpx.Response) -> object:
    """The text of a ``tools/call`` answer: a JSON body, or the last server-sent event."""
    events = [line[5:] for line in reply.text.splitlines() if line.startswith("data:")]
    answer = json.loads(events[-1]) if events else reply.json()
    return answer.get("result", {}).get("content", [{}])[0].get("text")


def _in(session: str) -> dict[str, str]:
    return {"accept": ACCEPT, "mcp-session-id": session, "mcp-protocol-version": LEGACY}


@contextmanager
def behind_caddy(folder: Path, store: str, count: int) -> Iterator[str]:
    """``count`` replicas on ``store`` (empty: each its own SQLite) behind Caddy."""
    balancer = Balancer(folder)
    replicas = [Replica(folder, f"r{n}", store, balancer.base) for n in range(count)]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_up()
        balancer.upstreams = [r.hostport for r in replicas]
        balancer.start()
        yield balancer.base
    finally:
        balancer.stop()
        for replica in replicas:
            replica.stop()


def _task(n: int) -> Task:
    message = Message("user", (TextPart("hi"),), f"m{n}")
    return Task(f"t{n}", TaskState.COMPLETED, "c", history=(message,))


def store_cost(store: TaskStore) -> dict[str, float]:
    """Microseconds per save and per read, one at a time, on the event loop's thread."""
    t0 = time.perf_counter()
    for n in range(STORE_CALLS):
        store.save(_task(n), agent="echo.echo", owner=None, endpoint="/mcp")
    saved = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in range(STORE_CALLS):
        store.load(f"t{n}")
    read = time.perf_counter() - t0
    return {
        "save_us": round(saved / STORE_CALLS * 1e6, 1),
        "load_us": round(read / STORE_CALLS * 1e6, 1),
    }


def publish_cost(store: PostgresTaskStore) -> float:
    channel = PostgresChannel(store)
    t0 = time.perf_counter()
    for n in range(STORE_CALLS):
        channel.publish("t0", _task(n))
    return round((time.perf_counter() - t0) / STORE_CALLS * 1e6, 1)


SYNCED = "&options=-c%20synchronous_commit%3Don"
"""Added to the store URL: commits wait for the disk (the default does not)."""


async def measure(url: str, folder: Path) -> dict[str, Any]:
    configs = {
        "sqlite, 1 replica": ("", 1),
        "postgresql synced commits, 1 replica": (url + SYNCED, 1),
        "postgresql, 1 replica": (url, 1),
        "postgresql, 2 replicas": (url, 2),
    }
    out: dict[str, Any] = {"clients": CLIENTS, "seconds": SECONDS, "calls": {}}
    for n, (label, (store, count)) in enumerate(configs.items()):
        with behind_caddy(folder / f"c{n}", store, count) as base:
            out["calls"][label] = {
                "a2a": await _load(a2a_call(base)),
                "mcp": await _load(mcp_call(base)),
                "session": await _load(session_call(base)),
            }
    sqlite = SQLiteTaskStore(folder / "cost.sqlite3")
    try:
        out["store"] = {"sqlite": store_cost(sqlite)}
    finally:
        sqlite.close()
    for label, store_url in (("postgresql synced", url + SYNCED), ("postgresql", url)):
        postgres = PostgresTaskStore(store_url)
        try:
            out["store"][label] = store_cost(postgres)
            out["store"][label]["publish_us"] = publish_cost(postgres)
        finally:
            postgres.close()
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['clients']} concurrent clients, {result['seconds']:.0f} s per row, through "
        "Caddy (round robin); echo agent.",
        "",
        "| configuration | A2A calls/s | A2A p50 ms | A2A p99 ms | MCP calls/s | MCP p50 ms "
        "| MCP p99 ms | MCP session calls/s | session p50 ms | session p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = result["calls"]["sqlite, 1 replica"]
    kinds = ("a2a", "mcp", "session")
    for label, row in result["calls"].items():
        ratio = (
            " ("
            + " / ".join(f"{row[k]['calls_per_s'] / base[k]['calls_per_s']:.2f}x" for k in kinds)
            + ")"
            if row is not base
            else " (baseline)"
        )
        cells = " | ".join(
            f"{row[k]['calls_per_s']} | {row[k]['p50_ms']} | {row[k]['p99_ms']}" for k in kinds
        )
        lines.append(f"| {label}{ratio} | {cells} |")
    s, synced = result["store"]["sqlite"], result["store"]["postgresql synced"]
    p = result["store"]["postgresql"]
    lines += [
        "",
        "| store, one call at a time | save µs | read µs | publish an event µs |",
        "| --- | ---: | ---: | ---: |",
        f"| SQLite (file, WAL) | {s['save_us']} | {s['load_us']} | - |",
        f"| PostgreSQL, commits wait for the disk | {synced['save_us']} | {synced['load_us']} "
        f"| {synced['publish_us']} |",
        f"| PostgreSQL, default (`synchronous_commit=off`) | {p['save_us']} | {p['load_us']} "
        f"| {p['publish_us']} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    args = report.arguments().parse_args()
    with ExitStack() as stack:
        running = stack.enter_context(pg.server())
        url = stack.enter_context(pg.database(running))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="effmesh-bench-")))
        result = asyncio.run(measure(url, folder))
    report.publish(args, "replicas", result, table)


if __name__ == "__main__":
    main()
