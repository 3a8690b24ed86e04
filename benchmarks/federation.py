"""Federation: the latency one federation hop adds, and how fast the gateways' tables agree
again after a peer joins, leaves, falls silent or comes back.

Every gateway is an ``effmesh serve`` process on its own loopback port. The hop: the official
MCP client calls ``far.echo`` on gateway A, which forwards it to gateway B where the echo
agent runs, against the same client calling B directly; rounds alternate between the two
paths. Convergence: gateway C (one echo agent, ``late``) joins B, and A's table is watched;
the times come from the gateways' own clocks (``GET /federation``: when C's link came up,
when A's table last changed), so polling does not blur them.

    python -m benchmarks.federation --out benchmarks/results/federation.json \\
        --doc docs/benchmarks.md
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from benchmarks import report
from benchmarks.hop import _free_port, _stats, _timed

CALLS = 2000
ROUND = 200
TRIALS = 5
HEARTBEAT = 1.0
TOKEN = "benchmark-federation-token"


class Gateway:
    def __init__(self, folder: Path, name: str, agents: str, join: tuple[str, ...] = ()) -> None:
        self.name = name
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws"
        self.path = folder / f"{name}.toml"
        joins = ", ".join(f'"{u}"' for u in join)
        self.path.write_text(
            f'[gateway]\nport = {self.port}\ndata_dir = "{folder / name}"\nrate_per_minute = 0\n'
            f'health_interval_seconds = 0\n[federation]\nname = "{name}"\njoin = [{joins}]\n'
            f"heartbeat_seconds = {HEARTBEAT}\nreconnect_max_seconds = 1\n{agents}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the process; returns the wall time it was started at."""
        started = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.path)],
            env={**os.environ, "EFFMESH_FEDERATION_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return started

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.base}/federation", timeout=5).json()
        return body

    def signal(self, sig: signal.Signals) -> float:
        assert self.process is not None
        at = time.time()
        self.process.send_signal(sig)
        return at

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise RuntimeError("the gateways did not converge")


def echo(name: str) -> str:
    return f'[[agents]]\nname = "{name}"\nkind = "echo"\n'


async def hop(a: Gateway, b: Gateway) -> dict[str, Any]:
    through: list[float] = []
    direct: list[float] = []
    async with Client(f"{a.base}/mcp") as via_a, Client(f"{b.base}/mcp") as to_b:

        async def via() -> None:
            await via_a.call_tool("far.echo", {"text": "ping"})

        async def straight() -> None:
            await to_b.call_tool("far.echo", {"text": "ping"})

        for call in (via, straight):
            await _timed(call, 50, [])
        for _ in range(CALLS // ROUND):
            await _timed(via, ROUND, through)
            await _timed(straight, ROUND, direct)
    result: dict[str, Any] = {
        "calls_per_path": CALLS,
        "via_a": _stats(through),
        "direct_b": _stats(direct),
    }
    for q in ("p50", "p99"):
        result[f"added_{q}_ms"] = round(
            result["via_a"][f"{q}_ms"] - result["direct_b"][f"{q}_ms"], 3
        )
    return result


def convergence(folder: Path, a: Gateway, b: Gateway) -> dict[str, Any]:
    times: dict[str, list[float]] = {
        "join": [],
        "join_from_process_start": [],
        "leave": [],
        "silent": [],
        "heal": [],
    }
    for i in range(TRIALS):
        c = Gateway(folder, f"c{i}", echo("late"), (b.ws,))
        started = c.start()
        try:
            until(lambda c=c: c.name in a.status()["origins"])
            learned = a.status()["changed_at"]
            link_up = c.status()["links"][0]["since"]
            times["join"].append(learned - link_up)
            times["join_from_process_start"].append(learned - started)
            # Silent (the process stopped, its sockets open): found by the heartbeat.
            at = c.signal(signal.SIGSTOP)
            until(lambda c=c: c.name not in a.status()["origins"])
            times["silent"].append(a.status()["changed_at"] - at)
            at = c.signal(signal.SIGCONT)
            until(lambda c=c: c.name in a.status()["origins"])
            times["heal"].append(a.status()["changed_at"] - at)
            # Gone (the process killed: its sockets close at once).
            at = c.signal(signal.SIGKILL)
            until(lambda c=c: c.name not in a.status()["origins"])
            times["leave"].append(a.status()["changed_at"] - at)
        finally:
            c.stop()
    return {
        k: {
            "median_ms": round(statistics.median(v) * 1000, 1),
            "max_ms": round(max(v) * 1000, 1),
        }
        for k, v in times.items()
    } | {"trials": TRIALS, "heartbeat_seconds": HEARTBEAT}


def table(result: dict[str, Any]) -> str:
    h, c = result["hop"], result["convergence"]

    def row(label: str, key: str) -> str:
        return f"| {label} | {h[key]['p50_ms']} | {h[key]['p99_ms']} |"

    def conv(label: str, key: str) -> str:
        return f"| {label} | {c[key]['median_ms']} | {c[key]['max_ms']} |"

    rows = [
        "| path | p50 (ms) | p99 (ms) |",
        "| --- | ---: | ---: |",
        row("MCP client -> B -> echo agent", "direct_b"),
        row("MCP client -> A -> B -> echo agent", "via_a"),
        f"| **added by one federation hop** | **{h['added_p50_ms']}** | **{h['added_p99_ms']}** |",
        "",
        f"Gateway C joins B, then falls silent, comes back and is killed; gateway A (linked to"
        f" B) is watched. {c['trials']} trials, heartbeat {c['heartbeat_seconds']} s.",
        "",
        "| event | until A's table agrees: median (ms) | max (ms) |",
        "| --- | ---: | ---: |",
        conv("C's link to B is up", "join"),
        conv("C's process starts (Python start-up included)", "join_from_process_start"),
        conv("C is killed (its sockets close)", "leave"),
        conv("C stops answering (SIGSTOP; found by the heartbeat)", "silent"),
        conv("C answers again (SIGCONT; the partition heals)", "heal"),
        "",
        f"{h['calls_per_path']} calls per hop path.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    args = report.arguments().parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        b = Gateway(folder, "b", echo("far"))
        a = Gateway(folder, "a", '[[agents]]\nname = "calculator"\nkind = "calculator"\n', (b.ws,))
        b.start()
        a.start()
        try:
            until(lambda: "b" in a.status()["origins"])
            result = {
                "benchmark": "federation",
                "hop": asyncio.run(hop(a, b)),
                "convergence": convergence(folder, a, b),
            }
        finally:
            a.stop()
            b.stop()
    report.publish(args, "federation", result, table)


if __name__ == "__main__":
    main()
