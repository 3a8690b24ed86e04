"""The router as an agent: ``effmesh.run`` takes a task, routes it, and streams the run.

Every protocol reaches it the way it reaches any agent: the MCP tool ``effmesh.run``, the
gateway's own A2A agent (a message that names no skill), and the ACP agent ``effmesh``. It
works on canonical values and other agents' ``run`` only.

One run:

1. the complexity analyzer scores the task and picks a strategy (event ``routing``, with the
   score, each factor and the reason); given the gateway's embedder, the task's query
   embedding (computed once per request, off the event loop) lets the learned classifier
   choose and names the nearest labelled tasks (with a model built with the second look,
   an unsure decision embeds the task's parts, also off the loop); with a decision log, the
   decision is recorded for feedback;
2. the planner writes the plan over the skills the caller may use (event ``plan``);
3. the executor runs it (events ``subtask.started`` / ``subtask.finished``, and ``plan`` for
   each coordinated subtask planned again);
4. the answer is synthesized from the results (artifact ``answer``); artifact ``run`` holds the
   analysis, the plans and every subtask's outcome.

Each event is a working status whose message has a one-line text (what MCP progress
notifications show) and the event as a data part (A2A status updates and ACP generic events
carry it). The run fails only when no subtask finished; otherwise the answer names what did
not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from adapters.errors import InvalidParams, NotFound, UpstreamUnavailable, quote
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    DataPart,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import NOBODY, Agent, principal_in
from agents.embeddings import Embedder
from agents.memory.scope import SCOPE_KEY, scope_for
from agents.tools.index import ToolIndex
from gateway.registry import Registry
from gateway.routing.catalog import Catalog
from gateway.routing.complexity import Analysis, ComplexityAnalyzer, Strategy
from gateway.routing.complexity.learned import Floats
from gateway.routing.executor import Executor, Outcome, synthesize
from gateway.routing.feedback import DecisionLog
from gateway.routing.marks import FEEDBACK, Marks, feedback_reply
from gateway.routing.plan import InvalidPlan, Plan, Subtask
from gateway.routing.planner import Planner, PlannerMode
from gateway.runtime.runner import Runtime
from gateway.runtime.tasks import result_text, text_of
from observability import tracing

NAME: Final = "effmesh"
MAX_TASK_CHARS: Final = 16_000
EVENT_KEY: Final = "effmesh.event"
"""Status metadata: which routing event a working status carries."""

RUN = Skill(
    "run",
    "Routes a task across this gateway's agents: scores its complexity, splits it into "
    "subtasks with dependencies, runs them (independent ones at the same time) and "
    "combines their results.",
    input_schema={
        "type": "object",
        "properties": {
            "task": {"type": "string", "minLength": 1, "maxLength": MAX_TASK_CHARS},
            "strategy": {"type": "string", "enum": [s.value for s in Strategy]},
            "planner": {"type": "string", "enum": ["model", "rules"]},
        },
        "required": ["task"],
        "additionalProperties": False,
    },
    tags=("routing", "planning"),
    examples=("Compute 17 * 23, then divide the result by 7.",),
)


@dataclass(frozen=True, slots=True)
class RouterSettings:
    skills: tuple[str, ...] = ("*",)
    """Registry skills (names or patterns) plans may use."""
    concurrency: int = 4
    subtask_timeout: float = 60.0
    retries: int = 1
    backoff: float = 0.2


@dataclass(frozen=True, slots=True)
class Request:
    task: str
    strategy: Strategy | None = None
    planner: PlannerMode | None = None


def read_request(invocation: Invocation) -> Request:
    """The task a caller sent: text parts, or a data part ``{"task", "strategy"?, "planner"?}``.

    Raises:
        InvalidParams: no task, an oversized one, or an unknown strategy or planner.
    """
    texts = [p.text for p in invocation.message.parts if isinstance(p, TextPart)]
    data = [p.data for p in invocation.message.parts if isinstance(p, DataPart)]
    strategy: Strategy | None = None
    planner: PlannerMode | None = None
    if data:
        if len(data) > 1 or not isinstance(data[0], dict):
            raise InvalidParams("send the task as text, or as one object with a task field")
        fields = data[0]
        unknown = sorted(set(fields) - {"task", "strategy", "planner"})
        if unknown:
            raise InvalidParams(f"unknown field {quote(unknown[0])}")
        if not isinstance(fields.get("task"), str):
            raise InvalidParams("task must be a string")
        texts.append(fields["task"])
        if "strategy" in fields:
            try:
                strategy = Strategy(fields["strategy"])
            except ValueError:
                names = ", ".join(s.value for s in Strategy)
                raise InvalidParams(f"strategy must be one of {names}") from None
        if "planner" in fields:
            if fields["planner"] not in ("model", "rules"):
                raise InvalidParams("planner must be model or rules")
            planner = fields["planner"]
    task = "\n".join(texts).strip()
    if not task:
        raise InvalidParams("the task is empty")
    if len(task) > MAX_TASK_CHARS:
        raise InvalidParams(f"the task is longer than {MAX_TASK_CHARS} characters")
    return Request(task, strategy, planner)


class RouterAgent(Agent):
    scoped = True
    """It passes the caller's memory scope on to the agents it calls."""
    delegating = True
    """It calls agents on the caller's behalf, so it is told who the caller is."""

    def __init__(
        self,
        registry: Registry,
        analyzer: ComplexityAnalyzer,
        planner: Planner,
        index: ToolIndex,
        settings: RouterSettings | None = None,
        *,
        name: str = NAME,
        runtime: Runtime | None = None,
        embedder: Embedder | None = None,
        decisions: DecisionLog | None = None,
        marks: Marks | None = None,
    ) -> None:
        """``runtime``: where subtasks run and are stored (default: its own, in memory).
        ``embedder``: the gateway's, for the task's query embedding (without it, or without a
        learned model in ``analyzer``, the factors alone decide). ``decisions``: where each
        decision is recorded for feedback (default: nowhere). ``marks``: where callers' marks
        on those decisions go; with it, the skill ``feedback`` takes them."""
        self.registry = registry
        self.runtime = runtime or Runtime()
        self.analyzer = analyzer
        self.planner = planner
        self.index = index
        self.settings = settings or RouterSettings()
        self.embedder = embedder
        self.decisions = decisions
        self.marks = marks
        self._descriptor = AgentDescriptor(
            name,
            (RUN, FEEDBACK) if marks is not None else (RUN,),
            "Routes tasks across the gateway's agents, as a plan of subtasks.",
            "1.0",
            streaming=True,
        )

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if invocation.skill == FEEDBACK.name and self.marks is not None:
            yield feedback_reply(self.marks, invocation)
            return
        if invocation.skill != RUN.name:
            raise NotFound(
                f"agent {quote(self._descriptor.name)} has no skill {quote(invocation.skill)}"
            )
        request = read_request(invocation)
        context = invocation.message.context_id
        meta = invocation.metadata
        principal = principal_in(meta)
        scope = meta.get(SCOPE_KEY)
        if not isinstance(scope, str):
            scope = scope_for(None if principal == NOBODY else principal)
        catalog = Catalog.of(
            self.registry,
            principal,
            patterns=self.settings.skills,
            exclude=self._descriptor.name,
            index=self.index,
        )
        if not catalog.entries:
            raise UpstreamUnavailable("no agent this caller may use can take a subtask")
        events: asyncio.Queue[StreamItem | None] = asyncio.Queue()

        async def emit(event: dict[str, Any], line: str) -> None:
            message = Message("agent", (TextPart(line), DataPart(event)))
            events.put_nowait(
                StatusEvent(
                    task_id, TaskState.WORKING, context, message, {EVENT_KEY: event["event"]}
                )
            )

        work = asyncio.create_task(
            self._route(request, catalog, principal, scope, emit, task_id=task_id),
            name=f"route {task_id}",
        )
        work.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (item := await events.get()) is not None:
                yield item
            record = await work
        finally:
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
        outcome = from_record(record, task_id, context)
        for artifact in outcome.artifacts:
            yield ArtifactEvent(task_id, artifact, context, last_chunk=True)
        yield outcome

    async def _route(
        self,
        request: Request,
        catalog: Catalog,
        principal: str | None,
        scope: str,
        emit: Any,
        *,
        task_id: str = "",
    ) -> RunRecord:
        # a strategy the caller asked for is used whatever the analysis says: no embedding
        vector = await self._embed(request.task) if request.strategy is None else None
        with tracing.span("routing decision") as span:
            model = self.analyzer.model
            if vector is None or self.embedder is None or model is None or model.second is None:
                analysis = self.analyzer.analyze(request.task, vector)
            else:
                # a second look may embed the task's parts: off the event loop
                analysis = await asyncio.to_thread(
                    self.analyzer.analyze, request.task, vector, self.embedder.embed_queries
                )
            if self.decisions is not None:
                owner = None if principal == NOBODY else principal
                self.decisions.record(task_id, request.task, analysis, vector, owner)
            if request.strategy is not None and request.strategy is not analysis.strategy:
                analysis = replace(
                    analysis,
                    strategy=request.strategy,
                    reason=f"the caller asked for {request.strategy.value} "
                    f"(the analysis chose {analysis.strategy.value})",
                )
            span.set_attributes(_routing_attributes(analysis, request))
        await emit(
            {"event": "routing", **analysis.as_json()},
            f"routing: {analysis.strategy.value}, score {analysis.score:.2f}: {analysis.reason}",
        )
        plans: list[dict[str, Any]] = []
        try:
            plan = await self._plan(request.task, analysis, catalog, request.planner, 0)
        except InvalidPlan as exc:
            return RunRecord(self._decision(analysis, task_id), [], [], "", str(exc))
        plans.append({"parent": None, "depth": 0, **plan.as_json()})
        await emit(
            {"event": "plan", "parent": None, "depth": 0, **plan.as_json()}, _plan_line(plan)
        )

        async def replan(subtask: Subtask, text: str, depth: int) -> Plan:
            sub = await self._plan(
                text, self.analyzer.analyze(text), catalog, request.planner, depth
            )
            plans.append({"parent": subtask.id, "depth": depth, **sub.as_json()})
            return sub

        async def dispatch(skill: str, text: str, *, free_text: bool) -> str:
            return await self._dispatch(catalog, skill, text, principal, scope)

        executor = Executor(
            dispatch,
            emit=emit,
            free_text=lambda skill: _free_text(catalog, skill),
            replan=replan,
            concurrency=self.settings.concurrency,
            timeout=self.settings.subtask_timeout,
            retries=self.settings.retries,
            backoff=self.settings.backoff,
        )
        outcomes = await executor.run(plan)
        answer = synthesize(plan, outcomes)
        return RunRecord(self._decision(analysis, task_id), plans, outcomes, answer, None)

    def _decision(self, analysis: Analysis, task_id: str) -> dict[str, Any]:
        """The analysis as the run record holds it; with a decision log, ``decision`` is the
        id a caller marks it by (MCP callers see no task id otherwise)."""
        record = analysis.as_json()
        if self.decisions is not None:
            record["decision"] = task_id
        return record

    async def _embed(self, task: str) -> Floats | None:
        """The task's query embedding, or None when there is no embedder or model to use it
        (or it fails: the factors then decide alone)."""
        if self.embedder is None or self.analyzer.model is None:
            return None
        try:
            vectors = await asyncio.to_thread(self.embedder.embed_queries, [task])
        except (ValueError, RuntimeError, OSError):
            return None
        vector: Floats = vectors[0]
        return vector

    async def _plan(
        self,
        task: str,
        analysis: Analysis,
        catalog: Catalog,
        mode: PlannerMode | None,
        depth: int,
    ) -> Plan:
        """The planner's plan, in its own span (a model planner's calls are its children)."""
        with tracing.span("plan", attributes={"effmesh.plan.depth": depth}) as span:
            try:
                plan = await self.planner.plan(task, analysis, catalog, depth=depth, mode=mode)
            except InvalidPlan as exc:
                span.set_status(tracing.Status(tracing.StatusCode.ERROR, str(exc)))
                raise
            span.set_attributes(
                {
                    "effmesh.plan.planner": plan.planner,
                    "effmesh.plan.subtasks": len(plan.subtasks),
                    "effmesh.plan.layers": len(plan.layers()),
                }
            )
            if plan.fallback:
                span.set_attribute("effmesh.plan.fallback", plan.fallback)
            return plan

    async def _dispatch(
        self, catalog: Catalog, skill: str, text: str, principal: str | None, scope: str
    ) -> str:
        route = self.registry.route(skill, principal)
        invocation = Invocation(skill, Message("user", catalog.entries[skill].parts(text)))
        settled = await self.runtime.delegate(
            route, invocation, via=self._descriptor.name, principal=principal, scope=scope
        )
        if settled.error is not None:
            raise settled.error
        task = settled.task
        if task.state is not TaskState.COMPLETED:
            why = text_of(task.status_message.parts) if task.status_message else ""
            raise UpstreamUnavailable(
                f"{skill} ended {task.state.value}" + (f": {why}" if why else "")
            )
        return result_text(task)


def _routing_attributes(analysis: Analysis, request: Request) -> dict[str, Any]:
    """The decision as span attributes: strategy, score and each factor's score. The reason
    quotes words of the task, so it is kept only where prompt text may be."""
    out: dict[str, Any] = {
        "effmesh.routing.strategy": analysis.strategy.value,
        "effmesh.routing.score": analysis.score,
        "effmesh.routing.source": analysis.source,
        "effmesh.routing.requirements": len(analysis.requirements),
        "effmesh.routing.requested": request.strategy is not None,
    }
    for factor in analysis.factors:
        out[f"effmesh.routing.factor.{factor.name}"] = factor.score
    if tracing.content_enabled():
        out["effmesh.routing.reason"] = analysis.reason
    return out


def _free_text(catalog: Catalog, skill: str) -> bool:
    entry = catalog.entries.get(skill)
    return entry is not None and entry.field is None


def _plan_line(plan: Plan) -> str:
    steps = ", ".join(
        s.id + " " + s.skill + (f" (after {', '.join(s.depends_on)})" if s.depends_on else "")
        for s in plan.subtasks
    )
    fallback = f"; model plan refused: {plan.fallback}" if plan.fallback else ""
    return f"plan ({plan.planner}): {steps}{fallback}"


@dataclass(frozen=True, slots=True)
class RunRecord:
    analysis: dict[str, Any]
    plans: list[dict[str, Any]]
    outcomes: Sequence[Outcome]
    answer: str
    error: str | None


def from_record(record: RunRecord, task_id: str, context: str | None) -> Task:
    failed = [o for o in record.outcomes if not o.ok]
    summary: dict[str, Any] = {
        "routing": record.analysis,
        "plans": record.plans,
        "subtasks": [o.as_json() for o in record.outcomes],
        "failed": [o.id for o in failed],
    }
    run = Artifact("run", (DataPart(summary),), "run")
    if record.error is not None or not any(o.ok for o in record.outcomes):
        why = record.error or "no subtask finished"
        message = Message("agent", (TextPart(f"{why}\n\n{record.answer}".strip()),))
        return Task(task_id, TaskState.FAILED, context, message, artifacts=(run,))
    answer = Artifact("answer", (TextPart(record.answer),), "answer")
    return Task(
        task_id,
        TaskState.COMPLETED,
        context,
        artifacts=(answer, run),
        metadata={"effmesh.partial": bool(failed)},
    )
