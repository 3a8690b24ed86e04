"""The JSON a specialist's model writes at each step, and the schema that constrains it.

A step is either ``{"tool": <name>, "arguments": {...}}`` or ``{"answer": <text>}``. The
schema given to the model server is an ``anyOf`` with one branch per offered tool (its name as
a ``const``, its input schema for the arguments) and, unless a tool call is forced, an answer
branch. Constrained decoding then makes even a 135M model produce a call that parses and
matches the tool's schema; which tool it picks and what it writes are still its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from adapters.errors import UpstreamUnavailable
from agents.tools.index import ToolInfo

MAX_STRING: Final = 200
"""Strings the model writes into tool arguments are bounded, so decoding always ends."""
MAX_ITEMS: Final = 16
MAX_ANSWER: Final = 1200

_KEEP: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "enum",
        "const",
        "items",
        "anyOf",
        "oneOf",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "pattern",
    }
)


def grammar_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` reduced to what constrained decoding needs and honours: descriptions,
    formats and defaults go, objects are closed, strings and arrays get an upper bound."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _KEEP:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {k: grammar_schema(v) for k, v in value.items() if isinstance(v, Mapping)}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = grammar_schema(value)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out[key] = [grammar_schema(v) for v in value if isinstance(v, Mapping)]
        else:
            out[key] = value
    kind = out.get("type")
    if kind == "object" or "properties" in out:
        out.setdefault("properties", {})
        out["additionalProperties"] = False
        if isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r in out["properties"]]
    elif kind == "string" and "enum" not in out:
        out["maxLength"] = min(int(out.get("maxLength", MAX_STRING)), MAX_STRING)
    elif kind == "array":
        out["maxItems"] = min(int(out.get("maxItems", MAX_ITEMS)), MAX_ITEMS)
    return out


def step_schema(tools: Sequence[ToolInfo], *, allow_answer: bool) -> dict[str, Any]:
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": t.name},
                "arguments": grammar_schema(t.schema) or {"type": "object", "properties": {}},
            },
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    if allow_answer:
        branches.append(
            {
                "type": "object",
                "properties": {"answer": {"type": "string", "maxLength": MAX_ANSWER}},
                "required": ["answer"],
                "additionalProperties": False,
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


@dataclass(frozen=True, slots=True)
class CallStep:
    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AnswerStep:
    answer: str


def repeat_of(call: CallStep, earlier: Sequence[CallStep]) -> int | None:
    """The position in ``earlier`` of the first call identical to ``call``, or None.

    Identical means the same tool with the same arguments as JSON values (key order aside;
    ``1`` and ``1.0`` or ``true`` differ). A model that repeats a call has the result already:
    calling again would give it the same text, and a small model tends to loop on it.
    """
    key = _canonical(call)
    return next((i for i, before in enumerate(earlier) if _canonical(before) == key), None)


def _canonical(call: CallStep) -> str:
    return json.dumps([call.tool, call.arguments], sort_keys=True, separators=(",", ":"))


def parse_step(text: str, offered: Sequence[str]) -> CallStep | AnswerStep:
    """The step in the model's reply.

    Raises:
        UpstreamUnavailable: the reply is not a step over the offered tools (a server that
            ignored the constraint, or output cut at the token limit).
    """
    try:
        raw = json.loads(text)
    except ValueError:
        raise UpstreamUnavailable("the model's reply was not the requested JSON") from None
    if isinstance(raw, dict):
        if isinstance(raw.get("answer"), str) and set(raw) == {"answer"}:
            return AnswerStep(raw["answer"])
        tool, arguments = raw.get("tool"), raw.get("arguments", {})
        if isinstance(tool, str) and tool in offered and isinstance(arguments, dict):
            return CallStep(tool, arguments)
    raise UpstreamUnavailable("the model's reply was not the requested JSON")
