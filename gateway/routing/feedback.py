"""Calibration from use: the router's decisions, recorded, and the ones a user marked.

With ``[routing] decision_log`` set, the router appends one JSON line per decision:
``{"id", "task", "strategy", "source", "confidence", "vector", "owner"}`` (``id``: the task's
id; ``vector``: the task's embedding as base64 float16, so refitting needs no embedder;
``owner``: the caller's token name, who may mark it). A decision is marked through the
gateway (``POST /routing/feedback`` or the router's ``feedback`` skill, see
:mod:`gateway.routing.marks`), or by hand: copy its line into a feedback file and add
``"verdict": "right"``, or ``"verdict": "wrong"`` with ``"correct": STRATEGY``.
``effmesh calibrate --feedback FILE`` fits from those lines (see gateway/cli/calibrate.py);
where a decision was marked more than once, its last mark counts. The log holds users' task
text: it is off unless configured, and belongs with the operator, like the task store.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from adapters.errors import InvalidParams
from gateway.routing.complexity import Analysis, Strategy
from gateway.routing.complexity.learned import Floats

VERDICTS: Final = ("right", "wrong")


def pack(vector: Floats) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()


def unpack(text: str) -> Floats:
    """A vector from :func:`pack`; raises ValueError when it is not one."""
    raw = base64.b64decode(text, validate=True)
    if not raw or len(raw) % 2:
        raise ValueError("not a packed vector")
    vector = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("not a packed vector")
    result: Floats = vector / norm
    return result


class DecisionLog:
    """Appends the router's decisions to a JSON-lines file (thread-safe, one write a line),
    and finds one by its task id.

    Lookups read the file, not memory: the router and the feedback endpoint may hold
    different instances on one file. Each instance remembers where each id's line starts and
    how far it has read, so a lookup reads only what was appended since the last one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._starts: dict[str, int] = {}
        self._read = 0

    def record(
        self,
        task_id: str,
        task: str,
        analysis: Analysis,
        vector: Floats | None,
        owner: str | None = None,
    ) -> None:
        line = {
            "id": task_id,
            "task": task,
            "strategy": analysis.strategy.value,
            "source": analysis.source,
            "confidence": analysis.confidence,
            "vector": pack(vector) if vector is not None else None,
            "owner": owner,
        }
        text = json.dumps(line, ensure_ascii=False) + "\n"
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:  # a full disk must not fail the run it records
            reason = exc.strerror or type(exc).__name__
            sys.stderr.write(
                f"effmesh: cannot record a routing decision in {self.path}: {reason}\n"
            )

    def find(self, task_id: str) -> dict[str, Any] | None:
        """The decision recorded for ``task_id`` (its last line), or None.

        Raises:
            OSError: the log exists but cannot be read.
        """
        with self._lock:
            if task_id not in self._starts:
                self._catch_up()
            start = self._starts.get(task_id)
            if start is None:
                return None
            with self.path.open("rb") as log:
                log.seek(start)
                line = log.readline()
        entry = json.loads(line)
        return entry if isinstance(entry, dict) else None

    def _catch_up(self) -> None:
        """Indexes the lines appended since the last read (a torn last line waits)."""
        try:
            log = self.path.open("rb")
        except FileNotFoundError:
            return
        with log:
            log.seek(self._read)
            for line in iter(log.readline, b""):
                if not line.endswith(b"\n"):
                    break
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                        self._starts[entry["id"]] = self._read
                self._read += len(line)


@dataclass(frozen=True, slots=True)
class Marked:
    """One decision a user marked: the task, the strategy it should get, and what was chosen."""

    task: str
    strategy: Strategy
    chosen: Strategy
    vector: Floats | None


@dataclass(frozen=True, slots=True)
class Feedback:
    marked: list[Marked]
    unusable: int
    """Lines marked wrong without the right strategy: they say what not to do, not what to."""


def read_feedback(path: str) -> Feedback:
    """The marked decisions in a feedback file; unmarked lines are skipped, and a decision
    marked more than once (the same ``id``) counts by its last mark.

    Raises:
        InvalidParams: the file cannot be read, or a marked line is malformed (named by line).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidParams(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise InvalidParams(f"{path} is not UTF-8 text") from None
    marked: dict[object, Marked | None] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise InvalidParams("is not a JSON object", path=where) from None
        if not isinstance(entry, dict):
            raise InvalidParams("is not a JSON object", path=where)
        verdict = entry.get("verdict")
        if verdict is None:
            continue
        if verdict not in VERDICTS:
            raise InvalidParams('verdict must be "right" or "wrong"', path=where)
        task, chosen = entry.get("task"), entry.get("strategy")
        if not isinstance(task, str) or not task.strip():
            raise InvalidParams("task must be a non-empty string", path=where)
        if chosen not in {s.value for s in Strategy}:
            raise InvalidParams("strategy must be the strategy the router chose", path=where)
        # a decision marked again: its last mark counts (lines without an id stand alone)
        ident = entry.get("id")
        key: object = ident if isinstance(ident, str) and ident else number
        marked.pop(key, None)
        correct = chosen if verdict == "right" else entry.get("correct")
        if correct is None:
            marked[key] = None
            continue
        if correct not in {s.value for s in Strategy}:
            raise InvalidParams("correct must be a strategy", path=where)
        vector = None
        packed = entry.get("vector")
        if packed is not None:
            try:
                vector = unpack(packed) if isinstance(packed, str) else None
            except ValueError:
                vector = None
            if vector is None:
                raise InvalidParams("vector is not one the decision log wrote", path=where)
        marked[key] = Marked(task, Strategy(correct), Strategy(chosen), vector)
    usable = [m for m in marked.values() if m is not None]
    return Feedback(usable, len(marked) - len(usable))
