"""The five factors of a task, measured, with the reasons a user can read.

Each factor is scored 0..1:

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
"""

# Its patterns hold full-width punctuation and a multiplication sign on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.routing.complexity.analysis import Requirement
from gateway.routing.complexity.document import CONNECTORS, LIMIT, TOKEN, Document
from gateway.routing.complexity.lexicon import CJK_CHAR, LEXICON
from gateway.routing.complexity.segmenter import Node, Reader

LENGTH_FULL: Final = 120
"""Words at which the length factor reaches 1."""
_STRIPPED: Final = frozenset({"conj", "dep", "seq"})
_WEAK: Final[Mapping[str, frozenset[str]]] = {
    "writing": frozenset({"code", "data"}),
    "research": frozenset({"code", "data", "memory"}),
}
"""A weak domain word ("write", "find") counts only if the clause names none of these."""
_THAT_OBJECT: Final = frozenset({"by", "to", "into", "in", "with", "from", "for", "as"})
_FRENCH_OBJECT: Final = frozenset({"le", "la", "les", "en"})
_SPANISH_CLITIC: Final = re.compile(r"\w*[áéíóú]\w*(?:lo|la|los|las|le|les)", re.IGNORECASE)
_FILE_NAME: Final = re.compile(
    r"\b[\w-]+\.(?:csv|xlsx?|json|pdf|txt|docx?|pptx?|py|js|ts|md|xml|html|zip|png|jpe?g)\b",
    re.IGNORECASE,
)
_NUMBER: Final = r"(?<![\d.,])\d+(?:[.,]\d+)*"
_ARITHMETIC: Final = re.compile(
    rf"{_NUMBER}(?:\s*(?:[*×x·÷/^+=]|\s-\s)\s*\(?\d+(?:[.,]\d+)*\)?)+|{_NUMBER}\s*%"
)
"""Numbers joined by operators ("3 * 4 + 2", "12*7") or a percentage."""
_DATE: Final = re.compile(
    r"\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}\b"
)


@dataclass(frozen=True, slots=True)
class Measured:
    """Everything about a task that does not depend on the weights."""

    values: tuple[float, ...]
    """Raw factor values, in the order of ``FACTORS``."""
    scores: tuple[float, ...]
    reasons: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    domains: tuple[str, ...]
    context: tuple[str, ...]


def _trim(doc: Document, a: int, b: int, strip: bool) -> str:
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


def _superlative(doc: Document, i: int, hi: int) -> bool:
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


def _depends(doc: Document, a: int, b: int) -> str | None:
    """The words in ``[a, b)`` that show it uses an earlier result, if any."""
    lo, hi = doc.tokens(a, b)
    i = lo
    while i < hi and not doc.cjk[i] and doc.tags(i) & CONNECTORS:
        if "dep" in doc.tags(i):  # "then divide", "using the result, convert"
            return " ".join(doc.raws[i : i + doc.step(i)])
        i += doc.step(i)
    first = i
    for j in range(first, min(first + 4, hi)):  # German puts it after the verb: "teile es dann"
        if doc.cjk[j]:
            if LEXICON.cjk_lead(doc.norms[j], "dep", 3):  # "然后计算…"
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


def _asks(doc: Document, a: int, b: int) -> str | None:
    lo, hi = doc.tokens(a, b)
    for j in range(lo, hi):
        if "ask" in doc.tags(j):
            return " ".join(doc.raws[j : j + doc.step(j)])
    return None


def _dated(doc: Document, j: int, lo: int, hi: int) -> bool:
    """Whether token ``j`` is a month name next to a number ("14 March", "am 12. Juni"): alone,
    "March", "Mars" and "May" are too often something else."""
    if "month" not in doc.own[j]:
        return False
    near = range(max(lo, j - 2), min(hi, j + 3))
    return any(doc.norms[k][:1].isdigit() for k in near)


def _domains(doc: Document, spans: Sequence[tuple[int, int]]) -> dict[str, str]:
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


def _tools(doc: Document, spans: Sequence[tuple[int, int]]) -> dict[str, str]:
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


def plural(n: int, word: str, many: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def measure(task: str) -> Measured:
    """The weight-free measures of ``task`` (its first ``LIMIT`` characters). Never raises
    for a ``str``."""
    doc = Document(task)
    reader = Reader(doc)
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
    for m in TOKEN.finditer(doc.text):
        words += (len(m.group()) + 1) // 2 if CJK_CHAR.match(m.group()) else 1
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
    length = plural(words, "word") + (f" in the first {LIMIT:,} characters" if cut else "")
    reasons = (
        length,
        _requirements_reason(reader, nodes, requirements),
        f"{plural(len(domains), 'domain')}: {_listing(domains)}" if domains else "no domain",
        f"{plural(len(tools), 'tool kind')}: {_listing(tools)}" if tools else "no tool",
        _depth_reason(links, asks, reader.goal if goal else None),
    )
    context = tuple(t for a, b in reader.context if (t := _trim(doc, a, b, strip=False)))
    return Measured(values, scores, reasons, tuple(requirements), tuple(sorted(domains)), context)


def _requirements_reason(
    reader: Reader, nodes: Sequence[Node], requirements: Sequence[Requirement]
) -> str:
    n = len(requirements)
    head = plural(n, "requirement")
    if not n:
        return "no requirement: the task asks for nothing"
    items = sum(node.kind in ("item", "section") for node in nodes)
    parts = sum(len(r.parts) for r in requirements)
    compound = sum(bool(r.parts) for r in requirements)
    how: list[str] = []
    if items == n and n > 1:
        how.append(f"a {'numbered' if reader.numbered else 'bulleted'} list of {n} items")
    if compound:
        how.append(f"{plural(compound, 'compound requirement')} with {parts} parts")
    if reader.cuts:
        shown = ", ".join(repr(c) for c in dict.fromkeys(reader.cuts))
        how.append(f"clauses split at {shown}")
    if not how:
        how.append(f"{plural(reader.sentences, 'sentence')}")
    return f"{head}: {'; '.join(how)}"


def _depth_reason(links: Sequence[str], asks: Sequence[str], goal: str | None) -> str:
    if not links and not asks and not goal:
        return "no depth: no requirement uses another's result, nothing to explain or compare"
    said: list[str] = []
    if goal:
        said.append(f"the requirements serve one goal ({goal!r})")
    if links:
        shown = ", ".join(repr(w) for w in dict.fromkeys(links))
        said.append(f"{plural(len(links), 'dependency', 'dependencies')} ({shown})")
    if asks:
        shown = ", ".join(repr(w) for w in dict.fromkeys(asks))
        said.append(f"{plural(len(asks), 'causal or comparative ask')} ({shown})")
    steps = len(links) + len(asks) + bool(goal)
    return f"{plural(steps, 'depth step')}: {', '.join(said)}"
