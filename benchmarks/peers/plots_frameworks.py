"""The framework benchmark's figures, drawn from its result JSON with matplotlib.

    python -m benchmarks.peers.plots_frameworks benchmarks/results/peers_frameworks.json docs

- ``peers-frameworks-overhead.png``: each contender's overhead per task (wall time minus
  model time), as a box over its tasks, on a log scale;
- ``peers-frameworks-tokens.png``: prompt tokens and model calls per task;
- ``peers-frameworks-startup.png``: import and build time of a fresh process, and its memory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # after use(): the backend is chosen first

PEER_COLOR = "#8c8c8c"
EFFMESH_COLOR = "#2b7bba"


def _values(result: dict[str, Any], name: str, key: str) -> list[float]:
    return [r[key] for r in result["rows"] if r["framework"] == name and key in r]


def _color(name: str) -> str:
    return EFFMESH_COLOR if name.startswith("effmesh") else PEER_COLOR


def _boxes(ax: Any, names: Sequence[str], data: Sequence[list[float]], label: str) -> None:
    shown = [d if d else [float("nan")] for d in data]
    parts = ax.boxplot(shown, orientation="horizontal", patch_artist=True, widths=0.6)
    for patch, name in zip(parts["boxes"], names, strict=True):
        patch.set_facecolor(_color(name))
        patch.set_alpha(0.6)
    ax.set_yticks(
        range(1, len(names) + 1),
        [n if d else f"{n} (no data)" for n, d in zip(names, data, strict=True)],
    )
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)


def overhead(result: dict[str, Any], path: Path) -> Path:
    names = list(result["frameworks"])
    data = [[v * 1000 for v in _values(result, n, "overhead_s") if v > 0] for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.6))
    _boxes(ax, names, data, "overhead per task, ms (wall time minus model time; log scale)")
    ax.set_xscale("log")
    ax.set_title(f"Framework overhead over {result['tasks']} tasks, same model server")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def tokens(result: dict[str, Any], path: Path) -> Path:
    names = list(result["frameworks"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.5 * len(names) + 1.6), sharey=True)
    _boxes(
        left, names, [_values(result, n, "prompt_tokens") for n in names], "prompt tokens per task"
    )
    _boxes(right, names, [_values(result, n, "model_calls") for n in names], "model calls per task")
    right.invert_yaxis()  # shared y: undo the second inversion
    left.set_title("What each framework sends the model")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def startup(result: dict[str, Any], path: Path) -> Path:
    names = list(result["frameworks"])
    stats = [result["frameworks"][n] for n in names]

    def p50(f: dict[str, Any], key: str) -> float:
        return f[key]["p50"] if f.get(key) else 0.0

    imports = [p50(f, "import_s") for f in stats]
    builds = [p50(f, "build_s") for f in stats]
    ready = [p50(f, "rss_ready_mb") for f in stats]
    peak = [f.get("peak_rss_mb") or 0.0 for f in stats]
    ys = range(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.5 * len(names) + 2.2), sharey=True)
    colors = [_color(n) for n in names]
    left.barh(ys, imports, color=colors, alpha=0.8, label="import")
    left.barh(ys, builds, left=imports, color=colors, alpha=0.35, label="build the agent")
    left.set_xlabel("seconds, median of fresh processes")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    right.barh(ys, peak, color=colors, alpha=0.35, label="peak over the run")
    right.barh(ys, ready, color=colors, alpha=0.8, label="ready, before any task")
    right.set_xlabel("resident memory, MB")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    left.set_yticks(list(ys), names)
    left.invert_yaxis()
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    left.set_title("Start-up of one process")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def draw(result: dict[str, Any], docs: Path) -> list[Path]:
    """Write the three PNGs into ``docs`` (created if missing); returns their paths."""
    docs.mkdir(parents=True, exist_ok=True)
    return [
        overhead(result, docs / "peers-frameworks-overhead.png"),
        tokens(result, docs / "peers-frameworks-tokens.png"),
        startup(result, docs / "peers-frameworks-startup.png"),
    ]


if __name__ == "__main__":
    for written in draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])):
        print(f"wrote {written}")
