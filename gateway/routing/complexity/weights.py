"""The weights of the five factors and the thresholds of the strategy rule."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

from adapters.errors import InvalidParams, quote


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParams(f"weight {quote(name)} must be a number, not {quote(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InvalidParams(f"weight {quote(name)} must be finite and >= 0, not {quote(value)}")
    return number


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each factor counts in the score, and the thresholds of the strategy rule.

    Factor weights are relative (the score divides by their sum). Every value must be a finite
    number >= 0; constructing one otherwise raises InvalidParams.
    """

    length: float = 0.1
    requirements: float = 0.35
    domains: float = 0.3
    tools: float = 0.1
    depth: float = 0.15
    hierarchical: float = 0.4
    """Score from which several requirements over ``spread`` domains are HIERARCHICAL."""
    many: float = 3.0
    """Requirements needed for rule 3."""
    spread: float = 3.0
    """Distinct domains needed for rules 3 and 4."""
    single: float = 0.6
    """Score from which one requirement over ``spread`` domains is HIERARCHICAL."""
    ties: float = 1.0
    """Depth steps (a goal, dependencies, comparisons) that rule 3 needs: broad work only
    needs a coordinator when something ties its requirements together."""

    def __post_init__(self) -> None:
        for f in fields(self):
            _number(f.name, getattr(self, f.name))

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Weights:
        """Weights from configuration; keys left out keep their defaults.

        Raises:
            InvalidParams: an unknown key, a value that is not a number, or a negative one.
        """
        known = {f.name for f in fields(cls)}
        chosen: dict[str, float] = {}
        for key, value in values.items():
            if key not in known:
                raise InvalidParams(f"unknown weight {quote(key)}")
            chosen[key] = _number(key, value)
        return cls(**chosen)

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


DEFAULT_WEIGHTS: Final = Weights()
