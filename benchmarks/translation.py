"""Cost of translating one tool-call-sized message, in each of the six directions.

Each direction is timed bytes-in to bytes-out (parse, decode into the canonical model, encode,
serialize), beside a plain ``json.loads`` + ``json.dumps`` of the same bytes measured in the
same run, rounds interleaved so both see the same machine state.

    python -m benchmarks.translation --out benchmarks/results/translation.json \\
        --doc docs/benchmarks.md
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from adapters import translate
from adapters.translate import DIRECTIONS, Kind, Protocol, Wire
from benchmarks import report
from gateway.cli.demo import A2A_TASK, TOOL_CALL

ROUNDS = 20
PER_ROUND = 1000
TARGET_US = 25.0


def _samples() -> dict[tuple[Kind, Protocol], bytes]:
    """The same tool call (and its result) in each protocol's own wire form."""
    out: dict[tuple[Kind, Protocol], bytes] = {}
    for proto in translate.PROTOCOLS:
        req = (
            TOOL_CALL
            if proto == "mcp"
            else translate.translate("request", "mcp", proto, Wire(TOOL_CALL)).body
        )
        res = (
            A2A_TASK
            if proto == "a2a"
            else translate.translate("result", "a2a", proto, Wire(A2A_TASK)).body
        )
        out[("request", proto)] = json.dumps(req).encode()
        out[("result", proto)] = json.dumps(res).encode()
    return out


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    clock = time.perf_counter_ns
    times = []
    for _ in range(n):
        t0 = clock()
        fn()
        times.append((clock() - t0) / 1000)
    return times


def _stats(us: list[float]) -> dict[str, float]:
    us = sorted(us)
    return {
        "median_us": round(statistics.median(us), 2),
        "p99_us": round(us[int(len(us) * 0.99) - 1], 2),
    }


def measure() -> dict[str, Any]:
    samples = _samples()
    rows = []
    for kind in ("request", "result"):
        for source, target in DIRECTIONS:
            raw = samples[(kind, source)]
            hop: list[float] = []
            base: list[float] = []

            def run_hop(
                raw: bytes = raw, s: Protocol = source, t: Protocol = target, k: Kind = kind
            ) -> bytes:
                return translate.translate_bytes(k, s, t, raw)

            def run_json(raw: bytes = raw) -> bytes:
                return json.dumps(json.loads(raw)).encode()

            run_hop()
            for _ in range(ROUNDS):
                hop += _time(run_hop, PER_ROUND)
                base += _time(run_json, PER_ROUND)
            h, b = _stats(hop), _stats(base)
            rows.append(
                {
                    "kind": kind,
                    "direction": f"{source}->{target}",
                    "bytes_in": len(raw),
                    **{f"translate_{k}": v for k, v in h.items()},
                    **{f"json_{k}": v for k, v in b.items()},
                    "ratio_median": round(h["median_us"] / b["median_us"], 2),
                    "meets_target": h["median_us"] <= TARGET_US,
                }
            )
    return {
        "benchmark": "translation",
        "target_median_us": TARGET_US,
        "samples_per_direction": ROUNDS * PER_ROUND,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| message | direction | bytes | translate median / p99 (us) | json round trip median /"
        " p99 (us) | ratio | <= 25 us |",
        "| --- | --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['kind']} | {r['direction']} | {r['bytes_in']} | "
            f"{r['translate_median_us']} / {r['translate_p99_us']} | "
            f"{r['json_median_us']} / {r['json_p99_us']} | {r['ratio_median']}x | "
            f"{'yes' if r['meets_target'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = report.arguments()
    args = parser.parse_args()
    result = measure()
    report.publish(args, "translation", result, table)


if __name__ == "__main__":
    main()
