"""A span exporter that appends one JSON object per finished span to a local file.

Each line: ``trace_id`` and ``span_id`` (hex), ``parent_id`` (hex or null), ``name``,
``kind``, ``start`` and ``end`` (Unix nanoseconds), ``status`` ("UNSET", "OK", "ERROR"),
``attributes``, ``events`` (name, time, attributes) and ``service``. ``effmesh trace`` reads
it back. Past ``max_bytes`` the file moves to ``<file>.1`` (one old file is kept).

SDK code: only ``observability.sdk`` imports this module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def span_record(s: ReadableSpan) -> dict[str, Any]:
    ctx = s.get_span_context()
    parent = s.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": s.name,
        "kind": s.kind.name,
        "start": s.start_time,
        "end": s.end_time,
        "status": s.status.status_code.name,
        "attributes": dict(s.attributes or {}),
        "events": [
            {"name": e.name, "time": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in s.events
        ],
        "service": (s.resource.attributes.get("service.name") if s.resource else None),
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends spans to ``path``; safe to call from the batch processor's thread."""

    def __init__(self, path: str | Path, *, max_bytes: int = 64 * 2**20) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # orjson: the batch is written on the exporter's thread while holding the GIL, so
        # a faster encoder is a shorter stall of the gateway's event loop.
        lines = b"".join(orjson.dumps(span_record(s), default=str) + b"\n" for s in spans)
        try:
            with self._lock:
                self._roll()
                with self.path.open("ab") as f:
                    f.write(lines)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _roll(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size >= self.max_bytes:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
