"""The SLM-aware prompt optimizer: what a small model sees, cut to what it can use.

Every specialist call passes through :func:`optimize`. By the model's size tier it

1. keeps only the tools relevant to the request (ranked by meaning and by shared words), as
   many as fit the tier's tool budget, and always the ones the caller pinned;
2. renders each kept tool as one compact signature line instead of a JSON schema, with the
   description cut to its first sentence and filler phrases removed (smaller tiers drop
   parameter descriptions and defaults too);
3. drops repeated and empty history turns and squeezes whitespace;
4. fits the remaining history into the tier's token budget, newest first.

The output is deterministic: the same tools and request give the same bytes, and the tool
block sorts by name, so repeated calls share a prompt prefix the model server can cache.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agents.tiers import Tier
from agents.tools.index import ToolIndex, ToolInfo


@dataclass(frozen=True, slots=True)
class Budget:
    max_tools: int
    tool_tokens: int
    """Estimated tokens the rendered tool block may take."""
    history_tokens: int
    description_chars: int
    parameter_descriptions: bool


# Selection keeps many short lines rather than a few long ones: small embedding models rank
# near-neighbour tools (list vs search vs get) poorly, and a compact signature costs ~25 tokens.
BUDGETS: Final[Mapping[Tier, Budget]] = {
    Tier.TINY: Budget(22, 900, 384, 60, parameter_descriptions=False),
    Tier.SMALL: Budget(24, 1300, 1024, 100, parameter_descriptions=False),
    Tier.MEDIUM: Budget(28, 3000, 2048, 160, parameter_descriptions=True),
    Tier.LARGE: Budget(40, 4000, 4096, 300, parameter_descriptions=True),
}


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str


def estimate_tokens(text: str) -> int:
    """A cheap upper-leaning estimate for BPE tokenizers (about 3.5 bytes per token)."""
    return math.ceil(len(text.encode()) / 3.5)


# --- tool descriptions -----------------------------------------------------------------------

_FILLER: Final = re.compile(
    r"^(?:this (?:tool|function|endpoint|method) "
    r"(?:allows you to|lets you|can be used to|is used to|will|can)"
    r"|use this (?:tool|function) to|use this to|allows you to|lets you|a tool (?:to|that)|tool to"
    r"|this is a tool (?:to|that))\s+",
    re.IGNORECASE,
)
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s")
_SPACES: Final = re.compile(r"\s+")


def short_description(text: str, limit: int) -> str:
    """First sentence, filler removed, cut at a word boundary to ``limit`` characters."""
    text = _SPACES.sub(" ", text).strip()
    text = _SENTENCE_END.split(text, maxsplit=1)[0]
    text = _FILLER.sub("", text)
    if text:
        text = text[0].upper() + text[1:]
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = cut.rstrip(",;:") + "…"
    return text.rstrip(".")


def _type(schema: Mapping[str, Any]) -> str:
    if "enum" in schema and isinstance(schema["enum"], list):
        return "|".join(str(v) for v in schema["enum"][:8])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind if k != "null") or "any"
    if kind == "array":
        items = schema.get("items")
        return (_type(items) if isinstance(items, Mapping) else "any") + "[]"
    if kind == "object":
        props = schema.get("properties")
        if isinstance(props, Mapping) and props:
            inner = ", ".join(
                f"{k}: {_type(v)}" for k, v in props.items() if isinstance(v, Mapping)
            )
            return "{" + inner + "}"
        return "object"
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return "|".join(_type(s) for s in schema[key] if isinstance(s, Mapping))
    return str(kind) if kind else "any"


def render_tool(tool: ToolInfo, budget: Budget) -> str:
    """One tool as a signature line, e.g. ``calc.evaluate(expression: string) - Exact math``."""
    props = tool.schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = tool.schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    params = []
    notes = []
    for name, spec in props.items():
        if not isinstance(spec, Mapping):
            continue
        mark = "" if name in required else "?"
        params.append(f"{name}{mark}: {_type(spec)}")
        desc = spec.get("description")
        if budget.parameter_descriptions and isinstance(desc, str) and desc.strip():
            notes.append(f"  {name}: {short_description(desc, budget.description_chars // 2)}")
    line = f"{tool.name}({', '.join(params)})"
    desc = short_description(tool.description, budget.description_chars)
    if desc:
        line += f" - {desc}"
    return "\n".join([line, *notes])


# --- selection -------------------------------------------------------------------------------


def select_tools(
    index: ToolIndex,
    request: str,
    tools: Sequence[ToolInfo],
    budget: Budget,
    pinned: Sequence[str] = (),
) -> list[ToolInfo]:
    """The tools ``index`` ranks most relevant to ``request`` that fit ``budget`` (count and
    rendered tokens), pinned ones first and always, sorted by name.

    When every tool fits, all are kept and nothing is ranked: ranking by meaning costs an
    embedding of the request (tens of milliseconds on a CPU) and would change nothing."""
    costs = {t.name: estimate_tokens(render_tool(t, budget)) for t in tools}
    if len(tools) <= budget.max_tools and sum(costs.values()) <= budget.tool_tokens:
        return sorted(tools, key=lambda t: t.name)
    chosen = [t for t in tools if t.name in pinned]
    used = sum(costs[t.name] for t in chosen)
    for tool in index.ranked(request, tools):
        if len(chosen) >= budget.max_tools:
            break
        if tool.name in pinned:
            continue
        cost = costs[tool.name]
        if used + cost > budget.tool_tokens:
            break
        chosen.append(tool)
        used += cost
    return sorted(chosen, key=lambda t: t.name)


# --- history ---------------------------------------------------------------------------------


def compact_history(turns: Sequence[Turn], budget_tokens: int) -> tuple[list[Turn], int]:
    """Whitespace squeezed, empty and repeated turns dropped, then the newest turns that fit
    ``budget_tokens``; also returns how many turns were left out."""
    cleaned: list[Turn] = []
    for turn in turns:
        text = _SPACES.sub(" ", turn.text).strip()
        if not text or (cleaned and cleaned[-1] == Turn(turn.role, text)):
            continue
        cleaned.append(Turn(turn.role, text))
    kept: list[Turn] = []
    used = 0
    for turn in reversed(cleaned):
        cost = estimate_tokens(turn.text) + 4
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    return kept, len(cleaned) - len(kept)


# --- the whole pass --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Optimized:
    tools: tuple[ToolInfo, ...]
    tool_block: str
    history: tuple[Turn, ...]
    dropped_turns: int


def optimize(
    request: str,
    tools: Sequence[ToolInfo],
    history: Sequence[Turn],
    tier: Tier,
    index: ToolIndex,
    *,
    pinned: Sequence[str] = (),
) -> Optimized:
    """Tools and history for one call of a ``tier`` model on ``request``."""
    budget = BUDGETS[tier]
    chosen = select_tools(index, request, tools, budget, pinned)
    block = "\n".join(render_tool(t, budget) for t in chosen)
    kept, dropped = compact_history(history, budget.history_tokens)
    return Optimized(tuple(chosen), block, tuple(kept), dropped)
