"""The ``[routing]`` table: the router agent (MCP tool ``effmesh.run``, ACP agent ``effmesh``),
and its ``[routing.weights]``, the complexity analyzer's weights and thresholds."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler, create_model
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from adapters.errors import InvalidParams
from gateway.settings.errors import Invalid

Planner = Literal["auto", "model", "rules"]


def weights_table(table: Any) -> Any:
    """``[routing.weights]`` as sorted (name, value) pairs: only the weights it sets.

    Raises:
        Invalid: an unknown weight, or one the analyzer refuses (not a finite number >= 0),
            at its key.
    """
    if not isinstance(table, dict):
        return table  # for validation to refuse
    # The analyzer is imported only when a file sets weights.
    from gateway.routing.complexity import Weights  # noqa: PLC0415

    known = {f.name for f in fields(Weights)}
    out: list[tuple[str, float]] = []
    for name, value in table.items():
        if name not in known:
            raise Invalid((name,), "unknown key")
        try:
            checked = Weights.from_mapping({name: value})
        except InvalidParams as exc:
            raise Invalid((name,), exc.public_message) from None
        out.append((name, float(getattr(checked, name))))
    return tuple(sorted(out))


class _WeightsSchema:
    """The JSON schema of ``[routing.weights]``: the analyzer's ``Weights``, with its field
    documentation (built only when a schema or the reference is generated)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        from gateway.routing.complexity import FACTORS, Weights  # noqa: PLC0415

        holder = create_model(
            "WeightsHolder",
            __config__=ConfigDict(use_attribute_docstrings=True),
            weights=(Weights, Weights()),
        )
        schema: dict[str, Any] = holder.model_json_schema()["$defs"]["Weights"]
        for name in FACTORS:
            schema["properties"][name].setdefault(
                "description",
                f"How much the {name} factor counts (relative: the score divides by the "
                "five factors' sum).",
            )
        return schema


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """The router agent: it plans a task into subtasks and runs them on the registry."""

    enabled: bool = True
    """``false``: no router agent (and the name ``effmesh`` is free for an agent)."""
    planner: Planner = "auto"
    """Who writes plans: ``model``, ``rules``, or ``auto``: the model when the gateway runs
    specialists and the model is not tiny, else the rules."""
    model: str = "default"
    """The ``[models]`` entry (or SGLang URL) that writes plans."""
    skills: tuple[str, ...] = ("*",)
    """Registry skills plans may use, by name or pattern."""
    max_subtasks: Annotated[int, Field(ge=1, le=9)] = 8
    """Subtasks in one plan."""
    max_depth: Annotated[int, Field(ge=1, le=4)] = 2
    """Plan levels: 2 lets a subtask be planned once more."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    """Agent calls at once within one run."""
    subtask_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    """How long one subtask may take."""
    retries: Annotated[int, Field(ge=0, le=5)] = 1
    """More tries for a subtask whose agent timed out or was down."""
    weights: Annotated[
        tuple[tuple[str, float], ...], BeforeValidator(weights_table), _WeightsSchema()
    ] = ()
    """Complexity weights and thresholds that differ from the defaults, each a finite number
    >= 0 (``effmesh calibrate tasks.json`` fits them to labelled tasks)."""
    learned_model: str = ""
    """The learned routing model (``effmesh calibrate --feedback ... --model-out`` writes one);
    empty: the bundled one; ``"none"``: the five factors alone decide. The model is used when
    the gateway has an embedder (it runs specialists or memory)."""
    decision_log: str = ""
    """A JSON-lines file the router appends each decision to, for feedback (it holds task
    text); empty: none. With it, callers mark decisions of their own tasks at
    ``/routing/feedback`` (or the router's ``feedback`` skill), kept beside it in
    ``<name>.marked.jsonl`` for ``effmesh calibrate --feedback``."""
