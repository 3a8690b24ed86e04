"""A looser cut of a task into requirements, for when the learned classifier says a task has
several parts and the analyzer's verb-led segmenter found one (its verb lists do not cover
every language a user writes in).

It cuts at the strongest marks the text has, in this order, and stops at the first that
yields two pieces: sentence ends, semicolons and line breaks; then commas; then the
connectives the lexicon knows ("and", "then", "und", "puis", "然后"). Quoted text, URLs and
code in backticks are never cut (the cut reads the document's masked copy).
"""

# Its patterns hold full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import itertools
import re
from typing import Final

from gateway.routing.complexity.document import CONNECTORS, Document

_STRONG: Final = re.compile(r"(?<=[.!?。？！;；])\s*|\n+")
_COMMA: Final = re.compile(r"[,，、]\s*")
_TRIM: Final = " \t\n,;:，；：、.。"


def _pieces(text: str, starts: list[int]) -> list[str]:
    bounds = [0, *sorted(set(starts)), len(text)]
    out = [text[a:b].strip(_TRIM) for a, b in itertools.pairwise(bounds)]
    return [p for p in out if any(c.isalnum() for c in p)]


def loose_split(task: str) -> list[str]:
    """The task's requirements by the loosest cut that finds at least two, or ``[task]``."""
    doc = Document(task)
    masked = doc.masked.rstrip()
    for pattern in (_STRONG, _COMMA):
        starts = [m.end() for m in pattern.finditer(masked) if 0 < m.end() < len(masked)]
        found = _pieces(doc.text, starts)
        if len(found) >= 2:
            return found
    # at a connective, the piece before ends where it starts and the next one starts after it
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(doc.norms)):
        if doc.tags(i) & (CONNECTORS - {"filler"}) and not doc.cjk[i] and i + 1 < len(doc.norms):
            spans.append((start, doc.starts[i]))
            start = doc.starts[i + 1]
    spans.append((start, len(doc.text)))
    found = [doc.text[a:b].strip(_TRIM) for a, b in spans]
    found = [p for p in found if any(c.isalnum() for c in p)]
    return found if len(found) >= 2 else [doc.text.strip()]
