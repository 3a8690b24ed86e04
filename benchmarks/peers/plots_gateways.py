"""Plots of ``benchmarks.peers.gateways`` results, drawn from its JSON alone.

    python -m benchmarks.peers.plots_gateways benchmarks/results/peers_gateways.json [DOCS]

writes ``peers-gateways-latency.png`` (what each gateway adds to a call, as a distribution)
and ``peers-gateways-throughput.png`` (calls per second against concurrent clients).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

COLORS = {
    "direct": "#777777",
    "effmesh": "#1f77b4",
    "effmesh-2026": "#6baed6",
    "contextforge": "#d62728",
    "mcp-proxy": "#2ca02c",
}


def _label(result: dict[str, Any], key: str) -> str:
    target = result["targets"].get(key)
    if target is not None:
        return f"{target['label']}\n(to upstream: {target['to_upstream']})"
    return {"effmesh-2026": "effmesh, 2026-07-28 era"}.get(key, key)


def latency_plot(result: dict[str, Any], path: Path) -> Path:
    """Box plots of each gateway's per-call latency less the direct call's median (same
    protocol era): the box spans p25-p75, the whiskers p1-p99."""
    lat = result["latency"]
    boxes, names, colors = [], [], []
    for key, entry in lat.items():
        if key.startswith("direct") or "percentiles_ms" not in entry:
            continue
        base = lat.get("direct-2026" if key.endswith("-2026") else "direct", {})
        if "p50_ms" not in base:
            continue
        pct = [v - base["p50_ms"] for v in entry["percentiles_ms"]]
        boxes.append(
            {
                "med": pct[50],
                "q1": pct[25],
                "q3": pct[75],
                "whislo": pct[1],
                "whishi": pct[99],
                "fliers": [],
            }
        )
        names.append(_label(result, key))
        colors.append(COLORS.get(key, "#9467bd"))
    boxes, names, colors = boxes[::-1], names[::-1], colors[::-1]  # first path on top
    fig, ax = plt.subplots(figsize=(8, 1.1 * len(boxes) + 1.6))
    if boxes:
        drawn = ax.bxp(boxes, orientation="horizontal", patch_artist=True, widths=0.55)
        for patch, color in zip(drawn["boxes"], colors, strict=True):
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        ax.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    ax.set_xscale("symlog", linthresh=1.0)
    low, high = ax.get_xlim()
    ax.set_xticks([t for t in (-5, -2, -1, 0, 1, 2, 5, 10, 20, 50, 100, 200) if low <= t <= high])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.set_xlabel("added latency per call, ms (latency less the direct call's median)")
    calls = result["plan"]["calls"]
    ax.set_title(
        f"MCP tools/call through each gateway, {calls} calls each\n"
        "(box: p25-p75, line: median, whiskers: p1-p99)",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def throughput_plot(result: dict[str, Any], path: Path) -> Path:
    """Calls per second against concurrent clients, one line per path."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, entry in result["throughput"].items():
        levels = sorted(int(n) for n in entry if n.isdigit())
        if not levels:
            continue
        rates = [entry[str(n)]["calls_per_s"] for n in levels]
        label = result["targets"].get(key, {}).get("label", key)
        ax.plot(levels, rates, marker="o", label=label, color=COLORS.get(key, "#9467bd"))
    ax.set_xscale("log", base=2)
    levels = result["plan"]["levels"]
    ax.set_xticks(levels, [str(n) for n in levels])
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else "")
    )
    ax.set_xlabel("concurrent clients (each its own MCP session)")
    ax.set_ylabel("calls per second")
    ax.set_title(
        f"Throughput on {result['machine']['cpus']} CPUs, servers and load generators sharing them",
        fontsize=10,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot(result: dict[str, Any], folder: Path) -> list[Path]:
    """Both plots into ``folder`` (created if missing); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        latency_plot(result, folder / "peers-gateways-latency.png"),
        throughput_plot(result, folder / "peers-gateways-throughput.png"),
    ]


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    for written in plot(data, Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs")):
        print(written)
