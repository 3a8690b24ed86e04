"""Labelled tasks from a file, for tuning or for evaluation, with the held-out guard.

A labelled file is a JSON list of ``{"task": str, "strategy": str, ...}`` or an object holding
that list as ``tasks`` (the shape of tests/data/routing_*.json). A file, or a task in it, may
carry ``"split": "heldout"``: such tasks exist to measure the router on tasks it was not
tuned on, so :func:`read_training` (what calibration and model training read) refuses the
whole file, and only :func:`read_evaluation` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from adapters.errors import InvalidParams
from gateway.routing.complexity.analysis import Strategy

HELDOUT: Final = "heldout"
STRATEGIES: Final = tuple(s.value for s in Strategy)


@dataclass(frozen=True, slots=True)
class Labelled:
    task: str
    strategy: Strategy
    lang: str = ""
    split: str = ""


def _raw(path: str) -> tuple[Any, list[Any]]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidParams(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise InvalidParams(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"{path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    entries = raw.get("tasks") if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise InvalidParams(f"{path} must hold a non-empty JSON list of labelled tasks")
    return raw, entries


def _parse(path: str, raw: Any, entries: list[Any]) -> list[Labelled]:
    whole = raw.get("split", "") if isinstance(raw, dict) else ""
    out: list[Labelled] = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict) or not {"task", "strategy"} <= set(entry):
            raise InvalidParams("must be an object with task and strategy", path=where)
        task, strategy = entry["task"], entry["strategy"]
        if not isinstance(task, str) or not task.strip():
            raise InvalidParams("must be a non-empty string", path=f"{where}.task")
        if strategy not in STRATEGIES:
            raise InvalidParams(f"must be one of {', '.join(STRATEGIES)}", path=f"{where}.strategy")
        lang = entry.get("lang", "")
        split = entry.get("split", whole)
        out.append(
            Labelled(
                task,
                Strategy(strategy),
                lang if isinstance(lang, str) else "",
                split if isinstance(split, str) else "",
            )
        )
    return out


def read_training(path: str) -> list[Labelled]:
    """Labelled tasks that tuning may read.

    Raises:
        InvalidParams: the file cannot be read, is malformed, or is (or holds) held-out tasks.
    """
    raw, entries = _raw(path)
    tasks = _parse(path, raw, entries)
    if any(t.split == HELDOUT for t in tasks):
        raise InvalidParams(
            f"{path} holds held-out tasks: they measure the router and no tuning step may read them"
        )
    return tasks


def read_evaluation(path: str) -> list[Labelled]:
    """Labelled tasks of any split, to measure the router on (never to tune it).

    Raises:
        InvalidParams: the file cannot be read or is malformed.
    """
    raw, entries = _raw(path)
    return _parse(path, raw, entries)


def shared(held: Sequence[Labelled], training: Sequence[Labelled]) -> list[str]:
    """The held-out tasks that are also training tasks (letter case and spacing aside): a
    figure on them would measure the router on what it learned from, not on unseen tasks."""
    seen = {" ".join(t.task.lower().split()) for t in training}
    return [t.task for t in held if " ".join(t.task.lower().split()) in seen]
