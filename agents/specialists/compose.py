"""An answer composed from a tool's result when the model's own answer does not state it.

A small model that has called a tool often fails to say what the tool found: it echoes the
step JSON (``{"tool":"calculator.evaluate"}``), restates the question, or writes some other
number. The caller should still read the result, so the specialist checks the model's answer
against the result it grounds on and, when the answer falls short, answers with a sentence
built from the result alone (and records that it did).

The rule, in three parts:

1. **The result's value** (:func:`result_value`): a tool result stands for one value when its
   structured result is a number or a non-empty string, or an object with such a ``value``
   field (the calculator's ``{"expression": ..., "value": ...}``). Any other result (a list,
   an object without ``value``, text only) has no single value: the model's answer stands.
2. **Stating it** (:func:`states`): a string value is stated when the answer contains it
   (ignoring case); a number is stated when a number written in the answer equals it. Either
   must occur in the answer more often than in the request: a small model often restates the
   question ("Tom has 38 marbles and 27 more"), which states an operand, not a result. Numbers
   are read as digits, with ``,`` thousands groups (``1,250``), an optional decimal part and
   exponent (``2.5e-07``, as Python prints floats), and a sign when a ``-`` stands right
   before the digits and not after a word, a digit or a bracket (so ``17-23`` and
   ``17 - 23`` read as 17 and 23, ``= -6`` as -6). A non-integer value is also stated by its
   rounding to as many decimals as the written number has (at least one): ``0.74`` states
   ``0.7391...``. Number words (``three hundred``) are not read.
3. **Not an answer** (:func:`is_step_echo`): an answer that is an echo of the step format
   (it opens with an object whose first key is ``tool``, ``arguments`` or ``answer``, after any
   code fence) or is empty states nothing, whatever numbers are inside it.

When the answer does not state the value, the composed answer is ``"<expression> = <value>"``
for a result that names its expression (``17*23 = 391``; the bare value when the expression is
that value already), else ``"<tool> returned <value>"``. When the call the answer grounds on
failed and the model's answer is no answer (rule 3), the answer is the failure, said plainly:
``"<tool> failed: <error>"``. :func:`settle` applies the whole rule and names who wrote the
answer: ``model``, ``tool_result`` or ``tool_error``. Pure code: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias

Value: TypeAlias = int | float | str
Source: TypeAlias = Literal["model", "tool_result", "tool_error"]

_NUMBER: Final = re.compile(
    r"(?<![\w.)])([-\u2212])?(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(\.\d+)?([eE][-+]?\d+)?"
)
_ECHO: Final = re.compile(r'^\s*(?:```[a-z]*\s*)?\{\s*"(?:tool|arguments|answer)"\s*:')


def result_value(data: Any) -> Value | None:
    """The one value a structured tool result stands for, or None (rule 1)."""
    if isinstance(data, Mapping):
        data = data.get("value")
    if isinstance(data, bool):
        return None
    if isinstance(data, int):
        return data
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, str) and data.strip():
        return data.strip()
    return None


def numbers(text: str) -> list[tuple[int | float, int]]:
    """Every number written in ``text`` with its count of decimals, in order (rule 2)."""
    out: list[tuple[int | float, int]] = []
    for match in _NUMBER.finditer(text):
        sign, whole, fraction, exponent = match.groups()
        digits = whole.replace(",", "")
        # Whole numbers stay exact ints: a float would blur values beyond 2**53.
        value: int | float = int(digits)
        if fraction or exponent:
            value = float(digits + (fraction or "") + (exponent or ""))
        decimals = len(fraction) - 1 if fraction and not exponent else 0
        out.append((-value if sign else value, decimals))
    return out


def occurrences(text: str, value: Value) -> int:
    """How many times ``text`` writes ``value`` (rule 2)."""
    if isinstance(value, str):
        return text.casefold().count(value.casefold())
    fractional = isinstance(value, float) and not value.is_integer()
    return sum(
        1
        for number, decimals in numbers(text)
        if number == value or (decimals and fractional and round(value, decimals) == number)
    )


def states(text: str, value: Value, request: str = "") -> bool:
    """Whether the answer ``text`` to ``request`` states ``value`` (rule 2): it writes the
    value more often than the request does. An echo of the step format never states it."""
    if is_step_echo(text):
        return False
    return occurrences(text, value) > occurrences(request, value)


def is_step_echo(text: str) -> bool:
    """Whether ``text`` is empty or an echo of the step JSON rather than an answer (rule 3)."""
    return not text.strip() or _ECHO.match(text) is not None


def composed(tool: str, data: Any) -> str | None:
    """The answer built from a result alone; None when the result has no single value."""
    value = result_value(data)
    if value is None:
        return None
    expression = data.get("expression") if isinstance(data, Mapping) else None
    if isinstance(expression, str) and expression.strip():
        expression = expression.strip()
        # A bare number evaluates to itself: "27", not "27 = 27".
        return str(value) if expression == str(value) else f"{expression} = {value}"
    return f"{tool} returned {value}"


def compose(answer: str, tool: str, data: Any, request: str = "") -> str | None:
    """The composed answer when the model's ``answer`` to ``request`` does not state the
    value of the result ``data`` of ``tool``; None when the model's answer stands (it states
    the value, or the result has no single value)."""
    value = result_value(data)
    if value is None or states(answer, value, request):
        return None
    return composed(tool, data)


def settle(
    answer: str, request: str, tool: str, *, ok: bool, data: Any, error: str = ""
) -> tuple[str, Source]:
    """The answer the caller gets and who wrote it, from the model's ``answer`` to ``request``
    and the call of ``tool`` it grounds on: its structured result ``data`` when ``ok``, else
    its ``error`` text."""
    if ok:
        better = compose(answer, tool, data, request)
        return (answer, "model") if better is None else (better, "tool_result")
    if is_step_echo(answer):
        return f"{tool} failed: {error}", "tool_error"
    return answer, "model"
