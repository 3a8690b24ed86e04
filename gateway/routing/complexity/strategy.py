"""The strategy a task's measures call for, and why, by the first rule that holds (thresholds
live in :class:`~gateway.routing.complexity.weights.Weights`):

1. no requirement: SINGLE;
2. a requirement has parts: HIERARCHICAL;
3. at least ``many`` requirements over at least ``spread`` domains, with a weighted score of at
   least ``hierarchical`` and at least ``ties`` depth steps tying them together (a stated goal,
   a dependency, a comparison), unless they form a chain where each uses the previous one's
   result (a pipeline): HIERARCHICAL, broad work that needs coordinating;
4. one requirement: SINGLE, unless it spans ``spread`` domains with a score of at least
   ``single`` (a broad ask written as one sentence): HIERARCHICAL;
5. a requirement uses an earlier one's result: SEQUENTIAL;
6. otherwise PARALLEL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, assert_never

from gateway.routing.complexity.analysis import Strategy
from gateway.routing.complexity.factors import Measured, plural
from gateway.routing.complexity.weights import Weights


def _score(scores: Sequence[float], weights: Weights) -> float:
    w = (weights.length, weights.requirements, weights.domains, weights.tools, weights.depth)
    total = sum(w)
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, sum(x * y for x, y in zip(scores, w, strict=True)) / total))


Rule = Literal["empty", "compound", "broad", "broad-one", "one", "linked", "independent"]
"""The rule that chose a strategy, in the order of the module docstring."""


def choose(m: Measured, weights: Weights) -> tuple[float, Strategy, Rule]:
    """The score, the strategy, and the rule that chose it (see the module docstring)."""
    score = _score(m.scores, weights)
    n = len(m.requirements)
    spread = len(m.domains)
    if n == 0:
        return score, Strategy.SINGLE, "empty"
    if any(r.parts for r in m.requirements):
        return score, Strategy.HIERARCHICAL, "compound"
    chain = all(r.after == k - 1 for k, r in enumerate(m.requirements) if k)
    tied = m.values[4] >= weights.ties
    broad = n >= weights.many and spread >= weights.spread and score >= weights.hierarchical
    broad = broad and tied
    if broad and not chain:
        return score, Strategy.HIERARCHICAL, "broad"
    if n == 1:
        if spread >= weights.spread and score >= weights.single:
            return score, Strategy.HIERARCHICAL, "broad-one"
        return score, Strategy.SINGLE, "one"
    if any(r.after is not None for r in m.requirements):
        return score, Strategy.SEQUENTIAL, "linked"
    return score, Strategy.PARALLEL, "independent"


def explain(m: Measured, weights: Weights, score: float, rule: Rule) -> str:
    """Why ``rule`` chose its strategy for ``m``, in one sentence a user can read."""
    n = len(m.requirements)
    spread = len(m.domains)
    match rule:
        case "empty":
            return "The task asks for nothing, so a single agent is enough."
        case "compound":
            k, parts = next((k, len(r.parts)) for k, r in enumerate(m.requirements) if r.parts)
            return (
                f"Requirement {k + 1} of {n} is itself compound ({parts} parts), "
                "so a coordinator should plan each section."
            )
        case "broad":
            return (
                f"{n} requirements over {spread} domains, tied together by "
                f"{plural(int(m.values[4]), 'depth step')}, with score {score:.2f} "
                f"(at least {weights.hierarchical:.2f}) need a coordinator."
            )
        case "broad-one":
            return (
                f"One broad requirement over {spread} domains with score {score:.2f} "
                f"(at least {weights.single:.2f}) needs breaking down by a coordinator."
            )
        case "one":
            return f"One requirement (score {score:.2f}), so a single agent can do it."
        case "linked":
            k, after = next(
                (k, r.after) for k, r in enumerate(m.requirements) if r.after is not None
            )
            return (
                f"{n} requirements where requirement {k + 1} uses the result of requirement "
                f"{after + 1}, so they run in order."
            )
        case "independent":
            return (
                f"{n} independent requirements, none uses another's result, "
                "so they run in parallel."
            )
        case _:
            assert_never(rule)
