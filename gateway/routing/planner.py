"""Decomposition: a task and its analysis become a plan.

Two planners, one result type:

- the **model** writes the plan as JSON under a schema that lists only the skills the caller
  may use (constrained decoding: it cannot name an unknown agent or leave the shape); the
  prompt puts the fixed part (instructions and skill list) first for the prefix cache, and the
  analyzer's reading of the task (its requirements and which needs which) last, as hints;
- the **rules** planner turns the analyzer's requirements into subtasks directly: one per
  requirement, on the most relevant skill that can take its text, depending on the requirement
  it builds on; a requirement with parts becomes a coordinated subtask while depth allows,
  otherwise its parts become subtasks of their own.

A model plan that fails :func:`plan.validate` (or a model that fails) hands over to the rules
planner, and the plan records why (``fallback``). A SINGLE task needs no plan from the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Literal

from adapters.errors import EffmeshError
from agents.llm.backend import ModelBackend
from agents.llm.wire import ChatRequest, JsonSchema
from gateway.routing.catalog import Catalog
from gateway.routing.complexity import Analysis, Requirement, Strategy
from gateway.routing.plan import (
    PLAN_SKILL,
    InvalidPlan,
    Plan,
    Subtask,
    plan_schema,
    validate,
)

PlannerMode = Literal["model", "rules"]

SYSTEM: Final = (
    "You plan work for a team of agents. Split the user's task into subtasks. Each subtask "
    "has an id (s1, s2, ...), the one skill from the list below that does it, the input to "
    "give that skill, and depends_on: the ids of the subtasks whose results it needs. Write "
    "{s1} in an input where the result of s1 belongs. Use as few subtasks as the task needs; "
    "subtasks that need nothing from each other run at the same time."
)
COORDINATE: Final = (
    f"- {PLAN_SKILL}: a part that is itself several steps; it is split again into subtasks."
)


class Planner:
    def __init__(
        self,
        backend: ModelBackend | None,
        *,
        mode: PlannerMode = "model",
        max_subtasks: int = 8,
        max_depth: int = 2,
        max_tokens: int = 384,
    ) -> None:
        self.backend = backend
        self.mode: PlannerMode = mode if backend is not None else "rules"
        self.max_subtasks = max_subtasks
        self.max_depth = max_depth
        self.max_tokens = max_tokens

    async def plan(
        self,
        task: str,
        analysis: Analysis,
        catalog: Catalog,
        *,
        depth: int = 0,
        mode: PlannerMode | None = None,
    ) -> Plan:
        """A valid plan for ``task``.

        Raises:
            InvalidPlan: not even the rules planner can place the task on a skill.
        """
        chosen = mode or self.mode
        if chosen == "rules" or self.backend is None or analysis.strategy is Strategy.SINGLE:
            return self.rules(task, analysis, catalog, depth=depth)
        try:
            return await self.model(task, analysis, catalog, depth=depth)
        except InvalidPlan as exc:
            reason = str(exc)
        except EffmeshError as exc:
            reason = f"the model did not answer: {exc.public_message}"
        plan = self.rules(task, analysis, catalog, depth=depth)
        return Plan(plan.subtasks, plan.planner, fallback=reason)

    def _coordinate(self, depth: int) -> bool:
        return depth + 1 < self.max_depth

    async def model(self, task: str, analysis: Analysis, catalog: Catalog, *, depth: int) -> Plan:
        """The model's plan, validated.

        Raises:
            InvalidPlan: the reply is not a valid plan.
            EffmeshError: the model call failed.
        """
        if self.backend is None:
            raise InvalidPlan("no model is configured for planning")
        coordinate = self._coordinate(depth)
        system = "\n".join([SYSTEM, "", "Skills:", *catalog.lines()])
        if coordinate:
            system += "\n" + COORDINATE
        schema = plan_schema(catalog.names, max_subtasks=self.max_subtasks, coordinate=coordinate)
        reply = await self.backend.chat(
            ChatRequest(
                [
                    {"role": "system", "content": system},
                    {"role": "user", "content": _user_prompt(task, analysis.requirements)},
                ],
                max_tokens=self.max_tokens,
                constraint=JsonSchema(schema, "plan"),
            )
        )
        try:
            raw = json.loads(reply.text)
        except ValueError:
            raise InvalidPlan("the model's plan is not JSON (cut at its token limit?)") from None
        return self._checked(raw, task, catalog, "model", depth)

    def _checked(self, raw: Any, task: str, catalog: Catalog, planner: str, depth: int) -> Plan:
        return validate(
            raw,
            task=task,
            skills=catalog.entries,
            planner=planner,
            max_subtasks=self.max_subtasks,
            depth=depth,
            max_depth=self.max_depth,
        )

    def rules(self, task: str, analysis: Analysis, catalog: Catalog, *, depth: int = 0) -> Plan:
        """The deterministic plan (see the module docstring).

        Raises:
            InvalidPlan: no skill can take the task (or one of its requirements).
        """
        coordinate = self._coordinate(depth)
        units: list[tuple[str, bool, int | None]] = []  # (text, coordinated, after: unit index)
        requirements = analysis.requirements if analysis.strategy is not Strategy.SINGLE else ()
        first_unit: dict[int, int] = {}
        for i, req in enumerate(requirements):
            after = first_unit.get(req.after) if req.after is not None else None
            first_unit[i] = len(units)
            if req.parts and coordinate:
                units.append((req.text, True, after))
            elif req.parts:
                base = len(units)
                units.extend((p, False, after if j == 0 else None) for j, p in enumerate(req.parts))
                first_unit[i] = base
            else:
                units.append((req.text, False, after))
        if len(units) <= 1:
            units = [(task.strip(), False, None)]
        if len(units) > self.max_subtasks:  # the tail rides on the last subtask
            keep = self.max_subtasks - 1
            tail = " ".join(text for text, _, _ in units[keep:])
            units = [*units[:keep], (tail, False, units[keep][2])]
        subtasks = []
        for i, (text, coordinated, after) in enumerate(units):
            ident = f"s{i + 1}"
            deps = (f"s{after + 1}",) if after is not None and after < i else ()
            if coordinated:
                subtasks.append(Subtask(ident, PLAN_SKILL, text, deps))
                continue
            entry = catalog.best(text) or catalog.best(task)
            if entry is None:
                raise InvalidPlan("no agent this caller may use can take the task")
            subtasks.append(Subtask(ident, entry.name, text, deps))
        return self._checked(
            {"subtasks": [s.as_json() for s in subtasks]}, task, catalog, "rules", depth
        )


def _user_prompt(task: str, requirements: Sequence[Requirement]) -> str:
    lines = [f"Task: {task.strip()}"]
    if len(requirements) > 1:
        lines.append("Its parts:")
        for i, req in enumerate(requirements):
            needs = f" (needs the result of part {req.after + 1})" if req.after is not None else ""
            lines.append(f"{i + 1}. {req.text}{needs}")
    lines.append("Write the plan as JSON.")
    return "\n".join(lines)
