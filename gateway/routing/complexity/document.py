"""A task prepared for reading: its text cleaned, a masked copy, and its word tokens with their
lexicon tags. The segmenter and the factor measures read a task only through a
:class:`Document`."""

# The quotation-mark classes hold typographic and CJK characters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Final

from gateway.routing.complexity.lexicon import CJK, CJK_CHAR, LEXICON, fold

LIMIT: Final = 20_000
"""Characters of a task that are read; a longer task is cut (its length factor is full anyway)."""
TOKEN: Final = re.compile(rf"[{CJK}]+|\d+(?:[.,:]\d+)*|[^\W\d_{CJK}]+")
_CONTRACTION: Final = frozenset({"s", "ll", "re", "ve", "t", "m"})
CONNECTORS: Final = frozenset({"conj", "dep", "filler", "seq"})
"""Tags of the words that join clauses rather than ask for something ("and", "then", "also")."""

_CONTROL: Final = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_BREAKS: Final = re.compile(r"\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_QUOTED: Final = re.compile(
    r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|„[^“”\n]{1,400}[“”]|«[^»\n]{1,400}»|‹[^›\n]{1,400}›"
    r"|「[^」\n]{1,400}」|『[^』\n]{1,400}』|‘[^’\n]{1,400}’|`[^`\n]{1,400}`"
    r"|(?<!\w)'[^'\n]{1,400}'(?!\w)"
)
MASK: Final = "\x00"
"""What stands for a masked character in a :class:`Document`'s masked copy."""
_URL: Final = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+")


def _clean(task: str) -> str:
    """The task's first ``LIMIT`` characters, line breaks made ``\\n`` and control characters
    spaces (lengths kept)."""
    text = _BREAKS.sub(lambda m: "\n" + " " * (len(m.group()) - 1), task[:LIMIT])
    return _CONTROL.sub(" ", text)


def _mask(text: str) -> tuple[str, int]:
    """``text`` with quoted spans' insides and URLs blanked (``\\x00``), and the URLs' count."""
    masked = list(text)
    urls = 0
    for pattern in (_URL, _QUOTED):
        for m in pattern.finditer(text):
            urls += pattern is _URL
            for k in range(m.start() + (pattern is _QUOTED), m.end() - (pattern is _QUOTED)):
                masked[k] = MASK
    return "".join(masked), urls


def own_words(task: str) -> str:
    """The task as the user's own words: what quoted spans hold and URLs left out (the
    quotation marks stay), so pasted text does not read as the request."""
    return _mask(_clean(task))[0].replace(MASK, "")


class Document:
    """One task prepared for reading: the text, a masked copy, and its word tokens.

    The masked copy has the same length as the text; quoted spans, URLs and code in backticks
    are blanked in it, so structure and lexicons see only the user's own instructions.
    """

    def __init__(self, task: str) -> None:
        self.text = _clean(task)
        self.masked, self.urls = _mask(self.text)
        self.norms: list[str] = []
        self.raws: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.glue: list[str] = []
        self.cjk: list[bool] = []
        for m in TOKEN.finditer(self.masked):
            start = m.start()
            before = self.masked[start - 1] if start else ""
            glue = "'" if before in "'’" else before if before in "-" else ""
            norm = fold(m.group())
            if glue == "'" and norm in _CONTRACTION:
                continue  # what's, let's: the suffix is not a word of its own
            self.norms.append(norm)
            self.raws.append(m.group())
            self.starts.append(start)
            self.ends.append(m.end())
            self.glue.append(glue)
            self.cjk.append(bool(CJK_CHAR.match(m.group())))
        self.own = [LEXICON.word(n, c) for n, c in zip(self.norms, self.cjk, strict=True)]
        self.span: list[int] = []
        self.phrase: list[frozenset[str]] = []
        for i in range(len(self.norms)):
            n, tags = LEXICON.phrase(self.norms, i)
            self.span.append(n)
            self.phrase.append(tags)

    def tokens(self, a: int, b: int) -> tuple[int, int]:
        """Indices of the tokens that start in ``[a, b)``."""
        return bisect_left(self.starts, a), bisect_left(self.starts, b)

    def tags(self, i: int) -> frozenset[str]:
        return self.own[i] | self.phrase[i] if self.span[i] else self.own[i]

    def step(self, i: int) -> int:
        return self.span[i] or 1

    def skip(self, i: int, hi: int, kinds: frozenset[str] = CONNECTORS) -> tuple[int, set[str]]:
        """The first token from ``i`` that is not a connective, and the kinds skipped."""
        seen: set[str] = set()
        while i < hi:
            found = self.tags(i) & kinds
            if not found or (self.cjk[i] and not self._cjk_connective(i)):
                break
            seen |= found
            i += self.step(i)
        return min(i, hi), seen

    def _cjk_connective(self, i: int) -> bool:
        # a CJK run often holds a connective and its clause together ("然后计算"): skip it
        # only when it is nothing but connectives
        return not (self.own[i] - CONNECTORS)

    def gap(self, i: int) -> str:
        """The text between token ``i - 1`` and token ``i``."""
        return self.masked[self.ends[i - 1] : self.starts[i]]
