"""A real calculator tool: arithmetic expressions evaluated exactly, never with ``eval``.

The expression is parsed with :mod:`ast` and only numbers, the arithmetic operators, a few
functions (``sqrt``, ``abs``, ``round``, ``min``, ``max``, ``floor``, ``ceil``, ``log``) and the
constants ``pi`` and ``e`` are accepted. Sizes are bounded (expression length, exponent, result
digits), so a caller cannot make the gateway compute for long.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from adapters.errors import InvalidParams, NotFound, quote
from adapters.model import (
    AgentDescriptor,
    Artifact,
    DataPart,
    Invocation,
    Skill,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent

MAX_LENGTH: Final = 200
MAX_EXPONENT: Final = 1000
MAX_DIGITS: Final = 400

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


_NAME: Final = "|".join(sorted([*_FUNCTIONS, *_CONSTANTS], key=len, reverse=True))
EXPRESSION_PATTERN: Final = rf"^ ?(?:[0-9(-]|{_NAME})(?:[0-9+*/%^()., -]|{_NAME})*$"
"""Only what the evaluator reads: numbers, operators, brackets and the known names; it opens
with a number, a bracket, a minus or a name. Constrained decoding then keeps a small model from
writing units (``84 meters``) or a bare leading point (``.17 * 23``)."""

EVALUATE = Skill(
    "evaluate",
    "Evaluates an arithmetic expression exactly and returns its value.",
    input_schema={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "e.g. (12 + 3) * 4 / 5, sqrt(2), 2 ** 10",
                "minLength": 1,
                "maxLength": MAX_LENGTH,
                # Only what the evaluator accepts, so constrained decoding cannot stray.
                "pattern": EXPRESSION_PATTERN,
            }
        },
        "required": ["expression"],
        "additionalProperties": False,
    },
    output_schema={
        "type": "object",
        "properties": {"expression": {"type": "string"}, "value": {"type": "number"}},
        "required": ["expression", "value"],
    },
    tags=("math", "calculator"),
    examples=("17 * 23",),
)


class _Bad(Exception):
    pass


def _check(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad
    if isinstance(value, int) and abs(value).bit_length() > MAX_DIGITS * 3.33:
        raise _Bad
    return value


def _eval(node: ast.AST) -> int | float:
    match node:
        case ast.Expression(body=body):
            return _eval(body)
        case ast.Constant(value=value) if isinstance(value, int | float) and not isinstance(
            value, bool
        ):
            return _check(value)
        case ast.Name(id=name) if name in _CONSTANTS:
            return _CONSTANTS[name]
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
            return _check(_UNARY[type(op)](_eval(operand)))
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            a, b = _eval(left), _eval(right)
            if isinstance(op, ast.Pow) and abs(b) > MAX_EXPONENT:
                raise _Bad
            return _check(_BINARY[type(op)](a, b))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            return _check(_FUNCTIONS[name](*(_eval(a) for a in args)))
    raise _Bad


def evaluate(expression: str) -> int | float:
    """The value of ``expression``.

    Raises:
        InvalidParams: not an arithmetic expression this calculator accepts, or out of range
            (division by zero, a huge power, a non-finite result).
    """
    if len(expression) > MAX_LENGTH:
        raise InvalidParams(f"the expression is longer than {MAX_LENGTH} characters")
    text = expression.replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/").strip()
    try:
        tree = ast.parse(text, mode="eval")
        value = _eval(tree)
    except (_Bad, SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise InvalidParams(f"cannot evaluate {quote(expression)}", path="expression") from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class CalculatorAgent(Agent):
    """The ``calculator`` agent with one skill, ``evaluate``."""

    def __init__(self, name: str = "calculator") -> None:
        self._descriptor = AgentDescriptor(
            name, (EVALUATE,), "Exact arithmetic on expressions.", "1.0"
        )

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if invocation.skill != "evaluate":
            raise NotFound(
                f"agent {self._descriptor.name!r} has no skill {quote(invocation.skill)}"
            )
        expression = _expression(invocation)
        value = evaluate(expression)
        artifact = Artifact(
            "result",
            (TextPart(str(value)), DataPart({"expression": expression, "value": value})),
            "result",
        )
        yield Task(
            task_id, TaskState.COMPLETED, invocation.message.context_id, artifacts=(artifact,)
        )


def _expression(invocation: Invocation) -> str:
    parts = invocation.message.parts
    if len(parts) == 1:
        part = parts[0]
        if isinstance(part, TextPart):
            return part.text
        if isinstance(part, DataPart) and isinstance(part.data, dict):
            expression = part.data.get("expression")
            unknown = sorted(set(part.data) - {"expression"})
            if unknown:
                raise InvalidParams(f"unknown argument {quote(unknown[0])}", path="arguments")
            if isinstance(expression, str):
                return expression
    raise InvalidParams("expected an 'expression' string", path="arguments.expression")
