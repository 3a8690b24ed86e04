"""What the learned part of the router reads of a task, besides its embedding.

Its blocks, all cheap (well under a millisecond for a typical task):

- **factors**: the five factors as the analyzer scores them, the strategy its rules choose
  and the rule that chose it, the requirement count and whether one needs another's result;
- **structure**: marks that read the same in every language: lines, list bullets, sentence
  ends, question marks, commas, colons, numbers, length;
- **markers**: counts that tell a list from a chain across languages: the loose clause cut's
  parts, Chinese and Japanese chain and list marks and the て-form (their words are not cut
  by spaces), and words that set a request apart ("separately", "a parte", "osobno");
  grouped cross-validation put the block at +0.2 points (87.2% against 87.0%, folds grouped
  at 0.9), within the spread of a fold split;
- **shape**: how the loose cut's parts are shaped: the share of them that ask, where the
  first later part that refers back sits, the shortest part beside the longest, the later
  parts' share of the text; with the softmax regression's head beside it, leave-one-file-out
  validation put the block 0.7 points up (88.1% against 87.4%, the mean of eight files);
- **character n-grams**: the 2- to 4-character pieces of the text, hashed into ``GRAMS`` slots.
  They read the user's own words: what quoted spans hold and URLs are left out, since a
  pasted message is not the request and its pieces crowded out the request's own (leaving
  each one-batch file out in turn, 90.3% against 89.8%, nine files of eleven up or level).
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

import functools
import re
import zlib
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.routing.complexity.analysis import Strategy
from gateway.routing.complexity.clauses import loose_split
from gateway.routing.complexity.document import own_words
from gateway.routing.complexity.factors import Measured, measure
from gateway.routing.complexity.reference import REFERENCE, first_reference, reference_block
from gateway.routing.complexity.strategy import Rule, choose
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights

GRAMS: Final = 1 << 13
"""Hash slots for character n-grams."""
GRAM_TEXT: Final = 1200
"""Characters of a task whose n-grams are read."""
GRAM_SCALE: Final = 8.0
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
_CJK_CHAIN: Final = re.compile(
    r"然后|接着|之后|随后|最后|再[把用根将按从]|[并再]?用[它这那]|根据|按照这|以后再|"
    r"それから|その後|次に|てから|その結果|それを|これを|その[^\sぁ-ゖ]|を使って|をもとに"
)
"""Chinese and Japanese marks that a part takes an earlier one's result (their words are not
cut by spaces, so the whole-word lexicon and the n-grams' word edges read them poorly)."""
_CJK_LIST: Final = re.compile(r"以及|并且|另外|还有|顺便|、|それと|あと、|別件|関係なく|ついでに")
"""Chinese and Japanese marks of requests side by side."""
_APART: Final = re.compile(
    r"(?i)\b(?:separately|unrelated|independently|on another note|getrennt|separat|"
    r"unabhängig davon|séparément|à part|par ailleurs|por separado|aparte|por otro lado|"
    r"a parte|per conto suo|separatamente|los daarvan|apart daarvan|osobno|niezależnie|"
    r"przy okazji|separadamente|noutra coisa|por outro lado)\b|单独|別件|それとは別|ついでに"
)
"""Words that say a request stands apart from the others, in the languages of the labelled
set: a list, not a chain, though they sit where a chain's "then" would."""
_TE_FORM: Final = re.compile(r"[てで][、,]|[てで](?=[^\sぁ-ゖ、。])")
"""A Japanese verb in て-form joined to the next clause: a series, often a chain."""
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


def marker_block(text: str, parts: int) -> list[float]:
    """Counts that tell a list from a chain across languages: the loose cut's parts, the
    Chinese and Japanese chain, list and て-form marks, and words that set a request apart."""
    return [
        min(parts, 6) / 6,
        min(len(_CJK_CHAIN.findall(text)), 3) / 3,
        min(len(_CJK_LIST.findall(text)), 4) / 4,
        min(len(_TE_FORM.findall(text)), 4) / 4,
        float(bool(_APART.search(text))),
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
    """The distinct hash slots of the 2- to 4-character pieces of the text's own words
    (lower-cased, spaces folded, a space at either end so word edges count; what quoted spans
    hold and URLs left out), and of the pieces of its later parts in slots of their own."""
    head = text[:GRAM_TEXT]
    slots = pieces(own_words(head))
    cut = parts(head)
    if len(cut) > 1:
        slots |= pieces(own_words(" ".join(cut[1:])), LATER)
    return np.fromiter(sorted(slots), dtype=np.int64, count=len(slots))


SHAPE: Final = 4
"""Length of the shape block."""
DENSE: Final = len(STRATEGIES) + len(RULES) + 5 + 4 + 8 + 5 + SHAPE + REFERENCE
"""Length of the factor, structure, marker, shape and back-reference blocks together."""


def dense_features(task: str, weights: Weights = DEFAULT_WEIGHTS) -> list[float]:
    """The factor, structure and marker blocks of ``task``, as the analyzer computes them."""
    m = measure(task)
    _, strategy, rule = choose(m, weights)
    return factor_block(m, strategy, rule) + structure_block(task) + markers(task)


def shape_block(cut: Sequence[str]) -> list[float]:
    """How a task's parts (its loose cut) are shaped, read alike in every script: the share
    of them that ask (end in a question mark), where the first later part that refers back
    sits (1 for the second part, falling after; 0 for none), the shortest part's length
    beside the longest's, and the later parts' share of the text. Zeros for one part."""
    if len(cut) < 2:
        return [0.0] * SHAPE
    asking = sum(1 for p in cut if _QUESTION.search(p[-2:])) / len(cut)
    first = first_reference(cut)
    lengths = [len(p) for p in cut]
    return [
        asking,
        1.0 / first if first else 0.0,
        min(lengths) / max(*lengths, 1),
        sum(lengths[1:]) / max(sum(lengths), 1),
    ]


def markers(task: str) -> list[float]:
    """The marker, shape and back-reference blocks of ``task``."""
    cut = parts(task[:GRAM_TEXT])
    return marker_block(task, len(cut)) + shape_block(cut) + reference_block(cut)


@functools.lru_cache(maxsize=256)
def parts(head: str) -> tuple[str, ...]:
    """The loose cut of a task's head, kept for a while: a decision reads it two or three
    times (for the markers, the later parts' n-grams and a second look)."""
    return tuple(loose_split(head))
