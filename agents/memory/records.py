"""The values of the memory service, and the rules every stored value obeys.

Values are frozen dataclasses. The ``check_*`` functions are the one place where the limits of
a memory are enforced; both the agent's input parser (with the caller's JSON path) and the
service (for in-process callers) run them, so a row that reaches the store always obeys them.
Each raises :class:`adapters.errors.InvalidParams` with a short message quoting the value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from adapters.errors import InvalidParams, quote

Kind: TypeAlias = Literal["fact", "result", "summary"]
"""``fact``: something learned; ``result``: the outcome of a past task; ``summary``: turns
folded out of a short-term window (written by the service, storable by callers too)."""
KINDS: Final[tuple[Kind, ...]] = ("fact", "result", "summary")

MAX_TEXT_CHARS: Final = 8000
"""Longest memory text. Only its first ~512 tokens are embedded (the model's window); the
whole text is stored and returned."""
MAX_QUERY_CHARS: Final = 2000
MAX_LABEL_CHARS: Final = 128
"""Longest agent, task or context label."""
MAX_LIMIT: Final = 50
"""Most hits one search returns."""

ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
"""Memory ids: a UUID4 in hex, assigned by the service."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A memory to store, as a caller supplies it; the service adds id, scope and time."""

    text: str
    kind: Kind = "fact"
    agent: str = ""
    task: str = ""
    context: str = ""
    importance: float = 0.5


@dataclass(frozen=True, slots=True)
class Memory:
    """One long-term memory as stored. ``created_ms`` is Unix time in milliseconds."""

    memory_id: str
    scope: str
    text: str
    kind: Kind
    agent: str
    task: str
    context: str
    created_ms: int
    importance: float


@dataclass(frozen=True, slots=True)
class Hit:
    """A memory found by meaning; ``score`` is the cosine similarity (higher is closer)."""

    memory: Memory
    score: float


@dataclass(frozen=True, slots=True)
class Filters:
    """Conditions on the scalar fields; all given ones must hold. Empty: no condition."""

    kinds: tuple[Kind, ...] = ()
    agent: str | None = None
    task: str | None = None
    context: str | None = None
    min_importance: float | None = None
    created_after_ms: int | None = None
    created_before_ms: int | None = None

    def is_empty(self) -> bool:
        return self == _NO_FILTERS


_NO_FILTERS: Final = Filters()


# --- the rules -----------------------------------------------------------------------------


def type_name(value: object) -> str:
    """The JSON name of ``value``'s type, for messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list() | tuple():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: object, path: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """A non-blank string of at most ``limit`` characters, UTF-8 encodable, without NUL."""
    if type(value) is not str:
        raise InvalidParams(f"must be a string, not {type_name(value)}", path=path)
    if not value.strip():
        raise InvalidParams(f"{quote(value)} is empty", path=path)
    if len(value) > limit:
        raise InvalidParams(
            f"is {len(value)} characters long; the limit is {limit}: {quote(value)}", path=path
        )
    if "\x00" in value or not _encodable(value):
        raise InvalidParams(f"{quote(value)} holds a NUL or unencodable character", path=path)
    return value


def check_label(value: object, path: str) -> str:
    """A printable string (no control characters) of at most ``MAX_LABEL_CHARS``; may be empty."""
    if type(value) is not str:
        raise InvalidParams(f"must be a string, not {type_name(value)}", path=path)
    if len(value) > MAX_LABEL_CHARS:
        raise InvalidParams(
            f"{quote(value)} is longer than {MAX_LABEL_CHARS} characters", path=path
        )
    # isprintable() is False for control, separator-line and surrogate characters: none of
    # them can then reach a filter expression or the store's UTF-8 encoder.
    if not value.isprintable():
        raise InvalidParams(f"{quote(value)} holds a control character", path=path)
    return value


def check_kind(value: object, path: str) -> Kind:
    match value:
        case "fact" | "result" | "summary":
            return value
    raise InvalidParams(f"{quote(value)} is not one of {', '.join(KINDS)}", path=path)


def check_importance(value: object, path: str) -> float:
    """A number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParams(f"must be a number, not {type_name(value)}", path=path)
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise InvalidParams(f"{quote(value)} is not in [0, 1]", path=path)
    return number


def check_count(value: object, path: str, *, low: int, high: int) -> int:
    """An integer (not a boolean) in [low, high]."""
    if type(value) is not int:
        raise InvalidParams(f"must be an integer, not {type_name(value)}", path=path)
    if not low <= value <= high:
        raise InvalidParams(f"{quote(value)} is not in [{low}, {high}]", path=path)
    return value


def check_id(value: object, path: str) -> str:
    if type(value) is not str or not ID_PATTERN.fullmatch(value):
        raise InvalidParams(f"{quote(value)} is not a memory id", path=path)
    return value


def check_draft(draft: Draft, path: str) -> Draft:
    """``draft`` itself if every field obeys the rules."""
    check_text(draft.text, f"{path}.text")
    check_kind(draft.kind, f"{path}.kind")
    check_label(draft.agent, f"{path}.agent")
    check_label(draft.task, f"{path}.task")
    check_label(draft.context, f"{path}.context")
    check_importance(draft.importance, f"{path}.importance")
    return draft


def check_filters(filters: Filters, path: str) -> Filters:
    for i, kind in enumerate(filters.kinds):
        check_kind(kind, f"{path}.kind[{i}]")
    for name in ("agent", "task", "context"):
        label = getattr(filters, name)
        if label is not None:
            check_label(label, f"{path}.{name}")
    if filters.min_importance is not None:
        check_importance(filters.min_importance, f"{path}.min_importance")
    for name in ("created_after_ms", "created_before_ms"):
        moment = getattr(filters, name)
        if moment is not None:
            check_count(moment, f"{path}.{name}", low=0, high=2**62)
    return filters
