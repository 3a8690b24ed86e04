"""The segmenter: a task cut into requirements, context and payload.

The text is cut into requirements at, in order of strength: list items (a number or letter with
``.`` or ``)``, or a bullet ``-`` ``•`` ``*`` only at the start of a line and followed by white
space, so ``3 * 4`` stays arithmetic), sentences, semicolons, and commas or coordinating
conjunctions (*and, also, und, außerdem, et, aussi, y, además...*) only when the clause after
them starts with an action verb or (after a conjunction) a question word, so "salt and pepper"
and "Romeo and Juliet" stay whole. A sentence that asks for nothing ("The report has 40
pages.") is context, not a requirement. A short head before a colon names a section
("Research: find a, compare b"); a section or list item holding two or more action clauses is
one node with children, unless it is the whole task, when its head is the goal and its clauses
are the requirements. A head that points at material ("Summarize this paragraph:") makes the
rest of the text payload: it is neither cut up nor searched.
"""

# The word and punctuation classes hold Cyrillic, CJK and full-width characters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Final

from gateway.routing.complexity.document import Document
from gateway.routing.complexity.lexicon import EMPTY, LEXICON


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
_MARKER: Final = re.compile(
    r"[ \t]*(?:(?P<num>\(?\d{1,3}[.)]|\(?[A-Za-z]\)|[A-Za-z]\.)|(?P<bullet>[-*•·–—▪‣◦►]))[ \t]+"
)
_INLINE_NUMBER: Final = re.compile(r"(?<!\S)\(?(\d{1,2})\)[ \t]+")
_SENTENCE_END: Final = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s|$)|[。！？]+")
_HEAD_COLON: Final = re.compile(r"[:：](?=\s|$)")
_ABBREVIATIONS: Final = _words(
    "eg ie etc vs dr mr mrs ms prof st no nr approx ca bzw usw zb sr sra mme mlle"
)
_COMMAS: Final = ",，、"


@dataclass(slots=True)
class Node:
    """A requirement as the segmenter finds it: spans of the text, with its sub-requirements
    as ``children`` when it is compound. Mutable while the reader builds it."""

    start: int
    end: int
    lead: tuple[int, int]
    """The span whose opening words tell whether the node uses an earlier result."""
    children: list[Node] = field(default_factory=list)
    kind: str = "clause"  # "clause", "item" (of a list), "section" or "group" (a list's intro)
    strip: bool = True
    """Whether a leading connective is cut from the text ("then divide..." -> "divide...")."""
    head: tuple[int, int] | None = None
    """The words before the colon of a section or list intro."""


class Reader:
    """Cuts a task into requirement nodes, context sentences and payload."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.context: list[tuple[int, int]] = []
        self.scan: list[tuple[int, int]] = []  # instruction spans searched for domains
        self.sentences = 0
        self.cuts: list[str] = []
        self.numbered = False
        self.payload = len(doc.text)
        self.goal: str | None = None

    # -- lines, lists and sections --

    def read(self) -> list[Node]:
        lines = self._lines()
        nodes: list[Node] = []
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
                    nodes.append(Node(content, end, head, kind="item" if marker else "clause"))
                    self.scan.append(head)
                    self.payload = lines[k + 1][0]
                    break
                self.scan.append(head)
                children = [self._item(g[2], g[1], g[4] == "num") for g in group]
                end = group[-1][1]
                nodes.append(Node(content, end, head, children, "group", False, head))
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

    def _item(self, a: int, b: int, numbered: bool) -> Node:
        """One list item: always a requirement, compound if it holds several."""
        self.numbered |= numbered
        nodes = self._unit(a, b, item=True)
        if len(nodes) == 1:
            node = nodes[0]
        elif nodes:  # text before a section head, then the section
            node = Node(a, b, nodes[0].lead, nodes)
        else:  # a head that asks for nothing over no clause: the item is still one
            node = Node(a, b, (a, b))
            self.scan.append((a, b))
        node.kind = "item"
        return node

    def _unit(self, a: int, b: int, item: bool = False) -> list[Node]:
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
            children = [Node(s, e, (s, e)) for s, e in body]
            section = Node(start, b, (start, body[0][1]), children, "section", False, head)
            return [*nodes, section]
        if body:
            self.scan.append(head)
            return [*nodes, Node(start, b, body[0], kind="clause", strip=False)]
        if self._is_action(*head):
            self.scan.append(head)
            return [*nodes, Node(start, b, head)]
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

    def _plain(self, a: int, b: int, item: bool) -> list[Node]:
        clauses = self._clauses(a, b)
        if item and len(clauses) >= 2:
            return [Node(a, b, clauses[0], [Node(s, e, (s, e)) for s, e in clauses], "item")]
        if item:
            self.scan.append((a, b))
            return [Node(a, b, clauses[0] if clauses else (a, b), kind="item")]
        return [Node(s, e, (s, e)) for s, e in clauses]

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
                lead = doc.tags(j) if j < hi else EMPTY
                if j < hi and doc.cjk[j] and not LEXICON.cjk_lead(doc.norms[j], "verb", 4):
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
