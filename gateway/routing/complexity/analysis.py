"""What the complexity analyzer says about a task: its requirements, the five factors, the
score and the strategy chosen, as frozen values a caller can read and serialise."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from adapters.errors import InvalidParams, quote

FACTORS: Final = ("length", "requirements", "domains", "tools", "depth")


class Strategy(StrEnum):
    SINGLE = "single"
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"
    HIERARCHICAL = "hierarchical"


@dataclass(frozen=True, slots=True)
class Requirement:
    text: str
    """The clause as the user wrote it: trimmed, without list marker or leading connective."""
    after: int | None = None
    """Index of the earlier requirement whose result this one needs."""
    parts: tuple[str, ...] = ()
    """The sub-requirements of a compound requirement (a section of a hierarchical task)."""


@dataclass(frozen=True, slots=True)
class Example:
    """A labelled task close in meaning to the one analysed: a reason for a learned choice."""

    task: str
    strategy: Strategy
    similarity: float
    """Cosine similarity of the two tasks' embeddings."""


@dataclass(frozen=True, slots=True)
class Factor:
    name: str
    value: float
    """The raw measure: words, requirements, domains, tool kinds or depth steps."""
    score: float
    """``value`` normalised to 0..1."""
    reason: str


@dataclass(frozen=True, slots=True)
class Analysis:
    score: float
    """Weighted combination of the factor scores, 0..1."""
    factors: tuple[Factor, ...]
    """All five, in the order of ``FACTORS``."""
    strategy: Strategy
    reason: str
    """Why this strategy, in one sentence a user can read."""
    requirements: tuple[Requirement, ...]
    domains: tuple[str, ...]
    """The distinct domains found, sorted."""
    context: tuple[str, ...] = ()
    """Sentences that ask for nothing themselves (background for the requirements)."""
    source: str = "factors"
    """What chose the strategy: ``factors`` (the rules over the five factors) or ``learned``
    (the classifier over factors and the request's embedding)."""
    confidence: float | None = None
    """The learned classifier's probability for the strategy it chose."""
    examples: tuple[Example, ...] = ()
    """The labelled tasks nearest in meaning, when the embedding was used."""

    def factor(self, name: str) -> Factor:
        """The factor called ``name``.

        Raises:
            InvalidParams: not one of ``FACTORS``.
        """
        for f in self.factors:
            if f.name == name:
                return f
        raise InvalidParams(f"unknown factor {quote(name)}")

    def as_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "strategy": self.strategy.value,
            "reason": self.reason,
            "factors": [
                {"name": f.name, "value": f.value, "score": f.score, "reason": f.reason}
                for f in self.factors
            ],
            "requirements": [
                {"text": r.text, "after": r.after, "parts": list(r.parts)}
                for r in self.requirements
            ],
            "domains": list(self.domains),
            "context": list(self.context),
            "source": self.source,
            "confidence": self.confidence,
            "examples": [
                {"task": e.task, "strategy": e.strategy.value, "similarity": e.similarity}
                for e in self.examples
            ],
        }
