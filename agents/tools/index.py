"""The tool index: tools ranked against a request, by meaning and by shared words.

Specialists rank their tools with it before a prompt is built; the router ranks the skills a
plan may use with the same index, so both see a tool as a :class:`ToolInfo`.

A tool's vector is computed once per distinct tool text and kept: in memory, and in a
:class:`agents.tools.vectors.VectorFile` under the data folder when one is given, so a restart
reads a catalog's vectors back instead of embedding it again. The request's own vector comes
from the embedder, which keeps recent ones (memory recall and the router ask for the same
text).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from agents.embeddings import query_text
from agents.tools.vectors import VectorFile

Vectors = npt.NDArray[np.float32]
Embed = Callable[[Sequence[str]], Vectors]
"""Texts -> one L2-normalized row per text."""


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A tool as the index and a model's prompt see it: a registry name, a description and
    an input schema."""

    name: str
    description: str
    schema: Mapping[str, Any]


_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_STOP: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "by",
        "from",
        "at",
        "as",
        "is",
        "are",
        "be",
        "it",
        "this",
        "that",
        "my",
        "me",
        "i",
        "you",
        "your",
        "please",
        "can",
        "could",
        "would",
        "will",
        "should",
        "into",
        "about",
        "all",
        "any",
        "get",
    ]
)


def _stems(text: str) -> set[str]:
    words = _WORD.findall(re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower())
    out = set()
    for word in words:
        if word in _STOP or len(word) < 2:
            continue
        stem = word
        for suffix in ("ing", "ies", "es", "ed", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                stem = word[: -len(suffix)]
                break
        out.add(stem)
    return out


class ToolIndex:
    """Ranks tools against a request by two signals fused by rank: meaning (embeddings) and
    shared words (BM25 over name, description and parameter names, with the catalog as the
    corpus). Tool vectors are computed once per distinct tool text (``vectors``: also kept on
    disk); the matrix of a catalog is kept until the catalog changes.

    Embeddings alone miss exact names (a file path, "issue"); words alone miss paraphrase and
    other languages; reciprocal-rank fusion needs no tuning of their scales.
    """

    FUSION_K: Final = 10

    def __init__(
        self,
        embed_passages: Embed | None,
        embed_queries: Embed | None,
        *,
        vectors: VectorFile | None = None,
    ) -> None:
        self._passages = embed_passages
        self._queries = embed_queries
        self._file = vectors
        self._cache: dict[str, Vectors] = {}
        self._catalog: tuple[tuple[str, ...], Vectors] | None = None
        self.embedded = 0
        """Tool texts this index has had embedded (not read from memory or disk)."""

    @staticmethod
    def _text(tool: ToolInfo) -> str:
        words = tool.name.replace(".", " ").replace("_", " ").replace("-", " ")
        return f"{words}: {tool.description}"

    @staticmethod
    def _words(tool: ToolInfo) -> set[str]:
        props = tool.schema.get("properties")
        names = " ".join(props) if isinstance(props, Mapping) else ""
        return _stems(f"{ToolIndex._text(tool)} {names}")

    def _vectors(self, tools: Sequence[ToolInfo]) -> Vectors | None:
        # Tool texts are encoded as queries: matching a request to a tool description is a
        # symmetric task for E5 models, and measured better here than the passage side.
        if self._queries is None:
            return None
        texts = tuple(self._text(t) for t in tools)
        if self._catalog is not None and self._catalog[0] == texts:
            return self._catalog[1]
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing and self._file is not None:
            self._cache.update(self._file.get(missing))
            missing = [t for t in missing if t not in self._cache]
        if missing:
            fresh = dict(zip(missing, self._queries(missing), strict=True))
            self.embedded += len(missing)
            self._cache.update(fresh)
            if self._file is not None:
                with contextlib.suppress(OSError):  # a read-only data folder: memory only
                    self._file.put(fresh)
        matrix = np.stack([self._cache[t] for t in texts])
        self._catalog = (texts, matrix)
        return matrix

    @staticmethod
    def _bm25(request: str, docs: Sequence[set[str]]) -> list[float]:
        wanted = _stems(request)
        n = len(docs)
        mean = sum(len(d) for d in docs) / n if n else 1.0
        idf = {
            w: math.log(1 + (n - df + 0.5) / (df + 0.5))
            for w in wanted
            for df in [sum(1 for d in docs if w in d)]
        }
        return [
            sum(idf[w] * 2.2 / (1 + 1.2 * (0.25 + 0.75 * len(d) / mean)) for w in wanted if w in d)
            for d in docs
        ]

    def query_vector(self, text: str) -> Vectors | None:
        """``text``'s vector as a query (None without an embedder). The embedder keeps recent
        ones, so the router, tool choice and memory recall share one per request."""
        if self._queries is None:
            return None
        vector: Vectors = self._queries([query_text(text)])[0]
        return vector

    def ranked(self, request: str, tools: Sequence[ToolInfo]) -> list[ToolInfo]:
        """``tools``, most relevant to ``request`` first (ties by name)."""
        if not tools:
            return []
        lexical = self._bm25(request, [self._words(t) for t in tools])
        signals = [lexical]
        vectors = self._vectors(tools)
        query = self.query_vector(request) if vectors is not None else None
        if vectors is not None and query is not None:
            signals.append([float(x) for x in vectors @ query])
        fused = [0.0] * len(tools)
        for scores in signals:
            order = sorted(range(len(tools)), key=lambda i: (-scores[i], tools[i].name))
            for rank, i in enumerate(order):
                fused[i] += 1.0 / (self.FUSION_K + rank + 1)
        best = sorted(range(len(tools)), key=lambda i: (-fused[i], tools[i].name))
        return [tools[i] for i in best]
