"""How the learned model's weights are fitted: the softmax regression and the head of one
hidden layer (:mod:`~gateway.routing.complexity.learned` holds the model they make), both by
Adam from a fixed start over the same inputs: the factor, structure, marker and reference
blocks at ``DENSE_SCALE``, the standardised embedding, a bias column and the character
n-gram slots, held as a sparse matrix (:class:`Bag`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy import sparse

from gateway.routing.complexity.features import GRAM_SCALE, GRAMS, STRATEGIES, grams

Floats = npt.NDArray[np.float32]

DENSE_SCALE: Final = 3.0
"""The factor, structure, marker, reference (and clause) blocks' weight beside the
standardised embedding and the n-grams: L2 holds their few weights down as much as the
embedding's 384. 3 put the router 0.6 points above 2 both left one file out (86.9% against
86.3%, the mean of three files) and in grouped cross-validation (88.9% against 88.3%);
2 had been 1.7 points above 1."""
L2: Final = 1e-2
"""L2 weight: grouped cross-validation on the training files put 1e-2 above 1e-3 and 3e-2."""
STEPS: Final = 400
RATE: Final = 0.05
HIDDEN: Final = 256
"""Units of the head's hidden layer (a rectifier each). With 21,307 training tasks, the eleven
one-batch files each left out (every other file training): 32 units 88.75%, 64 88.93%, 128
89.39% (89.40% with another seed), 256 89.82% (parallel 84.5, 85.0, 85.5, 86.7% over
the files, mean). At 4,307 tasks 32 had been as good as more."""
HEAD_EPOCHS: Final = 20
"""Passes of the head's training over the tasks, in batches of ``HEAD_BATCH``."""
HEAD_BATCH: Final = 128
HEAD_RATE: Final = 2e-3
"""The head's Adam rate at its first step, falling linearly to a tenth by its last."""
HEAD_DECAY: Final = 1e-2
"""The head's weight decay (decoupled from the gradient, on its two weight matrices)."""
HEAD_SEED: Final = 0
"""The head starts from random weights drawn with this seed and sees the tasks in an order
drawn with it: the same samples give the same model."""


def softmax(logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Probabilities along the last axis of ``logits``, which is shifted in place by its
    maximum first (so ``exp`` cannot overflow)."""
    logits -= logits.max(axis=-1, keepdims=True)
    p: npt.NDArray[np.floating[Any]] = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def adam(
    param: Floats,
    grad: Floats,
    m1: Floats,
    m2: Floats,
    step: int,
    *,
    first: float = RATE,
    steps: int = STEPS,
) -> float:
    """One Adam step on ``param``, in place (``m1``, ``m2``: its moment estimates), its rate
    falling linearly from ``first`` to a tenth of it by step ``steps``: at a fixed rate the
    last steps could leave the weights where the loss had jumped (one cross-validation fold's
    model fitted its own training tasks 70% right, the others 100%). Returns the step's rate."""
    m1 *= 0.9
    m1 += 0.1 * grad
    m2 *= 0.999
    m2 += 0.001 * grad * grad
    rate = first * (1 - 0.9 * (step - 1) / steps)
    param -= rate * (m1 / (1 - 0.9**step)) / (np.sqrt(m2 / (1 - 0.999**step)) + 1e-8)
    return rate


class Bag:
    """The tasks' n-gram slots as a sparse ``(tasks, GRAMS)`` matrix (each row at
    ``GRAM_SCALE`` over the root of its slot count), with its transpose: a task sets a few
    hundred of the slots, so products with it cost a few hundred multiplications a task where
    the dense block cost ``GRAMS`` (a fit on 21,307 tasks took 65 s held dense, 720 MB)."""

    def __init__(self, texts: Sequence[str]) -> None:
        slots = [grams(text) for text in texts]
        counts = np.asarray([len(k) for k in slots], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        indices = np.concatenate(slots) if slots else np.zeros(0, np.int64)
        data = np.repeat(GRAM_SCALE / np.sqrt(np.maximum(counts, 1)), counts).astype(np.float32)
        self.rows = sparse.csr_matrix((data, indices, indptr), shape=(len(texts), GRAMS))
        self.columns = self.rows.T.tocsr()

    def take(self, rows: npt.NDArray[np.intp]) -> Any:
        """The rows ``rows`` (a sparse matrix)."""
        return self.rows[rows]


def fit_regression(dense: Floats, rest: Floats, bag: Bag, labels: npt.NDArray[np.int8]) -> Floats:
    """Softmax regression weights over ``dense`` (at ``DENSE_SCALE``) beside ``rest`` (the
    standardised embedding and a bias column) and the n-gram ``bag``, one row per feature in
    that order."""
    x = np.hstack([dense * DENSE_SCALE, rest])
    xt = np.ascontiguousarray(x.T)
    front = x.shape[1]
    n, classes = len(labels), len(STRATEGIES)
    y = np.eye(classes, dtype=np.float32)[labels]
    w = np.zeros((front + GRAMS, classes), dtype=np.float32)
    m1, m2 = np.zeros_like(w), np.zeros_like(w)
    grad = np.empty_like(w)
    for step in range(1, STEPS + 1):
        p = softmax(x @ w[:front] + bag.rows @ w[front:])
        r = (p - y) / n
        grad[:front] = xt @ r
        grad[front:] = bag.columns @ r
        grad += L2 * w
        adam(w, grad, m1, m2, step)
    return w


def fit_head(
    dense: Floats, rest: Floats, bag: Bag, labels: npt.NDArray[np.int8]
) -> tuple[Floats, Floats, Floats, Floats]:
    """The head's weights over the inputs :func:`fit_regression` reads (its bias column's row is the
    hidden layer's bias): He-initialised from ``HEAD_SEED``, ``HEAD_EPOCHS`` passes over the
    tasks in shuffled batches of ``HEAD_BATCH`` with Adam (its rate falling linearly to a
    tenth) and decoupled weight decay. Returns the first layer, its bias, the second layer
    and its bias."""
    x = np.hstack([dense * DENSE_SCALE, rest])
    n, front = x.shape
    d = front + GRAMS
    classes = len(STRATEGIES)
    rng = np.random.default_rng(HEAD_SEED)
    params = [
        (rng.standard_normal((d, HIDDEN)) * math.sqrt(2 / d)).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        (rng.standard_normal((HIDDEN, classes)) * math.sqrt(1 / HIDDEN)).astype(np.float32),
        np.zeros(classes, np.float32),
    ]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    y = np.eye(classes, dtype=np.float32)[labels]
    batches = math.ceil(n / HEAD_BATCH)
    total = HEAD_EPOCHS * batches
    step = 0
    first = np.empty_like(params[0])
    for _ in range(HEAD_EPOCHS):
        order = rng.permutation(n)
        for b in range(batches):
            rows = order[b * HEAD_BATCH : (b + 1) * HEAD_BATCH]
            xb, bb = x[rows], bag.take(rows)
            h = xb @ params[0][:front] + bb @ params[0][front:] + params[1]
            a = np.maximum(h, 0)
            p = softmax(a @ params[2] + params[3])
            dz = (p - y[rows]) / len(rows)
            dh = (dz @ params[2].T) * (h > 0)
            first[:front] = xb.T @ dh
            first[front:] = bb.T @ dh
            grads = [first, dh.sum(axis=0), a.T @ dz, dz.sum(axis=0)]
            step += 1
            for k, grad in enumerate(grads):
                rate = adam(params[k], grad, m1[k], m2[k], step, first=HEAD_RATE, steps=total)
                if k in (0, 2):
                    params[k] -= rate * HEAD_DECAY * params[k]
    return params[0], params[1], params[2], params[3]
