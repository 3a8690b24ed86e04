"""The benchmark's calculator tool, standalone: the same semantics as effmesh's
``agents.tools.calculator`` (exact arithmetic over a parsed expression, never ``eval``), for the
peers' runners, which run in their own virtual environments and cannot import effmesh.

Accepted: numbers, ``+ - * / // % **`` (``^`` means ``**``), unary signs, parentheses, the
functions ``sqrt abs round min max floor ceil log`` and the constants ``pi`` and ``e``. Sizes are
bounded as effmesh bounds them. A failure is returned as text the model can read, which is how
effmesh's specialists see a tool's failure too.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any, Final

NAME: Final = "calculator"
DESCRIPTION: Final = "Evaluates an arithmetic expression exactly and returns its value."
EXPRESSION_HELP: Final = "e.g. (12 + 3) * 4 / 5, sqrt(2), 2 ** 10"
MAX_LENGTH: Final = 200
MAX_EXPONENT: Final = 1000
MAX_BITS: Final = 1332  # about 400 decimal digits

_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
}
_CONSTANTS: Final = {"pi": math.pi, "e": math.e}

outputs: list[str] = []
"""What every run of the tool returned in this process, oldest first (reported per task)."""


class Rejected(ValueError):
    """The expression is not one this calculator accepts."""


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected
    if isinstance(value, float) and not math.isfinite(value):
        raise Rejected
    if isinstance(value, int) and abs(value).bit_length() > MAX_BITS:
        raise Rejected
    return value


def _value(node: ast.AST) -> int | float:
    if isinstance(node, ast.Expression):
        return _value(node.body)
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _number(_UNARY[type(node.op)](_value(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise Rejected
        return _number(_BINARY[type(node.op)](left, right))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _number(_FUNCTIONS[node.func.id](*(_value(a) for a in node.args)))
    raise Rejected


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; whole floats come back as ints.

    Raises:
        Rejected: not an accepted expression, or out of range (division by zero, a huge
            power, a non-finite result).
    """
    if len(expression) > MAX_LENGTH:
        raise Rejected
    text = expression.replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/").strip()
    try:
        value = _value(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise Rejected from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def run(expression: str) -> str:
    """The tool as every runner exposes it: the value as text, or an error line."""
    try:
        text = str(evaluate(expression))
    except Rejected:
        text = f"Error: cannot evaluate {expression[:80]!r}"
    outputs.append(text)
    return text
