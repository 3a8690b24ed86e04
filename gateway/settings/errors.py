"""The one error of the settings layer, and its making from pydantic's validation errors.

A setting that cannot be used is a :class:`SettingsError`, never a protocol error: it stops a
gateway from starting and is printed to its operator, never sent to a peer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from adapters.errors import quote

Key = tuple[str | int, ...]
"""A path into the settings: table keys and array indexes, ``("agents", 2, "url")``."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted(key: Sequence[str | int]) -> str:
    """``("agents", 2, "url")`` -> ``agents[2].url``; a key TOML cannot write bare is quoted."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if _BARE_KEY.fullmatch(part) else f'"{part}"'
        out += f".{name}" if out else name
    return out


class SettingsError(Exception):
    """A setting that is unknown, mistyped, out of range or inconsistent with another.

    ``str()`` is one line: ``<file>: <key>: <reason>``, e.g.
    ``effmesh.toml: agents[2].url: is required``; the file is left out for settings that did
    not come from one, the key for errors of the whole file.
    """

    def __init__(self, key: Sequence[str | int], reason: str, *, file: str | None = None) -> None:
        self.key = dotted(key)
        self.reason = reason
        self.file = file
        super().__init__(": ".join(p for p in (file, self.key, reason) if p))


class Invalid(ValueError):
    """Raised by the settings' own validators: ``key`` is relative to the value checked.

    pydantic wraps it in its ValidationError; :func:`from_validation` puts ``key`` after the
    place pydantic reports, so the message names the exact key.
    """

    def __init__(self, key: Key, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


_TYPES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "tuple_type": "must be an array",
    "list_type": "must be an array",
    "dict_type": "must be a table",
    "dataclass_type": "must be a table",
    "model_type": "must be a table",
    "finite_number": "must be a finite number",
}
_LIMITS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
    "literal_error": ("expected", "must be {}"),
    "string_pattern_mismatch": ("pattern", "must match {}"),
}


def _key_and_reason(error: ErrorDetails) -> tuple[Key, str]:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    where: Key = tuple(error["loc"])
    if kind == "missing":
        return where, "is required"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return where, "unknown key"
    if kind == "value_error" and isinstance(ctx.get("error"), Invalid):
        invalid: Invalid = ctx["error"]
        return (*where, *invalid.key), invalid.reason
    if kind == "value_error":
        return where, str(ctx.get("error", error["msg"]))
    if kind in _TYPES:
        reason = _TYPES[kind]
    elif kind in _LIMITS:
        name, text = _LIMITS[kind]
        reason = text.format(ctx.get(name))
    else:
        reason = error["msg"][:1].lower() + error["msg"][1:]
    return where, f"{reason}, not {quote(error['input'])}"


def from_validation(
    exc: ValidationError, *, file: str | None = None, within: Key = ()
) -> SettingsError:
    """The first of pydantic's errors, as a SettingsError at ``within`` + its place."""
    key, reason = _key_and_reason(exc.errors()[0])
    return SettingsError((*within, *key), reason, file=file)
