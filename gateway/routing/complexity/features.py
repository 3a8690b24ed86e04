"""What the learned part of the router reads of a task, besides its embedding.

Three blocks, all cheap (well under a millisecond for a typical task):

- **factors**: the five factors as the analyzer scores them, the strategy its rules choose
  and the rule that chose it, the requirement count and whether one needs another's result;
- **structure**: marks that read the same in every language: lines, list bullets, sentence
  ends, question marks, commas, colons, numbers, length;
- **character n-grams**: the 2- to 4-character pieces of the text, hashed into ``GRAMS`` slots.
  Their weights are learned from the labelled tasks, so connectives ("then", "poi",
  "daarna", "然后") are found from examples instead of being listed by hand, in whatever
  language the examples are written. The pieces of every part after the first (the loose
  clause cut of :mod:`~gateway.routing.complexity.clauses`) count once more in slots of their
  own: a later part that refers back ("the result", "con ese total", "その結果") is what tells
  a chain from a list, and it reads differently there than in the first part.
"""

# Its patterns hold full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import zlib
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.routing.complexity.analysis import Strategy
from gateway.routing.complexity.clauses import loose_split
from gateway.routing.complexity.factors import Measured, measure
from gateway.routing.complexity.strategy import Rule, choose
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights

GRAMS: Final = 1 << 13
"""Hash slots for character n-grams."""
GRAM_TEXT: Final = 1200
"""Characters of a task whose n-grams are read."""
GRAM_SCALE: Final = 5.0
"""The n-gram block's weight beside the others (its rows have unit length before this)."""
RULES: Final[tuple[Rule, ...]] = (
    "empty",
    "compound",
    "broad",
    "broad-one",
    "one",
    "linked",
    "independent",
)
STRATEGIES: Final = tuple(Strategy)
_SPACE: Final = re.compile(r"\s+")
_QUESTION: Final = re.compile(r"[?？¿]")
_SENTENCE: Final = re.compile(r"[.!?。？！;；]\s*\S")
_COMMA: Final = re.compile(r"[,，、]")
_NUMBER: Final = re.compile(r"\d+")
_BULLET: Final = re.compile(r"(?m)^\s*(?:[-*•・]|\d+[.)])")
LATER: Final = b"later:"
"""The salt of the later parts' n-gram slots."""


def factor_block(m: Measured, strategy: Strategy, rule: Rule) -> list[float]:
    """The analyzer's reading of the task, as numbers."""
    n = len(m.requirements)
    out = [1.0 if strategy is s else 0.0 for s in STRATEGIES]
    out += [1.0 if rule == r else 0.0 for r in RULES]
    out += list(m.scores)
    out += [
        min(n, 6) / 6,
        float(any(r.after is not None for r in m.requirements)),
        float(any(r.parts for r in m.requirements)),
        min(len(m.domains), 5) / 5,
    ]
    return out


def structure_block(text: str) -> list[float]:
    """Marks of structure that need no word list."""
    lines = sum(1 for line in text.split("\n") if line.strip())
    return [
        min(lines, 8) / 8,
        min(len(_COMMA.findall(text)), 8) / 8,
        min(len(_SENTENCE.findall(text)), 6) / 6,
        float(":" in text or "：" in text),
        min(len(text), 600) / 600,
        min(len(_QUESTION.findall(text)), 4) / 2,
        min(len(_NUMBER.findall(text)), 6) / 3,
        min(len(_BULLET.findall(text)), 5) / 2,
    ]


def pieces(text: str, salt: bytes = b"") -> set[int]:
    """The hash slots of the text's 2- to 4-character pieces, ``salt`` giving a block of its
    own."""
    folded = " " + _SPACE.sub(" ", text.lower()) + " "
    return {
        zlib.crc32(salt + folded[i : i + n].encode()) & (GRAMS - 1)
        for n in (2, 3, 4)
        for i in range(len(folded) - n + 1)
    }


def grams(text: str) -> npt.NDArray[np.int64]:
    """The distinct hash slots of the text's 2- to 4-character pieces (lower-cased, spaces
    folded, a space at either end so word edges count), and of the pieces of its later parts
    in slots of their own."""
    head = text[:GRAM_TEXT]
    slots = pieces(head)
    parts = loose_split(head)
    if len(parts) > 1:
        slots |= pieces(" ".join(parts[1:]), LATER)
    return np.fromiter(sorted(slots), dtype=np.int64, count=len(slots))


DENSE: Final = len(STRATEGIES) + len(RULES) + 5 + 4 + 8
"""Length of the factor and structure blocks together."""


def dense_features(task: str, weights: Weights = DEFAULT_WEIGHTS) -> list[float]:
    """The factor and structure blocks of ``task``, as the analyzer computes them."""
    m = measure(task)
    _, strategy, rule = choose(m, weights)
    return factor_block(m, strategy, rule) + structure_block(task)
