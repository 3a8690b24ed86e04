"""``effmesh calibrate``: the router fitted to labelled tasks and to decisions users marked.

- ``effmesh calibrate tasks.json``: the complexity weights fitted to a labelled set, printed
  as a ``[routing.weights]`` table for effmesh.toml (or written with ``--out``). The file is
  read by the training loader, which refuses held-out tasks.
- ``--feedback marked.jsonl``: lines of the router's decision log that a user marked
  ``"verdict": "right"`` or ``"wrong"`` (with ``"correct"``), see gateway/routing/feedback.py.
  They join the labelled tasks for the weights, and the learned model (``--model``, default
  the bundled one) is refitted with them; ``--model-out`` writes it for ``[routing]
  learned_model``.

Exit codes: 0 the results were printed or written; 2 a file was unreadable or malformed, there
was nothing to fit, or a result could not be written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final, TextIO

from adapters.errors import EffmeshError, InvalidParams
from gateway.cli.exits import EXIT_COMPLETED, EXIT_NOT_STARTED
from gateway.routing.complexity import MODEL_PATH, ComplexityAnalyzer, LearnedModel, Strategy
from gateway.routing.complexity import calibrate as fit
from gateway.routing.complexity.labelled import read_training
from gateway.routing.complexity.learned import refit
from gateway.routing.feedback import read_feedback

STRATEGIES: Final = tuple(s.value for s in Strategy)


def read_labelled(path: str) -> list[tuple[str, str]]:
    """(task, strategy) pairs from a labelled file that tuning may read (see
    :mod:`gateway.routing.complexity.labelled`).

    Raises:
        InvalidParams: the file cannot be read, is not JSON, an entry is malformed, or it
            holds held-out tasks.
    """
    return [(t.task, t.strategy.value) for t in read_training(path)]


def weights_toml(weights: Mapping[str, float]) -> str:
    """A ``[routing.weights]`` table for effmesh.toml."""
    lines = ["[routing.weights]"]
    # repr of a float always reads back as a TOML float (never as an integer).
    lines += [f"{name} = {round(float(value), 6)!r}" for name, value in weights.items()]
    return "\n".join(lines) + "\n"


def _write(path: str, write: str | LearnedModel, err: TextIO) -> bool:
    try:
        if isinstance(write, str):
            Path(path).write_text(write, encoding="utf-8")
        else:
            write.save(Path(path))
    except OSError as exc:
        err.write(f"effmesh: cannot write {path}: {exc.strerror or type(exc).__name__}\n")
        return False
    return True


def _refit(
    feedback: str, model_path: str | None, model_out: str | None, out: TextIO
) -> LearnedModel | None:
    """Refit the learned model with the marked decisions; returns the model to write (or
    None when there is nothing to write), after printing what the marks did."""
    marks = read_feedback(feedback)
    usable = [(m.task, m.strategy, m.vector) for m in marks.marked if m.vector is not None]
    out.write(
        f"feedback: {len(marks.marked)} marked decisions "
        f"({sum(m.strategy is m.chosen for m in marks.marked)} right, "
        f"{sum(m.strategy is not m.chosen for m in marks.marked)} wrong with the right strategy)"
        + (f"; {marks.unusable} marked wrong without one, not used" if marks.unusable else "")
        + "\n"
    )
    if not usable:
        out.write("no marked decision carries an embedding: the learned model is unchanged\n")
        return None
    base = LearnedModel.load(Path(model_path) if model_path else MODEL_PATH)
    fitted = refit(base, [(t, s, v) for t, s, v in usable if v is not None])

    def right(model: LearnedModel) -> int:
        analyzer = ComplexityAnalyzer(model=model)
        return sum(analyzer.analyze(t, v).strategy is s for t, s, v in usable)

    out.write(
        f"learned model on the {len(usable)} marked decisions with an embedding: "
        f"{right(base)} right before, {right(fitted)} after refitting\n"
    )
    return fitted if model_out is not None else None


def calibrate(
    path: str | None,
    out_path: str | None,
    out: TextIO,
    err: TextIO,
    *,
    feedback: str | None = None,
    model: str | None = None,
    model_out: str | None = None,
) -> int:
    """Fit the weights (and, with ``feedback``, the learned model); returns the exit code."""
    try:
        if path is None and feedback is None:
            raise InvalidParams("give a labelled file, --feedback, or both")
        examples = [(task, Strategy(label)) for task, label in read_labelled(path)] if path else []
        refitted = None
        if feedback is not None:
            examples += [(m.task, m.strategy) for m in read_feedback(feedback).marked]
            refitted = _refit(feedback, model, model_out, out)
        if not examples:
            raise InvalidParams("nothing to fit: no labelled task and no usable marked decision")
        result = fit(examples, None)
    except EffmeshError as exc:
        err.write(f"effmesh: {exc.public_message}\n")
        return EXIT_NOT_STARTED
    if refitted is not None and model_out is not None:
        if not _write(model_out, refitted, err):
            return EXIT_NOT_STARTED
        out.write(f"wrote the learned model to {model_out} (set [routing] learned_model)\n")
    block = weights_toml(result.weights.as_dict())
    out.write(
        f"accuracy on {len(examples)} tasks: {result.start_accuracy:.1%} with the default "
        f"weights, {result.accuracy:.1%} calibrated\n"
    )
    if out_path is None:
        out.write(f"\n# paste into effmesh.toml\n{block}")
        return EXIT_COMPLETED
    if not _write(out_path, block, err):
        return EXIT_NOT_STARTED
    out.write(f"wrote [routing.weights] to {out_path}\n")
    return EXIT_COMPLETED
