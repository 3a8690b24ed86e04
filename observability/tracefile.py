"""Reading the JSON-lines trace file back: a task's spans as a tree (``effmesh trace``).

Pure functions over the records ``observability.jsonlines`` writes; no OpenTelemetry import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

TRACE_ID: Final = re.compile(r"^[0-9a-f]{32}$")

# The attributes worth a glance on a span's line, in this order, with short labels.
SHOWN: Final = (
    ("gen_ai.agent.name", "agent"),
    ("effmesh.skill", "skill"),
    ("effmesh.routing.strategy", "strategy"),
    ("effmesh.routing.score", "score"),
    ("effmesh.plan.planner", "planner"),
    ("effmesh.plan.subtasks", "subtasks"),
    ("effmesh.plan.fallback", "fallback"),
    ("effmesh.subtask.skill", "skill"),
    ("effmesh.subtask.state", "state"),
    ("gen_ai.request.model", "model"),
    ("gen_ai.usage.input_tokens", "in"),
    ("gen_ai.usage.output_tokens", "out"),
    ("gen_ai.usage.cache_read.input_tokens", "cached"),
    ("db.response.returned_rows", "rows"),
    ("effmesh.outcome", "outcome"),
    ("error.type", "error"),
)


@dataclass
class Node:
    record: dict[str, Any]
    children: list[Node] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        start, end = self.record.get("start"), self.record.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            return 0.0
        return (end - start) / 1e9


def read(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """Every span record in ``paths`` (each with its rolled-over ``.1`` file first); lines
    that are not span records (a torn last line, say) are skipped."""
    for path in paths:
        for candidate in (path.with_name(path.name + ".1"), path):
            try:
                lines = candidate.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                continue
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("span_id"), str):
                    yield record


def trace_ids(records: Iterable[dict[str, Any]], wanted: str) -> list[str]:
    """The traces ``wanted`` names: a trace id itself, or the traces holding a span whose
    ``effmesh.task_id`` is ``wanted``, oldest first."""
    records = list(records)
    if TRACE_ID.match(wanted) and any(r.get("trace_id") == wanted for r in records):
        return [wanted]
    found: dict[str, int] = {}
    for r in records:
        attrs = r.get("attributes") or {}
        if attrs.get("effmesh.task_id") == wanted and isinstance(r.get("trace_id"), str):
            raw = r.get("start")
            start = raw if isinstance(raw, int) else 0
            found[r["trace_id"]] = min(found.get(r["trace_id"], start), start)
    return sorted(found, key=found.__getitem__)


def tree(records: Iterable[dict[str, Any]], trace_id: str) -> list[Node]:
    """The spans of ``trace_id`` as trees, roots and children by start time. A span whose
    parent is not in the records (the caller's own span, another gateway's file) is a root."""
    nodes = {
        r["span_id"]: Node(r)
        for r in records
        if r.get("trace_id") == trace_id and isinstance(r.get("span_id"), str)
    }
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(node.record.get("parent_id") or "")
        (parent.children if parent is not None else roots).append(node)

    def order(items: list[Node]) -> None:
        items.sort(key=lambda n: n.record.get("start") or 0)
        for n in items:
            order(n.children)

    order(roots)
    return roots


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _label(node: Node, service: str | None) -> str:
    r = node.record
    attrs = r.get("attributes") or {}
    bits = [str(r.get("name", "?")), _duration(node.seconds)]
    if r.get("kind") in ("SERVER", "CLIENT"):
        bits.append(str(r["kind"]).lower())
    if r.get("service") and r.get("service") != service:
        bits.append(f"@{r['service']}")
    for key, short in SHOWN:
        value = attrs.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, float):
            value = f"{value:.2f}"
        bits.append(f"{short}={value}")
    if r.get("status") == "ERROR":
        bits.append("ERROR")
    return "  ".join(bits)


def render(roots: Sequence[Node], trace_id: str) -> str:
    """The tree as text, one span per line."""
    count = 0

    def walk(node: Node, prefix: str, last: bool, top: bool, service: str | None) -> list[str]:
        nonlocal count
        count += 1
        branch = "" if top else ("└─ " if last else "├─ ")
        lines = [prefix + branch + _label(node, service)]
        deeper = prefix + ("" if top else ("   " if last else "│  "))
        for i, child in enumerate(node.children):
            lines += walk(
                child, deeper, i == len(node.children) - 1, False, node.record.get("service")
            )
        return lines

    body: list[str] = []
    for root in roots:
        body += walk(root, "", True, True, None)
    every = [n.record for root in roots for n in _all(root)]
    starts = [r["start"] for r in every if isinstance(r.get("start"), int)]
    ends = [r["end"] for r in every if isinstance(r.get("end"), int)]
    span = (max(ends) - min(starts)) / 1e9 if starts and ends else 0.0
    head = f"trace {trace_id}: {count} spans, {_duration(span)}"
    return "\n".join([head, *body])


def _all(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _all(child)
