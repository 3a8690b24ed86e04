"""Short-term memory: the recent turns of each conversation, bounded in tokens.

A window holds the turns of one ``(scope, context)`` pair. When a window grows past
``max_tokens``, its oldest turns are taken out until it holds at most ``keep_tokens`` (the
newest turn always stays, unless it alone is over ``max_tokens``); the turns taken out come
back as a :class:`Fold`, which the service summarizes into one long-term record. Folding down
to ``keep_tokens`` rather than to ``max_tokens`` means a long conversation writes one summary
per half window, not one per turn. When more than ``max_windows`` windows are open, the least
recently used one is folded whole.

Lives on the event loop: not thread-safe, no I/O. The summarizer is pluggable
(:class:`Summarizer`); the default, :class:`ExtractiveSummarizer`, is deterministic.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, TypeAlias

from agents.memory.records import MAX_TEXT_CHARS

Role: TypeAlias = Literal["user", "agent", "system", "tool"]
ROLES: Final[tuple[Role, ...]] = ("user", "agent", "system", "tool")
TokenCounter: TypeAlias = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """About how many tokens a small model's tokenizer makes of ``text``: a quarter of its
    UTF-8 bytes (close for English BPE vocabularies, generous for CJK), at least 1."""
    return max(1, math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4))


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation."""

    role: Role
    text: str
    agent: str = ""


@dataclass(frozen=True, slots=True)
class Fold:
    """Turns taken out of a window, oldest first, to be summarized into long-term memory."""

    scope: str
    context: str
    turns: tuple[Turn, ...]


class Summarizer(Protocol):
    def __call__(self, turns: Sequence[Turn], /) -> str:
        """A non-empty text of at most ``MAX_TEXT_CHARS`` characters standing for ``turns``."""
        ...


@dataclass(frozen=True, slots=True)
class ExtractiveSummarizer:
    """One line per turn, ``role (agent): text``, each line cut at a word boundary to
    ``line_chars``; if the lines do not fit ``max_chars``, the middle ones give way to a
    note saying how many were left out. Deterministic: same turns, same text."""

    line_chars: int = 300
    max_chars: int = MAX_TEXT_CHARS

    def __call__(self, turns: Sequence[Turn], /) -> str:
        head = f"Summary of {len(turns)} earlier turns:"
        lines = [self._line(t) for t in turns]
        text = "\n".join([head, *lines])
        n = len(lines)
        for omitted in range(1, n + 1):
            if len(text) <= self.max_chars:
                break
            # Leave out the middle: the start says what the talk was about, the end where
            # it had got to.
            front = (n - omitted + 1) // 2
            back = lines[front + omitted :]
            text = "\n".join([head, *lines[:front], f"[{omitted} turns left out]", *back])
        return text[: self.max_chars]

    def _line(self, turn: Turn) -> str:
        who = f"{turn.role} ({turn.agent})" if turn.agent else turn.role
        text = re.sub(r"\s+", " ", turn.text).strip()
        if len(text) > self.line_chars:
            cut = text[: self.line_chars]
            space = cut.rfind(" ")
            text = (cut[:space] if space > self.line_chars // 2 else cut) + " ..."
        return f"{who}: {text}"


@dataclass(slots=True)
class _Window:
    turns: deque[tuple[Turn, int]] = field(default_factory=deque)
    tokens: int = 0


class ShortTermMemory:
    """Token-bounded windows of turns, one per ``(scope, context)``."""

    def __init__(
        self,
        *,
        max_tokens: int = 2048,
        keep_tokens: int | None = None,
        max_windows: int = 1024,
        count: TokenCounter = approx_tokens,
    ) -> None:
        """``keep_tokens`` defaults to half of ``max_tokens``."""
        if max_tokens < 1 or max_windows < 1:
            raise ValueError("max_tokens and max_windows must be positive")
        self.max_tokens = max_tokens
        self.keep_tokens = max_tokens // 2 if keep_tokens is None else keep_tokens
        if not 0 <= self.keep_tokens <= max_tokens:
            raise ValueError("keep_tokens must be in [0, max_tokens]")
        self.max_windows = max_windows
        self._count = count
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def add(self, scope: str, context: str, turn: Turn) -> list[Fold]:
        """Append ``turn`` to the window of ``(scope, context)``; the turns that no longer fit,
        in this or an evicted window, as folds (empty when nothing overflowed)."""
        key = (scope, context)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        self._windows.move_to_end(key)
        size = self._count(turn.text)
        window.turns.append((turn, size))
        window.tokens += size
        folds = []
        if window.tokens > self.max_tokens:
            out: list[Turn] = []
            while len(window.turns) > 1 and window.tokens > self.keep_tokens:
                old, old_size = window.turns.popleft()
                window.tokens -= old_size
                out.append(old)
            if window.tokens > self.max_tokens:  # the newest turn alone is too big
                out.append(window.turns.popleft()[0])
                window.tokens = 0
            folds.append(Fold(scope, context, tuple(out)))
        if not window.turns:
            del self._windows[key]
        while len(self._windows) > self.max_windows:
            (old_scope, old_context), evicted = self._windows.popitem(last=False)
            folds.append(Fold(old_scope, old_context, tuple(t for t, _ in evicted.turns)))
        return folds

    def window(self, scope: str, context: str) -> tuple[Turn, ...]:
        """The turns of ``(scope, context)``, oldest first."""
        window = self._windows.get((scope, context))
        return tuple(t for t, _ in window.turns) if window is not None else ()

    def tokens(self, scope: str, context: str) -> int:
        window = self._windows.get((scope, context))
        return window.tokens if window is not None else 0

    def forget(self, scope: str, context: str | None = None) -> None:
        """Drop the window of ``(scope, context)``, or every window of ``scope``."""
        for key in [k for k in self._windows if k[0] == scope and context in (None, k[1])]:
            del self._windows[key]

    def drain(self) -> list[Fold]:
        """Every open window as a fold, leaving none (for shutdown)."""
        folds = [
            Fold(scope, context, tuple(t for t, _ in w.turns))
            for (scope, context), w in self._windows.items()
        ]
        self._windows.clear()
        return folds
