"""Model size tiers: how many parameters a model has, in four classes.

A tier is what a specialist's prompt is fitted to (its tool and history budgets) and what the
router looks at to decide whether a model can write a plan.
"""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    TINY = "tiny"  # < 1B parameters
    SMALL = "small"  # 1-3B
    MEDIUM = "medium"  # 3-7B
    LARGE = "large"  # 7B and up


def tier_of(billions: float) -> Tier:
    """The tier of a model with ``billions`` parameters."""
    if billions < 1:
        return Tier.TINY
    if billions < 3:
        return Tier.SMALL
    if billions < 7:
        return Tier.MEDIUM
    return Tier.LARGE
