"""The SLM-aware prompt optimizer: what a small model sees, cut to what it can use.

Every specialist call passes through :func:`optimize`. By the model's size tier it

1. keeps only the tools relevant to the request (meaning by embeddings, plus shared words),
   never fewer than the ones the caller pinned;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Embed = Callable[[Sequence[str]], Vectors]
"""Texts -> one L2-normalized row per text."""


class Tier(StrEnum):
    TINY = "tiny"  # < 1B parameters
    SMALL = "small"  # 1-3B
    MEDIUM = "medium"  # 3-7B
    LARGE = "large"  # 7B and up


@dataclass(frozen=True, slots=True)
class Budget:
    max_tools: int
    history_tokens: int
    description_chars: int
    parameter_descriptions: bool


BUDGETS: Final[Mapping[Tier, Budget]] = {
    Tier.TINY: Budget(
        max_tools=4, history_tokens=384, description_chars=90, parameter_descriptions=False
    ),
    Tier.SMALL: Budget(
        max_tools=6, history_tokens=1024, description_chars=140, parameter_descriptions=True
    ),
    Tier.MEDIUM: Budget(
        max_tools=8, history_tokens=2048, description_chars=220, parameter_descriptions=True
    ),
    Tier.LARGE: Budget(
        max_tools=12, history_tokens=4096, description_chars=400, parameter_descriptions=True
    ),
}


def tier_of(billions: float) -> Tier:
    """The tier of a model with ``billions`` parameters."""
    if billions < 1:
        return Tier.TINY
    if billions < 3:
        return Tier.SMALL
    if billions < 7:
        return Tier.MEDIUM
    return Tier.LARGE


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A tool as the optimizer sees it: a registry name, a description and an input schema."""

    name: str
    description: str
    schema: Mapping[str, Any]


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

_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_STOP: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "by",
        "from",
        "at",
        "as",
        "is",
        "are",
        "be",
        "it",
        "this",
        "that",
        "my",
        "me",
        "i",
        "you",
        "your",
        "please",
        "can",
        "could",
        "would",
        "will",
        "should",
        "into",
        "about",
        "all",
        "any",
        "get",
    ]
)


def _stems(text: str) -> set[str]:
    words = _WORD.findall(re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower())
    out = set()
    for word in words:
        if word in _STOP or len(word) < 2:
            continue
        stem = word
        for suffix in ("ing", "ies", "es", "ed", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                stem = word[: -len(suffix)]
                break
        out.add(stem)
    return out


class ToolIndex:
    """Scores tools against a request; tool vectors are computed once per distinct tool text."""

    def __init__(self, embed_passages: Embed | None, embed_queries: Embed | None) -> None:
        self._passages = embed_passages
        self._queries = embed_queries
        self._cache: dict[str, Vectors] = {}

    @staticmethod
    def _text(tool: ToolInfo) -> str:
        words = tool.name.replace(".", " ").replace("_", " ").replace("-", " ")
        return f"{words}: {tool.description}"

    def _vectors(self, tools: Sequence[ToolInfo]) -> Vectors | None:
        if self._passages is None:
            return None
        texts = [self._text(t) for t in tools]
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self._passages(missing), strict=True):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts])

    def scores(self, request: str, tools: Sequence[ToolInfo]) -> list[float]:
        """Higher is more relevant: cosine similarity plus a bonus for shared word stems."""
        wanted = _stems(request)
        lexical = []
        for tool in tools:
            have = _stems(self._text(tool))
            lexical.append(len(wanted & have) / math.sqrt(len(have) or 1))
        vectors = self._vectors(tools)
        if vectors is None or self._queries is None:
            return lexical
        query = self._queries([request])[0]
        semantic = vectors @ query
        return [float(s) + 0.05 * lex for s, lex in zip(semantic, lexical, strict=True)]

    def select(
        self, request: str, tools: Sequence[ToolInfo], k: int, pinned: Sequence[str] = ()
    ) -> list[ToolInfo]:
        """The ``k`` best tools for ``request`` (pinned ones always), sorted by name."""
        keep = {t.name for t in tools if t.name in pinned}
        if len(tools) > k:
            ranked = sorted(
                zip(self.scores(request, tools), tools, strict=True),
                key=lambda st: (-st[0], st[1].name),
            )
            for _, tool in ranked:
                if len(keep) >= max(k, len(pinned)):
                    break
                keep.add(tool.name)
        else:
            keep |= {t.name for t in tools}
        return sorted((t for t in tools if t.name in keep), key=lambda t: t.name)


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
    chosen = index.select(request, tools, budget.max_tools, pinned)
    block = "\n".join(render_tool(t, budget) for t in chosen)
    kept, dropped = compact_history(history, budget.history_tokens)
    return Optimized(tuple(chosen), block, tuple(kept), dropped)
