"""``effmesh calibrate``: the complexity analyzer's weights fitted to a labelled set of tasks,
printed as a ``[routing.weights]`` table for effmesh.toml (or written to a file).

Exit codes: 0 the table was printed or written; 2 the labelled file was unreadable or
malformed, or the table could not be written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TextIO

from adapters.errors import EffmeshError, InvalidParams
from gateway.cli.exits import EXIT_COMPLETED, EXIT_NOT_STARTED
from gateway.routing.complexity import Strategy
from gateway.routing.complexity import calibrate as fit

STRATEGIES: Final = tuple(s.value for s in Strategy)


def read_labelled(path: str) -> list[tuple[str, str]]:
    """(task, strategy) pairs from a JSON list of ``{"task": str, "strategy": str, ...}``, or
    an object holding that list as ``tasks`` (the shape of tests/data/routing_tasks.json);
    other fields of an entry (a language, a count) are ignored.

    Raises:
        InvalidParams: the file cannot be read, is not JSON, or an entry is malformed.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidParams(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise InvalidParams(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"{path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(raw, dict) and "tasks" in raw:
        raw = raw["tasks"]
    if not isinstance(raw, list) or not raw:
        raise InvalidParams(f"{path} must hold a non-empty JSON list of labelled tasks")
    out: list[tuple[str, str]] = []
    for i, entry in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict) or not {"task", "strategy"} <= set(entry):
            raise InvalidParams("must be an object with task and strategy", path=where)
        task, strategy = entry["task"], entry["strategy"]
        if not isinstance(task, str) or not task.strip():
            raise InvalidParams("must be a non-empty string", path=f"{where}.task")
        if strategy not in STRATEGIES:
            raise InvalidParams(f"must be one of {', '.join(STRATEGIES)}", path=f"{where}.strategy")
        out.append((task, strategy))
    return out


def weights_toml(weights: Mapping[str, float]) -> str:
    """A ``[routing.weights]`` table for effmesh.toml."""
    lines = ["[routing.weights]"]
    # repr of a float always reads back as a TOML float (never as an integer).
    lines += [f"{name} = {round(float(value), 6)!r}" for name, value in weights.items()]
    return "\n".join(lines) + "\n"


def calibrate(path: str, out_path: str | None, out: TextIO, err: TextIO) -> int:
    """Fit the complexity weights to the labelled tasks in ``path``; returns the exit code."""
    try:
        examples = [(task, Strategy(label)) for task, label in read_labelled(path)]
        result = fit(examples, None)
    except EffmeshError as exc:
        err.write(f"effmesh: {exc.public_message}\n")
        return EXIT_NOT_STARTED
    block = weights_toml(result.weights.as_dict())
    out.write(
        f"accuracy on {len(examples)} tasks: {result.start_accuracy:.1%} with the default "
        f"weights, {result.accuracy:.1%} calibrated\n"
    )
    if out_path is None:
        out.write(f"\n# paste into effmesh.toml\n{block}")
        return EXIT_COMPLETED
    try:
        Path(out_path).write_text(block, encoding="utf-8")
    except OSError as exc:
        err.write(f"effmesh: cannot write {out_path}: {exc.strerror or type(exc).__name__}\n")
        return EXIT_NOT_STARTED
    out.write(f"wrote [routing.weights] to {out_path}\n")
    return EXIT_COMPLETED
