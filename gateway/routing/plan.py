"""A plan: subtasks, each for one skill, with the subtasks whose results it needs.

Plans come from a model (JSON constrained by :func:`plan_schema`) or from the deterministic
planner; both go through :func:`validate`, which accepts only a plan that can run:

- 1 to ``max_subtasks`` subtasks, ids ``s1``..``s9`` without repeats;
- every skill one the caller may use (``skills``), or :data:`PLAN_SKILL` (the subtask is planned
  again by the coordinator) while ``depth`` is below ``max_depth``;
- every ``depends_on`` naming another subtask of the plan, and no cycle;
- every input non-empty, bounded, and grounded in the task: it shares a word with the task or
  names a dependency's result as ``{sN}`` (a plan about something the user never asked is
  refused, which is what small models write when they drift).

A subtask's input may hold ``{sN}`` placeholders; the executor puts the result of ``sN`` there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

ID_PATTERN: Final = re.compile(r"s[1-9]")
PLACEHOLDER: Final = re.compile(r"\{(s[1-9])\}")
PLAN_SKILL: Final = "plan"
"""The skill of a subtask that the coordinator splits again (hierarchical plans)."""
MAX_INPUT_CHARS: Final = 2000
_WORD = re.compile(r"\w{3,}|\d+")


class InvalidPlan(Exception):
    """Why a plan cannot run; the text is ours (never a model's), safe to show a user."""


@dataclass(frozen=True, slots=True)
class Subtask:
    id: str
    skill: str
    """A registry tool name ``<agent>.<skill>``, or :data:`PLAN_SKILL`."""
    input: str
    depends_on: tuple[str, ...] = ()

    @property
    def coordinated(self) -> bool:
        return self.skill == PLAN_SKILL

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "skill": self.skill,
            "input": self.input,
            "depends_on": list(self.depends_on),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    subtasks: tuple[Subtask, ...]
    planner: str
    """``model`` or ``rules``."""
    fallback: str | None = None
    """Why the model's plan was not used, when the rules planner took over."""

    def layers(self) -> list[list[Subtask]]:
        """The subtasks in dependency order: each layer needs only earlier layers."""
        done: set[str] = set()
        left = list(self.subtasks)
        out: list[list[Subtask]] = []
        while left:
            ready = [s for s in left if set(s.depends_on) <= done]
            if not ready:  # validate() refuses cycles; a hand-built plan might not
                raise InvalidPlan("the plan's dependencies form a cycle")
            out.append(ready)
            done |= {s.id for s in ready}
            left = [s for s in left if s.id not in done]
        return out

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "planner": self.planner,
            "subtasks": [s.as_json() for s in self.subtasks],
        }
        if self.fallback:
            out["fallback"] = self.fallback
        return out


def plan_schema(skills: Sequence[str], *, max_subtasks: int, coordinate: bool) -> dict[str, Any]:
    """The JSON schema a model's plan must follow.

    It names only ``skills`` (and :data:`PLAN_SKILL` when ``coordinate``), so a constrained
    decoder cannot invent an agent; and it spells out each plan length as a tuple whose
    ``i``-th subtask is ``s<i>`` and may depend only on ``s1``..``s<i-1>``, so ids are unique
    and the plan is acyclic by construction (small models otherwise make a subtask depend on
    itself, measured in the routing benchmark)."""
    names = [*skills, PLAN_SKILL] if coordinate else list(skills)
    skill = {"type": "string", "enum": names}
    text = {"type": "string", "minLength": 1, "maxLength": 200}

    def subtask(i: int) -> dict[str, Any]:
        earlier = [f"s{j}" for j in range(1, i)]
        deps: dict[str, Any] = {"type": "array", "maxItems": 0}
        if earlier:
            deps = {
                "type": "array",
                "items": {"type": "string", "enum": earlier},
                "uniqueItems": True,
                "maxItems": len(earlier),
            }
        return {
            "type": "object",
            "properties": {
                "id": {"type": "string", "const": f"s{i}"},
                "skill": skill,
                "input": text,
                "depends_on": deps,
            },
            "required": ["id", "skill", "input", "depends_on"],
            "additionalProperties": False,
        }

    lengths = [
        {
            "type": "array",
            "prefixItems": [subtask(i) for i in range(1, n + 1)],
            "minItems": n,
            "maxItems": n,
        }
        for n in range(1, max_subtasks + 1)
    ]
    return {
        "type": "object",
        "properties": {"subtasks": {"anyOf": lengths}},
        "required": ["subtasks"],
        "additionalProperties": False,
    }


def words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def validate(
    raw: Any,
    *,
    task: str,
    skills: Collection[str],
    planner: str,
    max_subtasks: int,
    depth: int,
    max_depth: int,
) -> Plan:
    """``raw`` (decoded JSON) as a :class:`Plan` that can run.

    Raises:
        InvalidPlan: the first rule the plan breaks (see the module docstring).
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("subtasks"), list):
        raise InvalidPlan("the plan is not an object with a subtasks list")
    items = raw["subtasks"]
    if not 1 <= len(items) <= max_subtasks:
        raise InvalidPlan(f"the plan has {len(items)} subtasks; 1 to {max_subtasks} may run")
    task_words = words(task)
    out: list[Subtask] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidPlan(f"subtask {i + 1} is not an object")
        ident, skill, text = item.get("id"), item.get("skill"), item.get("input")
        deps = item.get("depends_on", [])
        if not isinstance(ident, str) or not ID_PATTERN.fullmatch(ident):
            raise InvalidPlan(f"subtask {i + 1} has no id of the form s1..s9")
        if any(s.id == ident for s in out):
            raise InvalidPlan(f"two subtasks are named {ident}")
        if skill == PLAN_SKILL:
            if depth + 1 >= max_depth:
                raise InvalidPlan(f"{ident} would be planned again beyond depth {max_depth}")
        elif not isinstance(skill, str) or skill not in skills:
            raise InvalidPlan(f"{ident} names a skill this gateway does not offer")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_INPUT_CHARS:
            raise InvalidPlan(f"{ident} has an empty or oversized input")
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise InvalidPlan(f"{ident} has a depends_on that is not a list of ids")
        refs = list(dict.fromkeys(PLACEHOLDER.findall(text)))
        if not (words(PLACEHOLDER.sub(" ", text)) & task_words) and not refs:
            raise InvalidPlan(f"{ident}'s input has nothing to do with the task")
        out.append(Subtask(ident, skill, text.strip(), tuple(dict.fromkeys([*deps, *refs]))))
    ids = {s.id for s in out}
    for s in out:
        if s.id in s.depends_on:
            raise InvalidPlan(f"{s.id} depends on itself")
        missing = [d for d in s.depends_on if d not in ids]
        if missing:
            raise InvalidPlan(f"{s.id} depends on {missing[0]}, which the plan does not have")
    plan = Plan(tuple(out), planner)
    plan.layers()  # raises on a cycle
    return plan
