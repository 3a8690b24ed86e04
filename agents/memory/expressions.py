"""Milvus filter expressions, built only from checked values.

Values never reach an expression unquoted: strings become double-quoted literals with ``\\``
and ``"`` escaped, numbers are formatted from Python numbers. The preconditions make that
safe in both Milvus-lite's and Milvus's grammar: scopes match ``SCOPE_PATTERN``, ids match
``ID_PATTERN``, labels are printable (no newline or other control character, which neither
grammar lets a literal hold), kinds come from a fixed set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from adapters.errors import InvalidParams, quote
from agents.memory.records import ID_PATTERN, Filters
from agents.memory.scope import check_scope


def string_literal(value: str) -> str:
    """``value`` as a double-quoted filter literal.

    Raises:
        InvalidParams: ``value`` holds a character no literal can carry safely.
    """
    if not value.isprintable():
        raise InvalidParams(f"{quote(value)} holds a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise InvalidParams(f"{quote(value)} is not a finite number")
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def scoped(scope: str, filters: Filters | None = None, ids: Sequence[str] = ()) -> str:
    """The expression selecting ``scope``'s rows that pass ``filters`` and, if ``ids`` is not
    empty, have one of those ids. The scope condition is always present.

    Raises:
        InvalidParams: a bad scope or id, or a label with a control character.
    """
    terms = [f"scope == {string_literal(check_scope(scope))}"]
    if ids:
        for memory_id in ids:
            if not ID_PATTERN.fullmatch(memory_id):
                raise InvalidParams(f"{quote(memory_id)} is not a memory id")
        terms.append(f"id in [{', '.join(string_literal(i) for i in ids)}]")
    if filters is not None:
        if filters.kinds:
            terms.append(f"kind in [{', '.join(string_literal(k) for k in filters.kinds)}]")
        for name in ("agent", "task", "context"):
            label = getattr(filters, name)
            if label is not None:
                terms.append(f"{name} == {string_literal(label)}")
        if filters.min_importance is not None:
            terms.append(f"importance >= {_number(filters.min_importance)}")
        if filters.created_after_ms is not None:
            terms.append(f"created >= {_number(filters.created_after_ms)}")
        if filters.created_before_ms is not None:
            terms.append(f"created < {_number(filters.created_before_ms)}")
    return " and ".join(terms)
