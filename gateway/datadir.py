"""The data folder of one gateway: its task store, memory and trace file, held by one
gateway at a time.

Two gateways on one folder would share a task store and a trace file, and the second would
fail deep inside Milvus-lite on the memory's lock. ``effmesh serve`` takes the folder's own
lock first (an exclusive ``flock`` on ``<folder>/gateway.lock``, released by the system when
the process ends, however it ends) and stops at once with a message that names the folder.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

LOCK_FILE: Final = "gateway.lock"


class DataDirInUse(Exception):
    """Another process holds the folder; ``str()`` says which folder, and by whom."""

    def __init__(self, folder: Path, holder: str) -> None:
        self.folder = folder
        self.holder = holder
        by = f"another gateway (pid {holder})" if holder else "another gateway"
        super().__init__(f"the data folder {folder} is in use by {by}")


@contextlib.contextmanager
def held(folder: Path) -> Iterator[None]:
    """Hold ``folder`` (which must exist) for the ``with`` block: the lock file records this
    process's id for the next one to report.

    Raises:
        DataDirInUse: another process holds it.
    """
    if sys.platform == "win32":  # no flock: Milvus-lite's own lock on the memory still applies
        yield
        return
    import fcntl  # noqa: PLC0415 - POSIX only

    path = folder / LOCK_FILE
    with path.open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise DataDirInUse(folder.resolve(), lock.read().strip()) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
