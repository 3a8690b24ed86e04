"""The complexity analyzer: a task's measures and the strategy they call for, in one call."""

from __future__ import annotations

from gateway.routing.complexity.analysis import FACTORS, Analysis, Factor
from gateway.routing.complexity.factors import measure
from gateway.routing.complexity.strategy import choose, explain
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights


class ComplexityAnalyzer:
    """Scores tasks and picks their strategy. Holds only its (immutable) weights, so one
    instance can be shared by any number of tasks and threads."""

    def __init__(self, weights: Weights | None = None) -> None:
        self._weights = weights if weights is not None else DEFAULT_WEIGHTS

    @property
    def weights(self) -> Weights:
        return self._weights

    def analyze(self, task: str) -> Analysis:
        """The analysis of ``task``. Never raises for a ``str``; reads its first ``LIMIT``
        characters."""
        measured = measure(task)
        score, strategy, rule = choose(measured, self._weights)
        factors = tuple(
            Factor(name, value, score_, reason)
            for name, value, score_, reason in zip(
                FACTORS, measured.values, measured.scores, measured.reasons, strict=True
            )
        )
        return Analysis(
            score=score,
            factors=factors,
            strategy=strategy,
            reason=explain(measured, self._weights, score, rule),
            requirements=measured.requirements,
            domains=measured.domains,
            context=measured.context,
        )
