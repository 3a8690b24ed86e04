"""What it costs to answer a held call from another replica: an ACP caller's resume of a run
waiting for a handshake-era MCP server's question, sent to the replica that holds the
upstream call (the baseline) or to the other one, which hands the answer over the replicas'
channel and runs the task on with the items sent back (``gateway/runtime/held.py``).

Two ``effmesh serve`` replicas on one PostgreSQL store, the SDK's conformance fixture as the
upstream (in this process, spoken to in the handshake era). Each round asks on the first
replica (``test_elicitation``) and then resumes, alternately there and on the other, one
round at a time; only the resume is timed (a sync ACP resume, from the request to the
completed run). Client, replicas, PostgreSQL and the upstream share the machine's cores.

    python -m benchmarks.held --out benchmarks/results/held.json --doc docs/benchmarks.md
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from benchmarks import report
from tests import pg
from tests.mcp_fixture import build_fixture
from tests.mcp_paused_fixture import ENV, PausingReplica
from tests.servers import running

ROUNDS = 40
"""Resumes timed on each replica."""
TOKEN = "bench-held-secret"
HEADERS = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


def _part(data: dict[str, Any]) -> dict[str, Any]:
    return {"parts": [{"content": json.dumps(data), "content_type": "application/json"}]}


async def _round(http: httpx.AsyncClient, asker: str, answerer: str) -> float:
    """One question asked on ``asker`` and answered on ``answerer``; the answer's ms."""
    body = {
        "agent_name": "fx.test_elicitation",
        "input": [_part({"message": "who are you"})],
        "mode": "sync",
    }
    asked = (await http.post(f"{asker}/acp/runs", json=body)).json()
    assert asked["status"] == "awaiting", asked
    resume = {
        "await_resume": {"type": "message", "message": _part({"username": "a", "email": "e"})},
        "mode": "sync",
    }
    began = time.perf_counter()
    done = (await http.post(f"{answerer}/acp/runs/{asked['run_id']}", json=resume)).json()
    spent = (time.perf_counter() - began) * 1000
    assert done["status"] == "completed", done
    return spent


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[max(0, int(len(ms) * 0.9) - 1)], 2),
    }


async def measure(one: str, two: str) -> dict[str, Any]:
    here: list[float] = []
    handed: list[float] = []
    async with httpx.AsyncClient(timeout=60, headers=HEADERS) as http:
        await _round(http, one, one)  # outside the measure: sessions, connections
        await _round(http, one, two)
        for _ in range(ROUNDS):
            here.append(await _round(http, one, one))
            handed.append(await _round(http, one, two))
    return {"rounds": ROUNDS, "holder": _stats(here), "other": _stats(handed)}


def table(result: dict[str, Any]) -> str:
    holder, other = result["holder"], result["other"]
    ratio = other["p50_ms"] / holder["p50_ms"]
    return "\n".join(
        [
            f"{result['rounds']} resumes on each replica, one at a time, alternating; "
            "ACP sync resume of a run waiting for a handshake-era MCP server's question.",
            "",
            "| the answer reaches | p50 ms | p90 ms |",
            "| --- | ---: | ---: |",
            f"| the replica holding the call (baseline) | {holder['p50_ms']} "
            f"| {holder['p90_ms']} |",
            f"| the other replica, handed over ({ratio:.2f}x p50) | {other['p50_ms']} "
            f"| {other['p90_ms']} |",
            "",
        ]
    )


def main() -> None:
    args = report.arguments().parse_args()
    for who, name in ENV.items():
        os.environ[name] = TOKEN if who == "ide" else f"{TOKEN}-{who}"
    with ExitStack() as stack:
        server = stack.enter_context(pg.server())
        url = stack.enter_context(pg.database(server))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="effmesh-bench-")))
        fx = stack.enter_context(running(lambda base: build_fixture().streamable_http_app()))
        agents = f'[[agents]]\nname = "fx"\nkind = "mcp"\nurl = "{fx}/mcp"\nera = "handshake"\n'
        replicas = [PausingReplica(folder, f"r{n}", url, "http://unused", agents) for n in (0, 1)]
        for replica in replicas:
            stack.callback(replica.stop)
            replica.start()
        for replica in replicas:
            replica.wait_up()
        result = asyncio.run(measure(replicas[0].base, replicas[1].base))
    report.publish(args, "held", result, table)


if __name__ == "__main__":
    main()
