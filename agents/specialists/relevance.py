"""Whether a request has content a tool could act on: the gate before tools are offered.

A tiny model's own choice of tool is not meaningful: offered the calculator, SmolLM2-135M
calls it for "Hello, who are you?". So for a tiny-tier specialist whose tool call is not
forced, the request decides whether tools are offered at all, by a rule a reader can check:

- a number in the request (a digit): amounts, counts, dates and sizes are what tools
  compute with and look up;
- or a word of the request that names an offered tool or one of its parameters
  (``calculator``, ``evaluate``, ``expression``), matched by its first six letters when both
  words have that many, so ``calculate`` finds ``calculator``.

With neither, no tool is offered and the model answers in free text. The decision and its
reason go into the specialist's ``steps`` record.

Measured on the bundled catalog prompts (``benchmarks/data/tool_prompts.json``: 167 requests
that each need a tool, four catalogs of 29-39 tools): tools are withheld from 13, mostly
requests that name a file or a person but no tool (``How big is data/events.parquet``), some
in another language. Twelve small-talk requests: none is offered the calculator; against
the catalogs, one to three are (``What's your name?`` names a ``name`` parameter).

The tool index's embedding similarity was measured as a further signal and left out:
multilingual-e5-small scores "Thanks!" (0.82) above "What is 17 times 23?" (0.76) against the
calculator's description, so no threshold separates small talk from a calculation.
Pure code: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from agents.tools.index import ToolInfo

PREFIX: Final = 6
"""Letters two longer words must share to count as the same word (calculate ~ calculator)."""
_DIGIT: Final = re.compile(r"\d+")
_WORD: Final = re.compile(r"[^\W\d_]{3,}")
_CAMEL: Final = re.compile(r"([a-z])([A-Z])")


@dataclass(frozen=True, slots=True)
class Relevance:
    offer: bool
    reason: str


def _words(text: str) -> Iterator[str]:
    for word in _WORD.findall(_CAMEL.sub(r"\1 \2", text)):
        yield word.casefold()


def _names(tool: ToolInfo) -> set[str]:
    """The words of a tool's name and of its parameters' names."""
    props = tool.schema.get("properties")
    params = " ".join(props) if isinstance(props, Mapping) else ""
    return set(_words(f"{tool.name} {params}"))


def _same(a: str, b: str) -> bool:
    return a == b or (len(a) >= PREFIX and len(b) >= PREFIX and a[:PREFIX] == b[:PREFIX])


def relevance(request: str, tools: Sequence[ToolInfo]) -> Relevance:
    """Whether ``tools`` should be offered for ``request``, and why."""
    number = _DIGIT.search(request)
    if number is not None:
        return Relevance(True, f"the request has a number ({number.group()})")
    words = list(dict.fromkeys(_words(request)))
    for tool in tools:
        names = _names(tool)
        for word in words:
            if any(_same(word, name) for name in names):
                return Relevance(True, f"the request names a tool ({word!r}: {tool.name})")
    return Relevance(False, "the request has no number and names no tool")
