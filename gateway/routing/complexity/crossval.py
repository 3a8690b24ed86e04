"""Cross-validation on training tasks, for the choices made in building the learned model.

Folds keep near-copies together: tasks whose embeddings are at least ``GROUP_SIMILARITY``
alike (mostly one task written in two languages) fall in the same fold, so a task is never
scored against its own translation. The one choice made here at build time is the softmax
temperature: the classifier's out-of-fold confidence need not match how often it is right
(with weak L2 it was overconfident, 0.92 against 0.85 right; with the shipped L2 the fitted
temperature is near 1, and may fall below it), so its logits are divided by the temperature
that gives the out-of-fold tasks the lowest log loss, and the confidence a decision reports
means what it says. The same out-of-fold choices give the accuracy recorded in the model,
overall, per strategy and per language (:func:`breakdown`).

Grouped folds still mix tasks written in one batch, which share a style: they over-stated
the router on a fresh held-out split by five to seven points. :func:`left_out` is the
honester signal: a model trained on every other file scores a whole file left out
(``ONE_BATCH``: files each written in one batch, eight of them once held-out splits). When it
was first used, it gave on ``routing_train_seen3.json`` the very figure the held-out measure
had given on that split (82.8%).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.routing.complexity.features import STRATEGIES
from gateway.routing.complexity.fitting import softmax
from gateway.routing.complexity.learned import LearnedModel, Sample, train
from gateway.routing.complexity.second import THRESHOLD

GROUP_SIMILARITY: Final = 0.92
"""How alike two tasks' embeddings must be to share a fold. At 0.9, near-copies chained
through loosely alike tasks into one group of 786 of the 1,521 training tasks, so one fold
held half of them; from 0.92 the five folds hold 281 to 313 each."""
FOLDS: Final = 5
ONE_BATCH: Final = (
    "routing_train_seen2.json",
    "routing_train_seen3.json",
    "routing_train_fresh.json",
    "routing_train_seen4.json",
    "routing_train_work.json",
    "routing_train_daily.json",
    "routing_train_study.json",
    "routing_train_seen5.json",
    "routing_train_seen6.json",
    "routing_train_seen7.json",
    "routing_train_seen8.json",
    "routing_train_seen9.json",
)
"""Training files each written in one batch (the seen ones as held-out splits), scored by
:func:`left_out`."""
TEMPERATURES: Final = tuple(round(0.5 + 0.1 * k, 1) for k in range(26))
"""Temperatures tried, 0.5 to 3.0 (below 1 when the classifier is underconfident)."""


def folds(vectors: npt.NDArray[np.float32], k: int = FOLDS, seed: int = 0) -> npt.NDArray[np.int64]:
    """The fold of each task: groups of near-copies dealt round the folds in a fixed shuffle."""
    n = len(vectors)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = np.triu(vectors @ vectors.T, 1) >= GROUP_SIMILARITY
    for i, j in zip(*np.nonzero(close), strict=True):
        parent[root(int(i))] = root(int(j))
    groups = sorted({root(i) for i in range(n)})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of = {groups[g]: rank % k for rank, g in enumerate(order)}
    return np.asarray([fold_of[root(i)] for i in range(n)], dtype=np.int64)


def decided(model: LearnedModel, s: Sample) -> tuple[npt.NDArray[np.float32], bool]:
    """A sample's probabilities as a decision gets them, before the temperature, and
    whether the second look changed them: it looks when the first look is below
    ``THRESHOLD``, the model has second-look weights and the task's parts were embedded."""
    p = model.blend(s.dense, s.vector, s.text)
    parts = s.clauses is not None and s.clauses[0] > 0
    if model.second is None or not parts or float(p.max()) >= THRESHOLD:
        return p, False
    return model.blend(s.dense, s.vector, s.text, clauses=s.clauses), True


def out_of_fold(
    samples: Sequence[Sample], k: int = FOLDS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Each task's probabilities from a model fitted without its fold (temperature 1), and
    whether the second look was taken for it."""
    fold = folds(np.stack([s.vector for s in samples]).astype(np.float32), k)
    out = np.zeros((len(samples), len(STRATEGIES)))
    looked = np.zeros(len(samples), dtype=bool)
    for f in range(k):
        model = train([s for s, g in zip(samples, fold, strict=True) if g != f])
        for i in np.nonzero(fold == f)[0]:
            out[i], looked[i] = decided(model, samples[int(i)])
    return out, looked


def fit_temperature(
    samples: Sequence[Sample], p: npt.NDArray[np.float64] | None = None
) -> tuple[float, float]:
    """(temperature, out-of-fold accuracy of the classifier) on ``samples``; ``p``: their
    out-of-fold probabilities when already computed."""
    p = out_of_fold(samples)[0] if p is None else p
    truth = np.asarray([STRATEGIES.index(s.strategy) for s in samples])
    logits = np.log(np.clip(p, 1e-12, 1.0))

    def loss(t: float) -> float:
        q = softmax(logits / t)
        return float(-np.log(q[np.arange(len(truth)), truth] + 1e-12).mean())

    best = min(TEMPERATURES, key=loss)
    return best, float((p.argmax(axis=1) == truth).mean())


def breakdown(
    samples: Sequence[Sample], p: npt.NDArray[np.float64], langs: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Out-of-fold accuracy of the router overall, per strategy and per language (``"router"``:
    the learned model decides every task it sees)."""
    right: dict[str, list[int]] = {}
    for s, row, lang in zip(samples, p, langs, strict=True):
        chosen = STRATEGIES[int(row.argmax())]
        for key in ("all", s.strategy.value, lang or "?"):
            tally = right.setdefault(key, [0, 0])
            tally[0] += chosen is s.strategy
            tally[1] += 1
    return {"router": {k: round(r / n, 3) for k, (r, n) in right.items()}}


def left_out(
    samples: Sequence[Sample], files: Sequence[str], held: Sequence[str] = ONE_BATCH
) -> dict[str, npt.NDArray[np.float64]]:
    """For each file of ``held`` that ``files`` (each sample's file name) names: the
    probabilities of its tasks (in their order in ``samples``) from a model trained on every
    other file (temperature 1)."""
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name in held:
        if name not in files:
            continue
        model = train([s for s, f in zip(samples, files, strict=True) if f != name])
        out[name] = np.asarray(
            [decided(model, s)[0] for s, f in zip(samples, files, strict=True) if f == name],
            dtype=np.float64,
        )
    return out


def left_out_breakdown(
    samples: Sequence[Sample],
    files: Sequence[str],
    langs: Sequence[str],
    held: Sequence[str] = ONE_BATCH,
) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`breakdown` of each file left out, and of the files left out together
    (``"mean"``: each file's figure averaged, ``"pooled"``: all their tasks at once)."""
    p = left_out(samples, files, held)
    out: dict[str, dict[str, dict[str, float]]] = {}
    pooled_s: list[Sample] = []
    pooled_l: list[str] = []
    for name, probabilities in p.items():
        picked = [k for k, f in enumerate(files) if f == name]
        chosen = [samples[k] for k in picked]
        out[name] = breakdown(chosen, probabilities, [langs[k] for k in picked])
        pooled_s += chosen
        pooled_l += [langs[k] for k in picked]
    if p:
        out["pooled"] = breakdown(pooled_s, np.vstack(list(p.values())), pooled_l)
        mean = float(np.mean([out[n]["router"]["all"] for n in p]))
        out["mean"] = {"router": {"all": round(mean, 3)}}
    return out
