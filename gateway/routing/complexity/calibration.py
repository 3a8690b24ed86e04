"""Calibration: the weights and thresholds fitted to labelled tasks by coordinate search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from adapters.errors import InvalidParams
from gateway.routing.complexity.analysis import FACTORS, Strategy
from gateway.routing.complexity.factors import measure
from gateway.routing.complexity.strategy import choose
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights


@dataclass(frozen=True, slots=True)
class Calibration:
    weights: Weights
    accuracy: float
    """Share of the examples the fitted weights label right."""
    start_accuracy: float
    """The same share for the weights the search started from."""


_FACTOR_GRID: Final = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0)
_GRIDS: Final[Mapping[str, tuple[float, ...]]] = {
    **{name: _FACTOR_GRID for name in FACTORS},
    "hierarchical": tuple(k / 40 for k in range(41)),
    "single": tuple(k / 40 for k in range(41)),
    "many": (2.0, 3.0, 4.0, 5.0, 6.0),
    "ties": (0.0, 1.0, 2.0, 3.0),
    "spread": (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
}
_PASSES: Final = 4


def calibrate(
    examples: Sequence[tuple[str, Strategy]], start: Weights | None = None
) -> Calibration:
    """Weights fitted to labelled tasks by coordinate search over a grid of each parameter.

    Each pass tries every grid value of every parameter in turn and moves only if some value
    labels strictly more examples right (to the middle one of the values that do best, for
    margin), so the result never scores below ``start`` on ``examples`` and the search is
    deterministic. ``start`` is not changed (it is frozen).

    Raises:
        InvalidParams: ``examples`` is empty.
    """
    if not examples:
        raise InvalidParams("calibration needs at least one labelled example")
    begin = start if start is not None else DEFAULT_WEIGHTS
    measured = [(measure(task), Strategy(want)) for task, want in examples]

    def right(weights: Weights) -> int:
        return sum(choose(m, weights)[1] is want for m, want in measured)

    best, best_right = begin, right(begin)
    first = best_right
    for _ in range(_PASSES):
        improved = False
        for name, grid in _GRIDS.items():
            counts = [right(replace(best, **{name: value})) for value in grid]
            top = max(counts)
            if top > best_right:
                # of the values that do best, the middle one: the widest margin either side
                winners = [value for value, count in zip(grid, counts, strict=True) if count == top]
                best, best_right = replace(best, **{name: winners[len(winners) // 2]}), top
                improved = True
        if not improved:
            break
    total = len(measured)
    return Calibration(best, best_right / total, first / total)
