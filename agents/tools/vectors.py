"""Tool and skill vectors kept on disk, so a restart does not embed a catalog again.

One file per embedding model, ``<folder>/<model id>.npz``, maps the SHA-256 of a text to its
vector. A model of another name or build gets another file, so a vector is never read back
for a model that did not make it. The file is rewritten whole (to a temporary file, then
renamed over the old one) when texts are added: a catalog has hundreds of entries at most,
and a reader never sees half a file. A file that cannot be read is treated as empty and
replaced on the next write.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

MAX_ENTRIES: Final = 20_000
"""Most vectors one file keeps (about 30 MB at 384 dimensions); past it, the oldest go."""
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class VectorFile:
    """Vectors by text, for one model, in one file under ``folder``. Thread-safe."""

    def __init__(self, folder: str | Path, model: str) -> None:
        self.path = Path(folder) / f"{_UNSAFE.sub('_', model)}.npz"
        self._lock = threading.Lock()
        self._vectors: dict[str, Vector] | None = None

    def _loaded(self) -> dict[str, Vector]:
        if self._vectors is None:
            self._vectors = {}
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    keys, rows = data["keys"], data["vectors"]
                    if keys.ndim == 1 and rows.ndim == 2 and len(keys) == len(rows):
                        self._vectors = {
                            str(k): rows[i].astype(np.float32) for i, k in enumerate(keys)
                        }
            except (OSError, KeyError, ValueError, zipfile.BadZipFile):
                pass  # missing or unreadable: start empty, the next write replaces it
        return self._vectors

    def get(self, texts: Iterable[str]) -> dict[str, Vector]:
        """The stored vectors of those ``texts`` that have one."""
        with self._lock:
            stored = self._loaded()
            found = {}
            for text in texts:
                vector = stored.get(text_key(text))
                if vector is not None:
                    found[text] = vector
            return found

    def put(self, vectors: Mapping[str, Vector]) -> None:
        """Add ``vectors`` (text -> vector) and write the file.

        Raises:
            OSError: the folder cannot be written (the vectors stay in memory).
        """
        if not vectors:
            return
        with self._lock:
            stored = self._loaded()
            for text, vector in vectors.items():
                stored.pop(text_key(text), None)
                stored[text_key(text)] = np.asarray(vector, dtype=np.float32)
            while len(stored) > MAX_ENTRIES:
                del stored[next(iter(stored))]
            keys = np.array(list(stored), dtype=str)
            rows = np.stack(list(stored.values()))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, keys=keys, vectors=rows)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
