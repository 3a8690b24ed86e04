"""The gateway's logging: its set-up for ``effmesh serve``, and messages that would repeat.

The gateway's own loggers are named ``effmesh.<part>`` (``effmesh.federation``); libraries
keep theirs. ``effmesh serve --log-level`` sets one level for all of them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

LEVELS: Final = ("debug", "info", "warning", "error")


def configure(level: str) -> None:
    """Python logging on stderr at ``level`` (one of :data:`LEVELS`), for the gateway's own
    loggers and every library's. Replaces any handlers the process had."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


class Once:
    """Logs a message at its level the first time it is seen, and at debug after that: a
    peer that retries every few seconds, refused for the same reason, is one warning.

    Remembers at most ``limit`` messages (then forgets them all and starts again).
    """

    def __init__(self, logger: logging.Logger, limit: int = 1024) -> None:
        self.logger = logger
        self.limit = limit
        self._seen: set[str] = set()

    def log(self, level: int, message: str, *args: Any) -> None:
        text = message % args if args else message
        if text in self._seen:
            level = logging.DEBUG
        elif len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen.add(text)
        self.logger.log(level, "%s", text)
