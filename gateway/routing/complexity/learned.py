"""The learned part of the router: a small classifier over the factors, structure marks,
character n-grams and the request's multilingual embedding, and the nearest labelled tasks
that explain its choice.

It is trained only on labelled tasks that tuning may read (see
:mod:`~gateway.routing.complexity.labelled`), by softmax regression in numpy, with a small
network of one hidden layer over the same features beside it, and stored as one small
compressed file (``MODEL_PATH``, rebuilt by ``python -m
gateway.routing.complexity.train``); ``effmesh calibrate --feedback`` refits it with the
decisions an operator marked. A decision costs a few dot products and a gather: about a
millisecond beside the embedding, which the gateway computes once per request.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from adapters.errors import InvalidParams
from gateway.routing.complexity.analysis import Example, Strategy
from gateway.routing.complexity.features import (
    DENSE,
    GRAM_SCALE,
    GRAMS,
    STRATEGIES,
    dense_features,
    grams,
)
from gateway.routing.complexity.fitting import (
    DENSE_SCALE,
    Bag,
    fit_head,
    fit_regression,
    softmax,
)
from gateway.routing.complexity.second import CLAUSE

MODEL_PATH: Final = Path(__file__).with_name("model.npz")
"""The model trained on the project's training split, shipped with the gateway."""
NEAREST: Final = 3
"""Nearest labelled tasks given as reasons."""
VOTERS: Final = 7
"""Nearest labelled tasks whose vote is blended into the classifier's probabilities."""
VOTE_WEIGHT: Final = 0.4
"""The nearest tasks' share of a decision. Leave-one-file-out validation (each training
file written in one batch scored by a model trained on the others) put 7 voters at a share
of 0.4 0.4 points above 5 at 0.3 (85.1% against 84.7%, the mean of the three files; 0.5
and 0.6 did as well there, and worse in grouped cross-validation, where 0.3 and 0.4 were
level at 89.3%); without the vote, 83.0%."""
VOTE_SHARPNESS: Final = 10.0
"""A voter counts ``exp(VOTE_SHARPNESS * similarity)``: the closest count most."""
_TEXT: Final = 160
"""Characters of an example kept to quote as a reason."""
FEEDBACK_WEIGHT: Final = 8
"""How many training tasks one marked decision counts as at least when refitting: an
operator's own traffic should outweigh the generic examples near it."""
FEEDBACK_SHARE: Final = 250
"""With a larger training set a marked decision counts as one training task in this many
(84 times with 20,965 tasks): at a fixed 8, with that set, a refit no longer moved a
decision the model had right."""
HEAD_SHARE: Final = 0.5
"""The head's share of the classifier's probabilities, the softmax regression's the rest."""

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Sample:
    """One labelled task as the trainer needs it: its features and embedding."""

    text: str
    strategy: Strategy
    dense: Sequence[float]
    vector: Floats
    clauses: Sequence[float] | None = None
    """The clause block of its parts' embeddings (:mod:`~gateway.routing.complexity.second`),
    when they were embedded."""


@dataclass(frozen=True)
class Look:
    """The second look's weights: those of the first look's blocks with the clause block
    beside the factor, structure, marker and reference blocks."""

    dense: Floats
    """``(DENSE + CLAUSE, 4)``."""
    embed: Floats
    gram: Floats
    bias: Floats


@dataclass(frozen=True)
class Head:
    """A network of one hidden layer over the features the softmax regression reads: the
    factor, structure, marker and reference blocks (at ``DENSE_SCALE``), the standardised
    embedding and the n-gram slots, ``HIDDEN`` rectified units, then the four strategies: it
    can weigh features together where the softmax regression has one weight for each.
    Leave-one-file-out validation (eight files each written in one batch, every one scored
    by a model trained on the others) put its probabilities averaged with the regression's
    1.3 points above the regression alone (87.4% against 86.1%, the mean of the eight files;
    86.9% to 87.4% over three seeds; 64 or 128 units, 10 or 40 epochs, a weight decay of 0.1
    or the head alone gave 86.8% to 87.3%); with five times the tasks, more units helped
    (``HIDDEN``)."""

    dense: Floats
    """``(DENSE, HIDDEN)``."""
    embed: Floats
    """``(dim, HIDDEN)``."""
    gram: Floats
    """``(GRAMS, HIDDEN)``."""
    bias: Floats
    """``(HIDDEN,)``."""
    out: Floats
    """``(HIDDEN, 4)``."""
    out_bias: Floats

    def logits(self, x: Floats, z: Floats, slots: npt.NDArray[np.int64]) -> Floats:
        """The head's logits for one task: ``x`` its dense blocks (unscaled), ``z`` its
        standardised embedding, ``slots`` its n-gram slots."""
        h = (x * DENSE_SCALE) @ self.dense + z @ self.embed + self.bias
        if len(slots):
            h = h + self.gram[slots].sum(axis=0) * (GRAM_SCALE / math.sqrt(len(slots)))
        result: Floats = np.maximum(h, 0) @ self.out + self.out_bias
        return result


@dataclass
class LearnedModel:
    """Weights of the classifier and the labelled tasks it was trained on."""

    dense: Floats
    """``(DENSE, 4)`` weights of the factor and structure blocks."""
    embed: Floats
    """``(dim, 4)`` weights of the standardised embedding."""
    gram: Floats
    """``(GRAMS, 4)`` weights of the n-gram slots."""
    bias: Floats
    mean: Floats
    scale: Floats
    vectors: Floats
    """The training tasks' unit embeddings, one row each (for the nearest examples)."""
    labels: npt.NDArray[np.int8]
    texts: list[str]
    """The training tasks, for the reasons and for refitting."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Where it came from: the training files with their digests, and feedback counts."""
    second: Look | None = None
    """The second look's weights, when it was trained with its training tasks' parts
    embedded."""
    head: Head | None = None
    """The hidden-layer network whose probabilities are averaged with the softmax
    regression's (``HEAD_SHARE``), when the model has one."""

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def temperature(self) -> float:
        """What the logits are divided by, fitted by cross-validation when the model was
        built (:mod:`~gateway.routing.complexity.crossval`) so its confidence is calibrated."""
        value = self.meta.get("temperature", 1.0)
        return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0

    def blend(
        self,
        dense: Sequence[float],
        vector: Floats,
        text: str,
        sims: Floats | None = None,
        clauses: Sequence[float] | None = None,
        *,
        order: npt.NDArray[np.intp] | None = None,
    ) -> Floats:
        """P(strategy) in the order of ``STRATEGIES``: the classifier's (the softmax
        regression's, averaged with the head's when there is one), blended with the vote of
        the nearest training tasks (``VOTE_WEIGHT``), before the temperature.
        ``sims``: :func:`similarities` of ``vector`` to the training tasks, when already
        computed (a decision needs them twice: for the vote and for the examples).
        ``clauses``: the task's clause block, for the second look's weights. ``order``: the
        nearest training tasks, from :meth:`closest`, when already found."""
        look = self.second if clauses is not None and self.second is not None else None
        z = (vector - self.mean) / self.scale
        slots = grams(text)
        x = np.asarray([*dense, *(clauses or ())] if look else dense, dtype=np.float32)
        weights = (self.dense, self.embed, self.gram, self.bias)
        if look is not None:
            weights = (look.dense, look.embed, look.gram, look.bias)
        logits = (x * DENSE_SCALE) @ weights[0] + z @ weights[1] + weights[3]
        if len(slots):
            logits = logits + weights[2][slots].sum(axis=0) * (GRAM_SCALE / math.sqrt(len(slots)))
        p = softmax(logits)
        if self.head is not None:
            q = softmax(self.head.logits(np.asarray(dense, dtype=np.float32), z, slots))
            p = (1 - HEAD_SHARE) * p + HEAD_SHARE * q
        result: Floats = (
            (1 - VOTE_WEIGHT) * p + VOTE_WEIGHT * self.votes(vector, sims=sims, order=order)
        ).astype(np.float32)
        return result

    def tempered(self, p: Floats) -> Floats:
        """``p`` at the model's temperature (fitted to the blend's out-of-fold log loss)."""
        q = np.power(np.clip(p, 1e-12, 1.0), 1 / self.temperature)
        result: Floats = (q / q.sum()).astype(np.float32)
        return result

    def probabilities(
        self,
        dense: Sequence[float],
        vector: Floats,
        text: str,
        sims: Floats | None = None,
        clauses: Sequence[float] | None = None,
        *,
        order: npt.NDArray[np.intp] | None = None,
    ) -> Floats:
        """:meth:`blend` at the model's temperature, so its confidence means what it says."""
        return self.tempered(self.blend(dense, vector, text, sims, clauses, order=order))

    def closest(self, sims: Floats, k: int = max(VOTERS, NEAREST)) -> npt.NDArray[np.intp]:
        """The indices of the ``k`` training tasks most alike by ``sims``, closest first: a
        decision finds them once for the vote and the examples (one partial sort of the
        similarities instead of two; each took about 0.2 ms with 21,000 tasks)."""
        top = _top(sims, min(k, len(sims)))
        result: npt.NDArray[np.intp] = top[np.argsort(-sims[top], kind="stable")]
        return result

    def _leading(
        self, sims: Floats, k: int, order: npt.NDArray[np.intp] | None
    ) -> npt.NDArray[np.intp]:
        """The ``k`` training tasks closest by ``sims``, closest first: the head of ``order``
        (:meth:`closest`'s answer) when it holds that many, else found here."""
        return order[:k] if order is not None and len(order) >= k else self.closest(sims, k)

    def votes(
        self,
        vector: Floats,
        k: int = VOTERS,
        sims: Floats | None = None,
        order: npt.NDArray[np.intp] | None = None,
    ) -> Floats:
        """The ``k`` nearest training tasks' strategies as shares, the closest counting
        most (``order``: :meth:`closest`'s answer, when it holds at least ``k``)."""
        sims = similarities(self.vectors, vector) if sims is None else sims
        k = min(k, len(sims))
        top = self._leading(sims, k, order)
        tally = np.zeros(len(STRATEGIES), dtype=np.float32)
        np.add.at(tally, self.labels[top].astype(np.int64), np.exp(VOTE_SHARPNESS * sims[top]))
        result: Floats = tally / tally.sum()
        return result

    def nearest(
        self,
        vector: Floats,
        k: int = NEAREST,
        sims: Floats | None = None,
        order: npt.NDArray[np.intp] | None = None,
    ) -> tuple[Example, ...]:
        """The ``k`` training tasks closest to ``vector`` in meaning, closest first
        (``order``: :meth:`closest`'s answer, when it holds at least ``k``)."""
        sims = similarities(self.vectors, vector) if sims is None else sims
        k = min(k, len(sims))
        top = self._leading(sims, k, order)
        return tuple(
            Example(
                self.texts[i][:_TEXT], STRATEGIES[int(self.labels[i])], round(float(sims[i]), 3)
            )
            for i in top
        )

    def vote(self, vector: Floats, k: int = VOTERS) -> Strategy:
        """The strategy of the ``k`` nearest training tasks, weighted by closeness."""
        return STRATEGIES[int(self.votes(vector, k).argmax())]

    def save(self, path: Path) -> None:
        """Stored compressed; the training tasks' embeddings as int8 with a scale per row
        (their order of closeness to a request is kept: similarities move by about 1e-3),
        which keeps the file under the size the gateway ships with as the tasks grow."""
        buffer = io.BytesIO()
        row_scale = np.abs(self.vectors).max(axis=1) / 127 + 1e-12
        arrays: dict[str, npt.NDArray[Any]] = {
            "dense": self.dense,
            "embed": self.embed,
            "gram": self.gram.astype(np.float16),
            "bias": self.bias,
            "mean": self.mean,
            "scale": self.scale,
            "vectors": np.round(self.vectors / row_scale[:, None]).astype(np.int8),
            "vector_scale": row_scale.astype(np.float32),
            "labels": self.labels,
            "texts": np.frombuffer(json.dumps(self.texts, ensure_ascii=False).encode(), np.uint8),
            "meta": np.frombuffer(json.dumps(self.meta, ensure_ascii=False).encode(), np.uint8),
        }
        if self.second is not None:
            arrays["second_dense"] = self.second.dense
            arrays["second_embed"] = self.second.embed
            arrays["second_gram"] = self.second.gram.astype(np.float16)
            arrays["second_bias"] = self.second.bias
        if self.head is not None:
            arrays["head_dense"] = self.head.dense
            arrays["head_embed"] = self.head.embed
            arrays["head_gram"] = self.head.gram.astype(np.float16)
            arrays["head_bias"] = self.head.bias
            arrays["head_out"] = self.head.out
            arrays["head_out_bias"] = self.head.out_bias
        np.savez_compressed(buffer, allow_pickle=False, **arrays)
        path.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LearnedModel:
        """The model stored at ``path``.

        Raises:
            InvalidParams: the file cannot be read or is not a model of this shape.
        """
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            model = cls(
                dense=arrays["dense"].astype(np.float32),
                embed=arrays["embed"].astype(np.float32),
                gram=arrays["gram"].astype(np.float32),
                bias=arrays["bias"].astype(np.float32),
                mean=arrays["mean"].astype(np.float32),
                scale=arrays["scale"].astype(np.float32),
                vectors=_unit(arrays["vectors"], arrays.get("vector_scale")),
                labels=arrays["labels"].astype(np.int8),
                texts=json.loads(arrays["texts"].tobytes().decode()),
                meta=json.loads(arrays["meta"].tobytes().decode()),
                second=_look(arrays),
                head=_head(arrays),
            )
        except (OSError, KeyError, ValueError) as exc:
            raise InvalidParams(f"{path} is not a routing model ({type(exc).__name__})") from None
        n, dim = model.vectors.shape
        shapes_ok = (
            model.dense.shape == (DENSE, len(STRATEGIES))
            and model.embed.shape == (dim, len(STRATEGIES))
            and model.gram.shape == (GRAMS, len(STRATEGIES))
            and len(model.texts) == n == len(model.labels)
            and (
                model.second is None
                or (
                    model.second.dense.shape == (DENSE + CLAUSE, len(STRATEGIES))
                    and model.second.embed.shape == model.embed.shape
                    and model.second.gram.shape == model.gram.shape
                )
            )
            and (
                model.head is None
                or (
                    model.head.dense.shape[0] == DENSE
                    and model.head.embed.shape[0] == dim
                    and model.head.gram.shape[0] == GRAMS
                    and model.head.dense.shape[1]
                    == model.head.embed.shape[1]
                    == model.head.gram.shape[1]
                    == model.head.bias.shape[0]
                    == model.head.out.shape[0]
                    and model.head.out.shape[1] == len(STRATEGIES) == model.head.out_bias.shape[0]
                )
            )
        )
        if not shapes_ok:
            raise InvalidParams(f"{path} is not a routing model of this version")
        return model


def _look(arrays: dict[str, npt.NDArray[Any]]) -> Look | None:
    """The second look's weights as stored, if the model has them."""
    if "second_dense" not in arrays:
        return None
    return Look(
        *(arrays[f"second_{k}"].astype(np.float32) for k in ("dense", "embed", "gram", "bias"))
    )


def _head(arrays: dict[str, npt.NDArray[Any]]) -> Head | None:
    """The head's weights as stored, if the model has them."""
    if "head_dense" not in arrays:
        return None
    return Head(
        *(
            arrays[f"head_{k}"].astype(np.float32)
            for k in ("dense", "embed", "gram", "bias", "out", "out_bias")
        )
    )


def _unit(stored: npt.NDArray[Any], row_scale: npt.NDArray[Any] | None) -> Floats:
    """The training tasks' unit embeddings as stored: int8 rows with a scale each, or (in
    models saved before) float16 rows."""
    rows = stored.astype(np.float32)
    if row_scale is not None:
        rows *= row_scale.astype(np.float32)[:, None]
    result: Floats = rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-12)
    return result


def similarities(vectors: Floats, vector: Floats) -> Floats:
    """Each row of ``vectors`` dotted with ``vector``, on this thread: above about 1,500 rows
    OpenBLAS splits a matrix-vector product across threads, which on a busy machine took
    11 ms where one thread takes 0.1 ms (measured with 1,521 rows of 384). Dotting blocks of
    up to 1,024 rows instead (each below that size) took twice ``einsum``'s time for a
    decision with 17,454 rows (2.0 against 1.04 ms, median over 400 requests)."""
    result: Floats = np.einsum("ij,j->i", vectors, np.asarray(vector, dtype=np.float32))
    return result


def _top(sims: Floats, k: int) -> npt.NDArray[np.intp]:
    """The indices of the ``k`` largest of ``sims``, in no order (``k`` >= 1)."""
    return np.argpartition(sims, len(sims) - k)[len(sims) - k :]


def digest(path: Path) -> str:
    """sha256 of a file, to record which training files a model was fitted to."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(samples: Sequence[Sample], meta: dict[str, Any] | None = None) -> LearnedModel:
    """A model fitted to ``samples`` by softmax regression with L2 (Adam, fixed steps, zero
    start: the same samples give the same model) and its head, both by
    :mod:`~gateway.routing.complexity.fitting`; when every sample has its clause block, the
    second look's weights too, fitted the same way with the block beside the others.

    Raises:
        InvalidParams: no samples, or embeddings of different lengths.
    """
    if not samples:
        raise InvalidParams("training needs at least one labelled task")
    vectors = np.stack([s.vector for s in samples]).astype(np.float32)
    if vectors.ndim != 2:
        raise InvalidParams("every labelled task needs an embedding of the same length")
    mean = vectors.mean(axis=0)
    scale = vectors.std(axis=0) + 1e-6
    n = len(samples)
    rest = np.hstack([(vectors - mean) / scale, np.ones((n, 1), np.float32)])
    bag = Bag([s.text for s in samples])
    labels = np.asarray([STRATEGIES.index(s.strategy) for s in samples], dtype=np.int8)
    dense = np.asarray([list(s.dense) for s in samples], dtype=np.float32)
    w = fit_regression(dense, rest, bag, labels)
    d, e = DENSE, DENSE + vectors.shape[1]
    u = fit_head(dense, rest, bag, labels)
    head = Head(
        dense=u[0][:d],
        embed=u[0][d:e],
        gram=u[0][e + 1 :],
        bias=u[0][e] + u[1],
        out=u[2],
        out_bias=u[3],
    )
    second = None
    if all(s.clauses is not None for s in samples):
        clauses = np.asarray([list(s.clauses or ()) for s in samples], dtype=np.float32)
        v = fit_regression(np.hstack([dense, clauses]), rest, bag, labels)
        c, f = d + CLAUSE, e + CLAUSE
        second = Look(dense=v[:c], embed=v[c:f], gram=v[f + 1 :], bias=v[f])
    return LearnedModel(
        dense=w[:d],
        embed=w[d:e],
        gram=w[e + 1 :],
        bias=w[e],
        mean=mean,
        scale=scale,
        vectors=vectors,
        labels=labels,
        texts=[s.text for s in samples],
        meta=dict(meta or {}),
        second=second,
        head=head,
    )


def feedback_weight(tasks: int) -> int:
    """How many times a marked decision is counted when refitting a model trained on
    ``tasks`` tasks."""
    return max(FEEDBACK_WEIGHT, math.ceil(tasks / FEEDBACK_SHARE))


def refit(model: LearnedModel, marked: Sequence[tuple[str, Strategy, Floats]]) -> LearnedModel:
    """``model`` fitted again to its own training tasks plus ``marked`` (task, the strategy it
    should get, its embedding), each marked one counted as :func:`feedback_weight` training
    tasks; the marked tasks join the nearest examples once.

    Raises:
        InvalidParams: an embedding of another length than the model's.
    """
    if any(np.shape(v) != (model.dim,) for _, _, v in marked):
        raise InvalidParams(f"a marked decision's embedding is not {model.dim} numbers long")
    base = [
        Sample(text, STRATEGIES[int(label)], dense_features(text), model.vectors[k])
        for k, (text, label) in enumerate(zip(model.texts, model.labels, strict=True))
    ]
    extra = [Sample(t, s, dense_features(t), np.asarray(v, np.float32)) for t, s, v in marked]
    meta = {**model.meta, "feedback": int(model.meta.get("feedback", 0)) + len(extra)}
    fitted = train(base + extra * feedback_weight(len(base)), meta)
    # the marked decisions' parts were not embedded: the second look keeps its weights
    fitted.second = model.second
    keep = len(base) + len(extra)
    fitted.vectors = fitted.vectors[:keep]
    fitted.labels = fitted.labels[:keep]
    fitted.texts = fitted.texts[:keep]
    return fitted
