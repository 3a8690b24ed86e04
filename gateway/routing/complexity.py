"""How complex a task is, over five factors, and the routing strategy that follows from it.

A task is free text from a user, in any language. :class:`ComplexityAnalyzer` reads it with
word lexicons and a few patterns, no model, in well under a millisecond for a typical task.

**Requirements.** The text is cut into requirements at, in order of strength: list items (a
number or letter with ``.`` or ``)``, or a bullet ``-`` ``•`` ``*`` only at the start of a line
and followed by white space, so ``3 * 4`` stays arithmetic), sentences, semicolons, and commas
or coordinating conjunctions (*and, also, und, außerdem, et, aussi, y, además...*) only when
the clause after them starts with an action verb or (after a conjunction) a question word, so
"salt and pepper" and "Romeo and Juliet" stay whole. A sentence that asks for nothing ("The
report has 40 pages.") is context, not a requirement. A short head before a colon names a
section ("Research: find a, compare b"); a section or list item holding two or more action
clauses is one :class:`Requirement` with ``parts``, unless it is the whole task, when its head
is the goal and its clauses are the requirements. A head that points at material ("Summarize
this paragraph:") makes the rest of the text payload: it is neither cut up nor searched.

**Lexicons** (English, German, French, Spanish, with a little Russian, Chinese and Japanese)
are matched on whole word tokens after Unicode casefolding and accent removal; an entry ending
in ``*`` is a deliberate stem (``calcul*`` for *calcule, calculer, calcular*). Chinese and
Japanese have no spaces between words, so their entries are matched inside runs of CJK text.

**Factors**, each scored 0..1:

* ``length``: words (a CJK character counts as half a word), saturating at ``LENGTH_FULL``.
* ``requirements``: requirements found; the score counts each part of a compound one.
* ``domains``: distinct domains the instructions touch (math, language, writing, research,
  code, data, memory, planning, time).
* ``tools``: distinct kinds of tool the work needs (arithmetic, conversion, web, memory,
  files, dates).
* ``depth``: dependency links between requirements ("then", "using the result", "dann",
  "puis", "luego", a pronoun such as "divide *it* by 3") plus causal or comparative asks
  ("why", "compare", "warum", "pourquoi", "compara"), plus one when the requirements serve a
  goal stated in a head over them ("Plan a trip: book..., pack...").

A requirement whose opening words carry a dependency marker or point back at an earlier result
gets ``after``: the index of the requirement before it.

**Strategy**, by the first rule that holds (thresholds live in :class:`Weights`):

1. no requirement: SINGLE;
2. a requirement has parts: HIERARCHICAL;
3. at least ``many`` requirements over at least ``spread`` domains, with a weighted score of at
   least ``hierarchical`` and at least ``ties`` depth steps tying them together (a stated goal,
   a dependency, a comparison), unless they form a chain where each uses the previous one's
   result (a pipeline): HIERARCHICAL, broad work that needs coordinating;
4. one requirement: SINGLE, unless it spans ``spread`` domains with a score of at least
   ``single`` (a broad ask written as one sentence): HIERARCHICAL;
5. a requirement uses an earlier one's result: SEQUENTIAL;
6. otherwise PARALLEL.

:func:`calibrate` fits the weights and thresholds to labelled tasks by coordinate search.
"""

# The lexicons and punctuation classes hold Cyrillic, CJK and full-width characters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Final, Literal, assert_never

from adapters.errors import InvalidParams, quote
from gateway.routing.lexicon import TABLE

LIMIT: Final = 20_000
"""Characters of a task that are read; a longer task is cut (its length factor is full anyway)."""
LENGTH_FULL: Final = 120
"""Words at which the length factor reaches 1."""
FACTORS: Final = ("length", "requirements", "domains", "tools", "depth")


class Strategy(StrEnum):
    SINGLE = "single"
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"
    HIERARCHICAL = "hierarchical"


@dataclass(frozen=True, slots=True)
class Requirement:
    text: str
    """The clause as the user wrote it: trimmed, without list marker or leading connective."""
    after: int | None = None
    """Index of the earlier requirement whose result this one needs."""
    parts: tuple[str, ...] = ()
    """The sub-requirements of a compound requirement (a section of a hierarchical task)."""


@dataclass(frozen=True, slots=True)
class Factor:
    name: str
    value: float
    """The raw measure: words, requirements, domains, tool kinds or depth steps."""
    score: float
    """``value`` normalised to 0..1."""
    reason: str


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParams(f"weight {quote(name)} must be a number, not {quote(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InvalidParams(f"weight {quote(name)} must be finite and >= 0, not {quote(value)}")
    return number


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each factor counts in the score, and the thresholds of the strategy rule.

    Factor weights are relative (the score divides by their sum). Every value must be a finite
    number >= 0; constructing one otherwise raises InvalidParams.
    """

    length: float = 0.1
    requirements: float = 0.35
    domains: float = 0.3
    tools: float = 0.1
    depth: float = 0.15
    hierarchical: float = 0.4
    """Score from which several requirements over ``spread`` domains are HIERARCHICAL."""
    many: float = 3.0
    """Requirements needed for rule 3."""
    spread: float = 3.0
    """Distinct domains needed for rules 3 and 4."""
    single: float = 0.6
    """Score from which one requirement over ``spread`` domains is HIERARCHICAL."""
    ties: float = 1.0
    """Depth steps (a goal, dependencies, comparisons) that rule 3 needs: broad work only
    needs a coordinator when something ties its requirements together."""

    def __post_init__(self) -> None:
        for f in fields(self):
            _number(f.name, getattr(self, f.name))

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Weights:
        """Weights from configuration; keys left out keep their defaults.

        Raises:
            InvalidParams: an unknown key, a value that is not a number, or a negative one.
        """
        known = {f.name for f in fields(cls)}
        chosen: dict[str, float] = {}
        for key, value in values.items():
            if key not in known:
                raise InvalidParams(f"unknown weight {quote(key)}")
            chosen[key] = _number(key, value)
        return cls(**chosen)

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


DEFAULT_WEIGHTS: Final = Weights()


@dataclass(frozen=True, slots=True)
class Analysis:
    score: float
    """Weighted combination of the factor scores, 0..1."""
    factors: tuple[Factor, ...]
    """All five, in the order of ``FACTORS``."""
    strategy: Strategy
    reason: str
    """Why this strategy, in one sentence a user can read."""
    requirements: tuple[Requirement, ...]
    domains: tuple[str, ...]
    """The distinct domains found, sorted."""
    context: tuple[str, ...] = ()
    """Sentences that ask for nothing themselves (background for the requirements)."""

    def factor(self, name: str) -> Factor:
        """The factor called ``name``.

        Raises:
            InvalidParams: not one of ``FACTORS``.
        """
        for f in self.factors:
            if f.name == name:
                return f
        raise InvalidParams(f"unknown factor {quote(name)}")

    def as_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "strategy": self.strategy.value,
            "reason": self.reason,
            "factors": [
                {"name": f.name, "value": f.value, "score": f.score, "reason": f.reason}
                for f in self.factors
            ],
            "requirements": [
                {"text": r.text, "after": r.after, "parts": list(r.parts)}
                for r in self.requirements
            ],
            "domains": list(self.domains),
            "context": list(self.context),
        }


# --- lexicons (the word lists are in gateway.routing.lexicon) --------------------------


_CJK: Final = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR: Final = re.compile(f"[{_CJK}]")
_TOKEN: Final = re.compile(rf"[{_CJK}]+|\d+(?:[.,:]\d+)*|[^\W\d_{_CJK}]+")
_CONTRACTION: Final = frozenset({"s", "ll", "re", "ve", "t", "m"})
_EMPTY: Final[frozenset[str]] = frozenset()


def _fold(word: str) -> str:
    """Casefolded, accents removed: how both the text and the lexicons are compared."""
    word = word.casefold()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class _Lexicon:
    """Word, stem, phrase and CJK entries, each with the tags of every table naming it."""

    def __init__(self, table: Mapping[str, str]) -> None:
        words: dict[str, set[str]] = {}
        stems: dict[str, set[str]] = {}
        ends: dict[str, set[str]] = {}
        phrases: dict[str, dict[tuple[str, ...], set[str]]] = {}
        cjk: dict[str, set[str]] = {}
        for tags, entries in table.items():
            for entry in entries.split():
                if _CJK_CHAR.search(entry):
                    target = cjk.setdefault(_fold(entry), set())
                elif "_" in entry:
                    parts = tuple(_fold(p) for p in entry.split("_"))
                    target = phrases.setdefault(parts[0], {}).setdefault(parts, set())
                elif entry.endswith("*"):
                    target = stems.setdefault(_fold(entry[:-1]), set())
                elif entry.startswith("*"):
                    target = ends.setdefault(_fold(entry[1:]), set())
                else:
                    target = words.setdefault(_fold(entry), set())
                target.update(tags.split())
        self._words = {w: frozenset(t) for w, t in words.items()}
        self._stems = {s: frozenset(t) for s, t in stems.items()}
        self._stem_lengths = sorted({len(s) for s in stems})
        self._ends = {e: frozenset(t) for e, t in ends.items()}
        self._end_lengths = sorted({len(e) for e in ends})
        self._phrases = {
            first: sorted(((p, frozenset(t)) for p, t in found.items()), key=lambda x: -len(x[0]))
            for first, found in phrases.items()
        }
        self._cjk = [(e, frozenset(t)) for e, t in cjk.items()]

    def word(self, norm: str, cjk: bool) -> frozenset[str]:
        if cjk:
            found = [t for entry, t in self._cjk if entry in norm]
            return frozenset().union(*found) if found else _EMPTY
        tags = self._words.get(norm, _EMPTY)
        for n in self._stem_lengths:
            if n > len(norm):
                break
            more = self._stems.get(norm[:n])
            if more is not None:
                tags = tags | more
        for n in self._end_lengths:
            if n + 3 > len(norm):  # a compound: at least three letters before the last part
                break
            more = self._ends.get(norm[-n:])
            if more is not None:
                tags = tags | more
        return tags

    def cjk_lead(self, norm: str, tag: str, within: int) -> bool:
        """Whether an entry tagged ``tag`` starts within the first ``within`` characters."""
        return any(tag in t and 0 <= norm.find(e) < within for e, t in self._cjk)

    def phrase(self, norms: Sequence[str], i: int) -> tuple[int, frozenset[str]]:
        """The longest phrase starting at token ``i``: its length in tokens and its tags."""
        for parts, tags in self._phrases.get(norms[i], ()):
            if tuple(norms[i : i + len(parts)]) == parts:
                return len(parts), tags
        return 0, _EMPTY


_LEXICON: Final = _Lexicon(TABLE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PAYLOAD: Final = _words(
    """this these following below here diesen diese dieses diesem dieser folgende folgenden
    folgendes hier unten ce cet cette ces suivant suivante suivants suivantes ci-dessous voici
    este esta estos estas esto siguiente siguientes aquí это этот эту этого следующий
    следующее следующие"""
)
"""Words in a head that point at material after the colon ("Summarize this paragraph:").
Compared casefolded but with accents kept: "thèse" is not "these"."""
_PAYLOAD_CJK: Final = ("这", "以下", "下面", "この", "次の")

_CONNECTORS: Final = frozenset({"conj", "dep", "filler", "seq"})
_STRIPPED: Final = frozenset({"conj", "dep", "seq"})
_WEAK: Final[Mapping[str, frozenset[str]]] = {
    "writing": frozenset({"code", "data"}),
    "research": frozenset({"code", "data", "memory"}),
}
"""A weak domain word ("write", "find") counts only if the clause names none of these."""
_THAT_OBJECT: Final = frozenset({"by", "to", "into", "in", "with", "from", "for", "as"})
_FRENCH_OBJECT: Final = frozenset({"le", "la", "les", "en"})
_SPANISH_CLITIC: Final = re.compile(r"\w*[áéíóú]\w*(?:lo|la|los|las|le|les)", re.IGNORECASE)

# --- patterns on the text --------------------------------------------------------------------

_CONTROL: Final = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_BREAKS: Final = re.compile(r"\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_QUOTED: Final = re.compile(
    r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|„[^“”\n]{1,400}[“”]|«[^»\n]{1,400}»|‹[^›\n]{1,400}›"
    r"|「[^」\n]{1,400}」|『[^』\n]{1,400}』|‘[^’\n]{1,400}’|`[^`\n]{1,400}`"
    r"|(?<!\w)'[^'\n]{1,400}'(?!\w)"
)
_URL: Final = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+")
_FILE_NAME: Final = re.compile(
    r"\b[\w-]+\.(?:csv|xlsx?|json|pdf|txt|docx?|pptx?|py|js|ts|md|xml|html|zip|png|jpe?g)\b",
    re.IGNORECASE,
)
_MARKER: Final = re.compile(
    r"[ \t]*(?:(?P<num>\(?\d{1,3}[.)]|\(?[A-Za-z]\)|[A-Za-z]\.)|(?P<bullet>[-*•·–—▪‣◦►]))[ \t]+"
)
_INLINE_NUMBER: Final = re.compile(r"(?<!\S)\(?(\d{1,2})\)[ \t]+")
_SENTENCE_END: Final = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s|$)|[。！？]+")
_HEAD_COLON: Final = re.compile(r"[:：](?=\s|$)")
_ABBREVIATIONS: Final = _words(
    "eg ie etc vs dr mr mrs ms prof st no nr approx ca bzw usw zb sr sra mme mlle"
)
_NUMBER: Final = r"(?<![\d.,])\d+(?:[.,]\d+)*"
_ARITHMETIC: Final = re.compile(
    rf"{_NUMBER}(?:\s*(?:[*×x·÷/^+=]|\s-\s)\s*\(?\d+(?:[.,]\d+)*\)?)+|{_NUMBER}\s*%"
)
"""Numbers joined by operators ("3 * 4 + 2", "12*7") or a percentage."""
_DATE: Final = re.compile(
    r"\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}\b"
)
_COMMAS: Final = ",，、"


class _Doc:
    """One task prepared for reading: the text, a masked copy, and its word tokens.

    The masked copy has the same length as the text; quoted spans, URLs and code in backticks
    are blanked in it, so structure and lexicons see only the user's own instructions.
    """

    def __init__(self, task: str) -> None:
        text = _BREAKS.sub(lambda m: "\n" + " " * (len(m.group()) - 1), task[:LIMIT])
        self.text = _CONTROL.sub(" ", text)
        masked = list(self.text)
        self.urls = 0
        for pattern in (_URL, _QUOTED):
            for m in pattern.finditer(self.text):
                self.urls += pattern is _URL
                for k in range(m.start() + (pattern is _QUOTED), m.end() - (pattern is _QUOTED)):
                    masked[k] = "\x00"
        self.masked = "".join(masked)
        self.norms: list[str] = []
        self.raws: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.glue: list[str] = []
        self.cjk: list[bool] = []
        for m in _TOKEN.finditer(self.masked):
            start = m.start()
            before = self.masked[start - 1] if start else ""
            glue = "'" if before in "'’" else before if before in "-" else ""
            norm = _fold(m.group())
            if glue == "'" and norm in _CONTRACTION:
                continue  # what's, let's: the suffix is not a word of its own
            self.norms.append(norm)
            self.raws.append(m.group())
            self.starts.append(start)
            self.ends.append(m.end())
            self.glue.append(glue)
            self.cjk.append(bool(_CJK_CHAR.match(m.group())))
        self.own = [_LEXICON.word(n, c) for n, c in zip(self.norms, self.cjk, strict=True)]
        self.span: list[int] = []
        self.phrase: list[frozenset[str]] = []
        for i in range(len(self.norms)):
            n, tags = _LEXICON.phrase(self.norms, i)
            self.span.append(n)
            self.phrase.append(tags)

    def tokens(self, a: int, b: int) -> tuple[int, int]:
        """Indices of the tokens that start in ``[a, b)``."""
        return bisect_left(self.starts, a), bisect_left(self.starts, b)

    def tags(self, i: int) -> frozenset[str]:
        return self.own[i] | self.phrase[i] if self.span[i] else self.own[i]

    def step(self, i: int) -> int:
        return self.span[i] or 1

    def skip(self, i: int, hi: int, kinds: frozenset[str] = _CONNECTORS) -> tuple[int, set[str]]:
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
        return not (self.own[i] - _CONNECTORS)

    def gap(self, i: int) -> str:
        """The text between token ``i - 1`` and token ``i``."""
        return self.masked[self.ends[i - 1] : self.starts[i]]


@dataclass(slots=True)
class _Node:
    start: int
    end: int
    lead: tuple[int, int]
    """The span whose opening words tell whether the node uses an earlier result."""
    children: list[_Node] = field(default_factory=list)
    kind: str = "clause"  # "clause", "item" (of a list), "section" or "group" (a list's intro)
    strip: bool = True
    """Whether a leading connective is cut from the text ("then divide..." -> "divide...")."""
    head: tuple[int, int] | None = None
    """The words before the colon of a section or list intro."""


class _Reader:
    """Cuts a task into requirement nodes, context sentences and payload."""

    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.context: list[tuple[int, int]] = []
        self.scan: list[tuple[int, int]] = []  # instruction spans searched for domains
        self.sentences = 0
        self.cuts: list[str] = []
        self.numbered = False
        self.payload = len(doc.text)
        self.goal: str | None = None

    # -- lines, lists and sections --

    def read(self) -> list[_Node]:
        lines = self._lines()
        nodes: list[_Node] = []
        k = 0
        while k < len(lines):
            a, b, content, indent, marker = lines[k]
            if a >= self.payload:
                break
            head = self._intro(content, b)
            items = 0
            while head is not None and k + 1 + items < len(lines):
                after = lines[k + 1 + items]
                if not after[4] or (marker and after[3] <= indent):
                    break
                items += 1
            if head is not None and items:
                group = lines[k + 1 : k + 1 + items]
                if self._is_payload(head) and sum(self._acts(g[2], g[1]) for g in group) < 2:
                    # "Translate the following:" over lines that are material, not asks
                    end = len(self.doc.text)
                    nodes.append(_Node(content, end, head, kind="item" if marker else "clause"))
                    self.scan.append(head)
                    self.payload = lines[k + 1][0]
                    break
                self.scan.append(head)
                children = [self._item(g[2], g[1], g[4] == "num") for g in group]
                end = group[-1][1]
                nodes.append(_Node(content, end, head, children, "group", False, head))
                k += 1 + items
                continue
            if marker:
                nodes.append(self._item(content, b, marker == "num"))
            else:
                nodes.extend(self._unit(content, b))
            k += 1
        # one section or list is the whole task: its head is the goal, its parts the requirements
        while len(nodes) == 1 and nodes[0].children:
            node = nodes[0]
            if node.head is not None:
                self.context.append(node.head)
                if self._is_action(*node.head) and not self._is_payload(node.head):
                    self.goal = self.doc.text[node.head[0] : node.head[1]].strip()
            nodes = node.children
        return nodes

    def _lines(self) -> list[tuple[int, int, int, int, str]]:
        """(start, end, content start, indent, marker kind) of each non-blank line."""
        masked = self.doc.masked
        out: list[tuple[int, int, int, int, str]] = []
        pos = 0
        for raw in masked.split("\n"):
            a, b = pos, pos + len(raw)
            pos = b + 1
            for s, e in self._inline_items(a, b):
                if not masked[s:e].strip():
                    continue
                m = _MARKER.match(masked, s, e)
                kind = ("num" if m.group("num") else "bullet") if m else ""
                if kind and not masked[m.end() if m else s : e].strip():
                    kind = ""
                indent = len(masked[s:e]) - len(masked[s:e].lstrip())
                out.append((s, e, m.end() if m and kind else s, indent, kind))
        return out

    def _inline_items(self, a: int, b: int) -> list[tuple[int, int]]:
        """A line cut before "1) ... 2) ..." numbers written inline, when they count up."""
        found = list(_INLINE_NUMBER.finditer(self.doc.masked, a, b))
        numbers = [int(m.group(1)) for m in found]
        if len(found) < 2 or numbers != list(range(1, len(found) + 1)):
            return [(a, b)]
        cuts = [a] + [m.start() for m in found if m.start() > a] + [b]
        return [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1)]

    def _intro(self, a: int, b: int) -> tuple[int, int] | None:
        """The head of a line that ends in a colon ("Plan a trip:"), if it is one."""
        stripped = self.doc.masked[a:b].rstrip()
        if not stripped.endswith((":", "：")):
            return None
        head = (a, a + len(stripped) - 1)
        lo, hi = self.doc.tokens(*head)
        if lo == hi or self.doc.skip(lo, hi)[0] == hi:
            return None
        return head

    def _is_payload(self, head: tuple[int, int]) -> bool:
        doc = self.doc
        lo, hi = doc.tokens(*head)
        for i in range(lo, hi):
            raw = doc.raws[i]
            if doc.cjk[i] and any(m in raw for m in _PAYLOAD_CJK):
                return True
            if raw.casefold() in _PAYLOAD:
                return True
        return False

    def _acts(self, a: int, b: int) -> bool:
        return any(self._is_action(s, e) for s, e in self._sentences(a, b))

    def _item(self, a: int, b: int, numbered: bool) -> _Node:
        """One list item: always a requirement, compound if it holds several."""
        self.numbered |= numbered
        nodes = self._unit(a, b, item=True)
        if len(nodes) == 1:
            node = nodes[0]
        elif nodes:  # text before a section head, then the section
            node = _Node(a, b, nodes[0].lead, nodes)
        else:  # a head that asks for nothing over no clause: the item is still one
            node = _Node(a, b, (a, b))
            self.scan.append((a, b))
        node.kind = "item"
        return node

    def _unit(self, a: int, b: int, item: bool = False) -> list[_Node]:
        """The nodes of one line or list item, with a head before a colon taken into account."""
        split = self._head(a, b)
        if split is None:
            return self._plain(a, b, item)
        start, colon = split
        nodes = self._plain(a, start, item) if start > a else []
        head = (start, colon)
        if self._is_payload(head):
            self.payload = colon + 1
            found = self._plain(*head, item)
            if found:
                found[-1].end = len(self.doc.text)
            return nodes + found
        body = self._clauses(colon + 1, b)
        if len(body) >= 2:
            self.scan.append(head)
            children = [_Node(s, e, (s, e)) for s, e in body]
            section = _Node(start, b, (start, body[0][1]), children, "section", False, head)
            return [*nodes, section]
        if body:
            self.scan.append(head)
            return [*nodes, _Node(start, b, body[0], kind="clause", strip=False)]
        if self._is_action(*head):
            self.scan.append(head)
            return [*nodes, _Node(start, b, head)]
        self.context.append((start, b))
        return nodes

    def _head(self, a: int, b: int) -> tuple[int, int] | None:
        """(start, colon) of a short head before a colon in ``[a, b)``, if there is one."""
        masked = self.doc.masked
        m = _HEAD_COLON.search(masked, a, b)
        if m is None:
            return None
        start = a
        for end in _SENTENCE_END.finditer(masked, a, m.start()):
            start = end.end()
        lo, hi = self.doc.tokens(start, m.start())
        if lo == hi or hi - lo > 12 or self.doc.skip(lo, hi)[0] == hi:
            return None
        return start, m.start()

    def _plain(self, a: int, b: int, item: bool) -> list[_Node]:
        clauses = self._clauses(a, b)
        if item and len(clauses) >= 2:
            return [_Node(a, b, clauses[0], [_Node(s, e, (s, e)) for s, e in clauses], "item")]
        if item:
            self.scan.append((a, b))
            return [_Node(a, b, clauses[0] if clauses else (a, b), kind="item")]
        return [_Node(s, e, (s, e)) for s, e in clauses]

    # -- sentences and clauses --

    def _clauses(self, a: int, b: int) -> list[tuple[int, int]]:
        """The action clauses in ``[a, b)``; sentences that ask for nothing go to context."""
        found: list[tuple[int, int]] = []
        for s, e in self._sentences(a, b):
            self.sentences += 1
            pieces = self._pieces(s, e)
            if pieces:
                found.extend(pieces)
                self.scan.extend(pieces)
            else:
                self.context.append((s, e))
        return found

    def _sentences(self, a: int, b: int) -> list[tuple[int, int]]:
        doc = self.doc
        out: list[tuple[int, int]] = []
        start = a
        for m in _SENTENCE_END.finditer(doc.masked, a, b):
            if m.group() == "." and self._abbreviation(m.start()):
                continue
            if doc.masked[start : m.end()].strip():
                out.append((start, m.end()))
            start = m.end()
        if doc.masked[start:b].strip():
            out.append((start, b))
        return out

    def _abbreviation(self, dot: int) -> bool:
        """Whether the full stop at ``dot`` ends "z.", "etc." or a date ("12. Juni")."""
        doc = self.doc
        i = bisect_left(doc.starts, dot) - 1
        if i < 0 or doc.ends[i] != dot:
            return False
        word = doc.norms[i]
        if word in _ABBREVIATIONS or (len(word) == 1 and not word.isdigit()):
            return True
        following = i + 1 < len(doc.norms) and "month" in doc.own[i + 1]
        return word.isdigit() and len(word) <= 2 and following

    def _pieces(self, s: int, e: int) -> list[tuple[int, int]]:
        """One sentence cut into action clauses; [] if the sentence asks for nothing."""
        doc = self.doc
        lo, hi = doc.tokens(s, e)
        cuts: list[tuple[int, str]] = []
        i = lo + 1
        while i < hi:
            gap = doc.gap(i)
            if ";" in gap or "；" in gap:
                cuts.append((i, ";"))
                i = max(i, doc.skip(i, hi)[0]) + 1  # "; with the result, estimate" stays whole
                continue
            comma = any(c in gap for c in _COMMAS)
            tags = doc.tags(i)
            if comma or tags & {"conj", "dep"}:
                j, kinds = doc.skip(i, hi)
                lead = doc.tags(j) if j < hi else _EMPTY
                if j < hi and doc.cjk[j] and not _LEXICON.cjk_lead(doc.norms[j], "verb", 4):
                    lead = lead - {"verb"}  # a CJK run starts a clause only with its verb
                question = "question" in lead and (
                    "conj" in kinds or (comma and self._opens_question(cuts, lo, i))
                )
                if "verb" in lead or question:
                    word = doc.raws[i] if i < j else ","
                    cuts.append((i, word))
                    i = j + 1
                    continue
            i += 1
        bounds = [s] + [doc.starts[c] for c, _ in cuts] + [e]
        pieces = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
        acts = [self._is_action(p, q) for p, q in pieces]
        if not any(acts):
            return []
        # a piece that asks for nothing joins its neighbour ("If you have time, compute...")
        merged: list[tuple[int, int]] = []
        last_acts = False
        for k, (p, q) in enumerate(pieces):
            if merged and not (acts[k] and last_acts):
                merged[-1] = (merged[-1][0], q)
                last_acts = last_acts or acts[k]
                continue
            if k:
                self.cuts.append(cuts[k - 1][1])
            merged.append((p, q))
            last_acts = acts[k]
        return merged

    def _opens_question(self, cuts: list[tuple[int, str]], lo: int, i: int) -> bool:
        start = cuts[-1][0] if cuts else lo
        j, _ = self.doc.skip(start, i)
        return j < i and "question" in self.doc.tags(j)

    def _is_action(self, a: int, b: int) -> bool:
        """Whether a clause asks for something: an action verb or question word first, a
        request ("I need..."), or a question mark."""
        doc = self.doc
        lo, hi = doc.tokens(a, b)
        if lo < hi:
            j, _ = doc.skip(lo, hi)
            if j < hi and doc.tags(j) & {"verb", "question"}:
                return True
            # Chinese and Japanese often put the object before the verb ("把…翻译成法语")
            if any(doc.cjk[k] and "verb" in doc.own[k] for k in range(lo, min(lo + 4, hi))):
                return True
            if any("request" in doc.tags(k) for k in range(lo, min(lo + 3, hi))):
                return True
        return doc.masked[a:b].rstrip().endswith(("?", "？", "吗"))


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Measured:
    """Everything about a task that does not depend on the weights."""

    values: tuple[float, ...]
    """Raw factor values, in the order of ``FACTORS``."""
    scores: tuple[float, ...]
    reasons: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    domains: tuple[str, ...]
    context: tuple[str, ...]


def _trim(doc: _Doc, a: int, b: int, strip: bool) -> str:
    """The user's text of ``[a, b)``, without a leading connective or trailing punctuation."""
    if strip:
        lo, hi = doc.tokens(a, b)
        i = lo
        while i < hi and doc.tags(i) & _STRIPPED and not doc.cjk[i]:
            i += doc.step(i)
        if lo < i < hi:
            a = doc.starts[i]
    text = doc.text[a:b].strip().lstrip(",;:，；：、 \t").strip()
    text = text.rstrip(",;:，；：、 \t")
    if text.endswith((".", "。")) and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text or doc.text[a:b].strip()


_SUPERLATIVE: Final = re.compile(r"\w{2,}(?:est|ste|sten)")
_MORE: Final = frozenset({"plus", "moins", "mas", "menos"})


def _superlative(doc: _Doc, i: int, hi: int) -> bool:
    """Whether tokens ``i..hi`` are "the cheapest (one)", "die günstigste", "le moins cher":
    a superlative with no noun after it, which picks from an earlier requirement's result."""
    words = doc.norms[i:hi]
    if words and words[-1] in {"one", "ones"}:
        words = words[:-1]
    if not 2 <= len(words) <= 3 or "det" not in doc.own[i]:
        return False
    if len(words) == 3:
        return words[1] in _MORE
    return bool(_SUPERLATIVE.fullmatch(words[1]))


def _depends(doc: _Doc, a: int, b: int) -> str | None:
    """The words in ``[a, b)`` that show it uses an earlier result, if any."""
    lo, hi = doc.tokens(a, b)
    i = lo
    while i < hi and not doc.cjk[i] and doc.tags(i) & _CONNECTORS:
        if "dep" in doc.tags(i):  # "then divide", "using the result, convert"
            return " ".join(doc.raws[i : i + doc.step(i)])
        i += doc.step(i)
    first = i
    for j in range(first, min(first + 4, hi)):  # German puts it after the verb: "teile es dann"
        if doc.cjk[j]:
            if _LEXICON.cjk_lead(doc.norms[j], "dep", 3):  # "然后计算…"
                return doc.raws[j]
        elif "dep" in doc.tags(j):
            return " ".join(doc.raws[j : j + doc.step(j)])
    if first < hi and "verb" in doc.own[first] and not doc.cjk[first]:
        if _SPANISH_CLITIC.fullmatch(doc.raws[first]):  # "resúmelo", "tradúcelo"
            return doc.raws[first]
        if _superlative(doc, first + 1, hi):  # "book the cheapest", "buche die günstigste"
            return " ".join(doc.raws[first + 1 : hi])
        k = first + 1
        if k < hi:
            if doc.glue[k] == "-" and doc.norms[k] in _FRENCH_OBJECT:
                return f"{doc.raws[first]}-{doc.raws[k]}"
            if "backref" in doc.own[k] and not doc.glue[k]:
                return f"{doc.raws[first]} {doc.raws[k]}"
            that = doc.norms[k] in {"that", "this"}
            if that and k + 1 < hi and doc.norms[k + 1] in _THAT_OBJECT:
                return f"{doc.raws[first]} {doc.raws[k]}"
    for j in range(first, min(first + 6, hi) - 1):
        # "the result by 3", "the summary into German"; not "the total cost" (an adjective)
        ends = j + 2 >= hi or "link" in doc.own[j + 2]
        if "det" in doc.own[j] and "product" in doc.own[j + 1] and ends:
            return f"{doc.raws[j]} {doc.raws[j + 1]}"
    for j in range(lo, hi):  # "10 % de ella", "5 % davon", "它的百分之五"
        if "backref_any" in doc.tags(j):
            return " ".join(doc.raws[j : j + doc.step(j)])
    return None


def _asks(doc: _Doc, a: int, b: int) -> str | None:
    lo, hi = doc.tokens(a, b)
    for j in range(lo, hi):
        if "ask" in doc.tags(j):
            return " ".join(doc.raws[j : j + doc.step(j)])
    return None


def _dated(doc: _Doc, j: int, lo: int, hi: int) -> bool:
    """Whether token ``j`` is a month name next to a number ("14 March", "am 12. Juni"): alone,
    "March", "Mars" and "May" are too often something else."""
    if "month" not in doc.own[j]:
        return False
    near = range(max(lo, j - 2), min(hi, j + 3))
    return any(doc.norms[k][:1].isdigit() for k in near)


def _domains(doc: _Doc, spans: Sequence[tuple[int, int]]) -> dict[str, str]:
    """Domain -> the first word that showed it, over the instruction spans."""
    found: dict[str, str] = {}
    for a, b in spans:
        lo, hi = doc.tokens(a, b)
        strong: dict[str, str] = {}
        weak: dict[str, str] = {}
        m = _ARITHMETIC.search(_DATE.sub(" ", doc.masked[a:b]))
        if m:
            strong["math"] = m.group()
        for j in range(lo, hi):
            word = " ".join(doc.raws[j : j + doc.step(j)])
            for tag in doc.tags(j):
                kind, _, name = tag.partition(":")
                if kind == "d":
                    strong.setdefault(name, word)
                elif kind == "w":
                    weak.setdefault(name, word)
            is_lang = "lang" in doc.own[j] and j > lo and "prep" in doc.own[j - 1]
            if is_lang:
                strong.setdefault("language", f"{doc.raws[j - 1]} {doc.raws[j]}")
            if _dated(doc, j, lo, hi):
                strong.setdefault("time", doc.raws[j])
        for name, word in weak.items():
            if not strong.keys() & _WEAK.get(name, frozenset()):
                strong.setdefault(name, word)
        for name, word in strong.items():
            found.setdefault(name, word)
    return found


def _tools(doc: _Doc, spans: Sequence[tuple[int, int]]) -> dict[str, str]:
    """Tool kind -> the evidence for it, over the instruction spans."""
    found: dict[str, str] = {}
    for a, b in spans:
        lo, hi = doc.tokens(a, b)
        chunk = doc.masked[a:b]
        m = _ARITHMETIC.search(_DATE.sub(" ", chunk))
        if m:
            found.setdefault("arithmetic", m.group())
        date = _DATE.search(chunk)
        if date:
            found.setdefault("dates", date.group())
        units: set[str] = set()
        number = False
        for j in range(lo, hi):
            word = " ".join(doc.raws[j : j + doc.step(j)])
            for tag in doc.tags(j):
                kind, _, name = tag.partition(":")
                if kind == "t":
                    found.setdefault(name, word)
            if "unit" in doc.own[j]:
                units.add(doc.norms[j])
            if _dated(doc, j, lo, hi):
                found.setdefault("dates", doc.raws[j])
            number |= doc.norms[j][:1].isdigit()
        if len(units) >= 2 and number:
            found.setdefault("conversion", " / ".join(sorted(units)[:2]))
        file_name = _FILE_NAME.search(doc.text, a, b)
        if file_name:
            found.setdefault("files", file_name.group())
    if doc.urls:
        found.setdefault("files", "a link")
    return found


def _listing(found: Mapping[str, str]) -> str:
    return ", ".join(f"{name} ({word!r})" for name, word in sorted(found.items()))


def _plural(n: int, word: str, many: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def _measure(task: str) -> _Measured:
    doc = _Doc(task)
    reader = _Reader(doc)
    nodes = reader.read()

    requirements: list[Requirement] = []
    links: list[str] = []
    asks: list[str] = []
    for k, node in enumerate(nodes):
        marker = _depends(doc, *node.lead) if k else None
        if marker:
            links.append(marker)
        leaves = node.children or [node]
        for c, leaf in enumerate(leaves):
            inner = _depends(doc, *leaf.lead) if node.children and c else None
            if inner:
                links.append(inner)
            ask = _asks(doc, *leaf.lead) if node.children else _asks(doc, node.start, node.end)
            if ask:
                asks.append(ask)
        parts = tuple(_trim(doc, c.start, c.end, c.strip) for c in node.children)
        text = _trim(doc, node.start, node.end, node.strip)
        requirements.append(Requirement(text, k - 1 if marker else None, parts))

    words = 0
    for m in _TOKEN.finditer(doc.text):
        words += (len(m.group()) + 1) // 2 if _CJK_CHAR.match(m.group()) else 1
    cut = len(task) > LIMIT
    domains = _domains(doc, reader.scan)
    tools = _tools(doc, reader.scan)
    n = len(requirements)
    leaves_total = sum(max(1, len(r.parts)) for r in requirements)
    goal = reader.goal is not None and n >= 2
    depth = len(links) + len(asks) + goal

    values = (float(words), float(n), float(len(domains)), float(len(tools)), float(depth))
    scores = (
        min(1.0, words / LENGTH_FULL),
        min(1.0, max(0, leaves_total - 1) / 5),
        min(1.0, max(0, len(domains) - 1) / 4),
        min(1.0, len(tools) / 4),
        min(1.0, depth / 3),
    )
    length = _plural(words, "word") + (f" in the first {LIMIT:,} characters" if cut else "")
    reasons = (
        length,
        _requirements_reason(reader, nodes, requirements),
        f"{_plural(len(domains), 'domain')}: {_listing(domains)}" if domains else "no domain",
        f"{_plural(len(tools), 'tool kind')}: {_listing(tools)}" if tools else "no tool",
        _depth_reason(links, asks, reader.goal if goal else None),
    )
    context = tuple(t for a, b in reader.context if (t := _trim(doc, a, b, strip=False)))
    return _Measured(values, scores, reasons, tuple(requirements), tuple(sorted(domains)), context)


def _requirements_reason(
    reader: _Reader, nodes: Sequence[_Node], requirements: Sequence[Requirement]
) -> str:
    n = len(requirements)
    head = _plural(n, "requirement")
    if not n:
        return "no requirement: the task asks for nothing"
    items = sum(node.kind in ("item", "section") for node in nodes)
    parts = sum(len(r.parts) for r in requirements)
    compound = sum(bool(r.parts) for r in requirements)
    how: list[str] = []
    if items == n and n > 1:
        how.append(f"a {'numbered' if reader.numbered else 'bulleted'} list of {n} items")
    if compound:
        how.append(f"{_plural(compound, 'compound requirement')} with {parts} parts")
    if reader.cuts:
        shown = ", ".join(repr(c) for c in dict.fromkeys(reader.cuts))
        how.append(f"clauses split at {shown}")
    if not how:
        how.append(f"{_plural(reader.sentences, 'sentence')}")
    return f"{head}: {'; '.join(how)}"


def _depth_reason(links: Sequence[str], asks: Sequence[str], goal: str | None) -> str:
    if not links and not asks and not goal:
        return "no depth: no requirement uses another's result, nothing to explain or compare"
    said: list[str] = []
    if goal:
        said.append(f"the requirements serve one goal ({goal!r})")
    if links:
        shown = ", ".join(repr(w) for w in dict.fromkeys(links))
        said.append(f"{_plural(len(links), 'dependency', 'dependencies')} ({shown})")
    if asks:
        shown = ", ".join(repr(w) for w in dict.fromkeys(asks))
        said.append(f"{_plural(len(asks), 'causal or comparative ask')} ({shown})")
    steps = len(links) + len(asks) + bool(goal)
    return f"{_plural(steps, 'depth step')}: {', '.join(said)}"


# --- deciding --------------------------------------------------------------------------------


def _score(scores: Sequence[float], weights: Weights) -> float:
    w = (weights.length, weights.requirements, weights.domains, weights.tools, weights.depth)
    total = sum(w)
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, sum(x * y for x, y in zip(scores, w, strict=True)) / total))


_Rule = Literal["empty", "compound", "broad", "broad-one", "one", "linked", "independent"]


def _choose(m: _Measured, weights: Weights) -> tuple[float, Strategy, _Rule]:
    """The score, the strategy, and the rule that chose it (see the module docstring)."""
    score = _score(m.scores, weights)
    n = len(m.requirements)
    spread = len(m.domains)
    if n == 0:
        return score, Strategy.SINGLE, "empty"
    if any(r.parts for r in m.requirements):
        return score, Strategy.HIERARCHICAL, "compound"
    chain = all(r.after == k - 1 for k, r in enumerate(m.requirements) if k)
    tied = m.values[4] >= weights.ties
    broad = n >= weights.many and spread >= weights.spread and score >= weights.hierarchical
    broad = broad and tied
    if broad and not chain:
        return score, Strategy.HIERARCHICAL, "broad"
    if n == 1:
        if spread >= weights.spread and score >= weights.single:
            return score, Strategy.HIERARCHICAL, "broad-one"
        return score, Strategy.SINGLE, "one"
    if any(r.after is not None for r in m.requirements):
        return score, Strategy.SEQUENTIAL, "linked"
    return score, Strategy.PARALLEL, "independent"


def _explain(m: _Measured, weights: Weights, score: float, rule: _Rule) -> str:
    n = len(m.requirements)
    spread = len(m.domains)
    match rule:
        case "empty":
            return "The task asks for nothing, so a single agent is enough."
        case "compound":
            k, parts = next((k, len(r.parts)) for k, r in enumerate(m.requirements) if r.parts)
            return (
                f"Requirement {k + 1} of {n} is itself compound ({parts} parts), "
                "so a coordinator should plan each section."
            )
        case "broad":
            return (
                f"{n} requirements over {spread} domains, tied together by "
                f"{_plural(int(m.values[4]), 'depth step')}, with score {score:.2f} "
                f"(at least {weights.hierarchical:.2f}) need a coordinator."
            )
        case "broad-one":
            return (
                f"One broad requirement over {spread} domains with score {score:.2f} "
                f"(at least {weights.single:.2f}) needs breaking down by a coordinator."
            )
        case "one":
            return f"One requirement (score {score:.2f}), so a single agent can do it."
        case "linked":
            k, after = next(
                (k, r.after) for k, r in enumerate(m.requirements) if r.after is not None
            )
            return (
                f"{n} requirements where requirement {k + 1} uses the result of requirement "
                f"{after + 1}, so they run in order."
            )
        case "independent":
            return (
                f"{n} independent requirements, none uses another's result, "
                "so they run in parallel."
            )
        case _:
            assert_never(rule)


class ComplexityAnalyzer:
    """Scores tasks and picks their strategy. Holds only its (immutable) weights, so one
    instance can be shared by any number of tasks and threads."""

    def __init__(self, weights: Weights | None = None) -> None:
        self._weights = weights if weights is not None else DEFAULT_WEIGHTS

    @property
    def weights(self) -> Weights:
        return self._weights

    def analyze(self, task: str) -> Analysis:
        """The analysis of ``task``. Never raises for a ``str``; reads its first ``LIMIT``
        characters."""
        measured = _measure(task)
        score, strategy, rule = _choose(measured, self._weights)
        factors = tuple(
            Factor(name, value, score_, reason)
            for name, value, score_, reason in zip(
                FACTORS, measured.values, measured.scores, measured.reasons, strict=True
            )
        )
        return Analysis(
            score=score,
            factors=factors,
            strategy=strategy,
            reason=_explain(measured, self._weights, score, rule),
            requirements=measured.requirements,
            domains=measured.domains,
            context=measured.context,
        )


# --- calibration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    weights: Weights
    accuracy: float
    """Share of the examples the fitted weights label right."""
    start_accuracy: float
    """The same share for the weights the search started from."""


_FACTOR_GRID: Final = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0)
_GRIDS: Final[Mapping[str, tuple[float, ...]]] = {
    **{name: _FACTOR_GRID for name in FACTORS},
    "hierarchical": tuple(k / 40 for k in range(41)),
    "single": tuple(k / 40 for k in range(41)),
    "many": (2.0, 3.0, 4.0, 5.0, 6.0),
    "ties": (0.0, 1.0, 2.0, 3.0),
    "spread": (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
}
_PASSES: Final = 4


def calibrate(
    examples: Sequence[tuple[str, Strategy]], start: Weights | None = None
) -> Calibration:
    """Weights fitted to labelled tasks by coordinate search over a grid of each parameter.

    Each pass tries every grid value of every parameter in turn and moves only if some value
    labels strictly more examples right (to the middle one of the values that do best, for
    margin), so the result never scores below ``start`` on ``examples`` and the search is
    deterministic. ``start`` is not changed (it is frozen).

    Raises:
        InvalidParams: ``examples`` is empty.
    """
    if not examples:
        raise InvalidParams("calibration needs at least one labelled example")
    begin = start if start is not None else DEFAULT_WEIGHTS
    measured = [(_measure(task), Strategy(want)) for task, want in examples]

    def right(weights: Weights) -> int:
        return sum(_choose(m, weights)[1] is want for m, want in measured)

    best, best_right = begin, right(begin)
    first = best_right
    for _ in range(_PASSES):
        improved = False
        for name, grid in _GRIDS.items():
            counts = [right(replace(best, **{name: value})) for value in grid]
            top = max(counts)
            if top > best_right:
                # of the values that do best, the middle one: the widest margin either side
                winners = [value for value, count in zip(grid, counts, strict=True) if count == top]
                best, best_right = replace(best, **{name: winners[len(winners) // 2]}), top
                improved = True
        if not improved:
            break
    total = len(measured)
    return Calibration(best, best_right / total, first / total)
