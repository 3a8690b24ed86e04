"""The router agent on canonical values: plans validated, run in dependency order with their
inputs, concurrently where independent, canceled as a whole, partial on failure, and planned
again by rules when a model's plan cannot run.

Plans that must have an exact shape come from a model twin (a chat endpoint replying with the
plan under test); the agents doing the work are the real calculator and echo agents, plus
probes from tests/routing_agents.py that make overlap and cancellation observable.
"""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.errors import InvalidParams
from adapters.model import DataPart, Invocation, Message, StatusEvent, Task, TaskState, TextPart
from agents.echo import EchoAgent
from agents.llm.backend import ModelBackend
from agents.llm.wire import ServerKind
from agents.tools.calculator import CalculatorAgent
from agents.tools.index import ToolIndex
from gateway.registry import Registry
from gateway.routing.agent import EVENT_KEY, RouterAgent, RouterSettings
from gateway.routing.complexity import ComplexityAnalyzer
from gateway.routing.plan import PLAN_SKILL, InvalidPlan, Plan, Subtask, plan_schema, validate
from gateway.routing.planner import Planner
from gateway.runtime import calls
from tests.routing_agents import BarrierAgent, GateAgent
from tests.servers import running

pytestmark = pytest.mark.anyio

PLANS: list[Any] = []
"""What the model twin replies next (a plan object, or raw text)."""


def plan_twin(base: str) -> Starlette:
    async def chat(request: Request) -> Response:
        await request.body()
        reply = PLANS.pop(0) if PLANS else {"subtasks": []}
        content = reply if isinstance(reply, str) else json.dumps(reply)
        return JSONResponse(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10},
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture(scope="module")
def twin_url() -> Iterator[str]:
    with running(plan_twin) as url:
        yield url


BACKENDS: list[ModelBackend] = []


async def close_backends() -> None:
    while BACKENDS:
        await BACKENDS.pop().aclose()


def router_for(
    registry: Registry,
    twin_url: str | None = None,
    *,
    skills: tuple[str, ...] = ("*",),
    **settings: Any,
) -> RouterAgent:
    backend = ModelBackend([twin_url], kind=ServerKind.OPENAI, retries=0) if twin_url else None
    if backend is not None:
        BACKENDS.append(backend)
    router = RouterAgent(
        registry,
        ComplexityAnalyzer(),
        Planner(backend, mode="model" if backend else "rules"),
        ToolIndex(None, None),
        RouterSettings(skills=skills, **settings),
    )
    registry.add(router)
    return router


async def run(
    registry: Registry,
    task: str | dict[str, Any],
    principal: str | None = None,
    *,
    strategy: str | None = None,
) -> tuple[list[dict[str, Any]], Task]:
    """The router's events and outcome for ``task``; ``strategy`` set: that strategy, whatever
    the analysis says (plans from the model twin need a multi-part strategy to be asked for)."""
    if strategy is not None:
        assert isinstance(task, str)
        task = {"task": task, "strategy": strategy}
    part = TextPart(task) if isinstance(task, str) else DataPart(task)
    route = registry.route("effmesh.run", principal)
    events: list[dict[str, Any]] = []
    outcome = None
    try:
        async for item in calls.stream(
            route,
            Invocation("run", Message("user", (part,))),
            "t-1",
            scope="anonymous",
            principal=principal,
        ):
            if isinstance(item, StatusEvent) and item.message is not None:
                data = [p.data for p in item.message.parts if isinstance(p, DataPart)]
                assert item.metadata[EVENT_KEY] == data[0]["event"]
                events.append(data[0])
            if isinstance(item, Task):
                outcome = item
    finally:
        await close_backends()
    assert outcome is not None
    return events, outcome


def answer(task: Task) -> str:
    (art,) = [a for a in task.artifacts if a.name == "answer"]
    return "".join(p.text for p in art.parts if isinstance(p, TextPart))


def order(events: list[dict[str, Any]]) -> list[str]:
    """``started s1`` / ``finished s1`` in the order they happened."""
    return [
        f"{e['event'].split('.')[1]} {e['id']}" for e in events if e["event"].startswith("subtask")
    ]


# -- validation -------------------------------------------------------------------------


SKILLS = {"calculator.evaluate", "echo.echo"}


def check(raw: Any, task: str = "compute 6*7 and echo hello", depth: int = 0) -> Plan:
    return validate(
        raw, task=task, skills=SKILLS, planner="model", max_subtasks=4, depth=depth, max_depth=2
    )


def sub(ident: str, skill: str = "echo.echo", text: str = "echo hello", deps: Any = ()) -> Any:
    return {"id": ident, "skill": skill, "input": text, "depends_on": list(deps)}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ([], "not an object"),
        ({"subtasks": []}, "has 0 subtasks"),
        ({"subtasks": [sub(f"s{i}") for i in range(1, 6)]}, "has 5 subtasks"),
        ({"subtasks": [sub("s1"), sub("s1")]}, "two subtasks are named s1"),
        ({"subtasks": [sub("x1")]}, "no id"),
        ({"subtasks": [sub("s1", "weather.today")]}, "does not offer"),
        ({"subtasks": [sub("s1", deps=["s2"]), sub("s2", deps=["s1"])]}, "cycle"),
        ({"subtasks": [sub("s1", deps=["s1"])]}, "depends on itself"),
        ({"subtasks": [sub("s1", deps=["s3"])]}, "does not have"),
        ({"subtasks": [sub("s1", text="   ")]}, "empty"),
        ({"subtasks": [sub("s1", text="write a poem about cats")]}, "nothing to do"),
        ({"subtasks": [{**sub("s1"), "depends_on": "s2"}]}, "not a list"),
    ],
)
def test_a_plan_that_cannot_run_is_refused_with_the_reason(raw: Any, why: str) -> None:
    with pytest.raises(InvalidPlan, match=why):
        check(raw)


def test_coordinated_subtasks_are_bounded_by_depth() -> None:
    raw = {"subtasks": [sub("s1", PLAN_SKILL)]}
    assert check(raw).subtasks[0].coordinated
    with pytest.raises(InvalidPlan, match="beyond depth 2"):
        check(raw, depth=1)


def test_placeholders_add_their_dependencies_and_layers_follow_them() -> None:
    plan = check(
        {
            "subtasks": [
                sub("s1", "calculator.evaluate", "6*7"),
                sub("s2", "echo.echo", "{s1} hello"),
                sub("s3", "echo.echo", "hello"),
                sub("s4", "echo.echo", "{s2} and {s3}"),
            ]
        }
    )
    assert plan.subtasks[1].depends_on == ("s1",)
    assert plan.subtasks[3].depends_on == ("s2", "s3")
    assert [[s.id for s in layer] for layer in plan.layers()] == [["s1", "s3"], ["s2"], ["s4"]]
    cyclic = Plan(
        (Subtask("s1", "echo.echo", "x", ("s2",)), Subtask("s2", "echo.echo", "x", ("s1",))), "x"
    )
    with pytest.raises(InvalidPlan):
        cyclic.layers()


# -- execution ---------------------------------------------------------------------------

DIAMOND = {
    "subtasks": [
        sub("s1", "calculator.evaluate", "6*7"),
        sub("s2", "barrier.meet", "{s1} + 1", ["s1"]),
        sub("s3", "barrier.meet", "{s1} * 2", ["s1"]),
        sub("s4", "calculator.evaluate", "({s2}) + ({s3})", ["s2", "s3"]),
    ]
}


async def test_a_diamond_runs_in_dependency_order_with_its_inputs_and_overlaps(
    twin_url: str,
) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    barrier = BarrierAgent(parties=2)
    registry.add(barrier)
    router_for(registry, twin_url)
    PLANS[:] = [DIAMOND]
    events, task = await run(
        registry,
        "Compute 6*7; then add 1 to it and double it, and add those two up.",
        strategy="sequential",
    )
    steps = order(events)
    # s1 first; both branches start before either ends (they overlap); s4 after both.
    assert steps[:2] == ["started s1", "finished s1"]
    assert {steps[2], steps[3]} == {"started s2", "started s3"}
    assert set(steps[4:6]) == {"finished s2", "finished s3"}
    assert steps[6:] == ["started s4", "finished s4"]
    assert sorted(barrier.inputs) == ["42 * 2", "42 + 1"]
    assert task.state is TaskState.COMPLETED
    assert answer(task) == "127"
    (plan,) = [e for e in events if e["event"] == "plan"]
    assert plan["planner"] == "model"
    assert "fallback" not in plan
    routing = next(e for e in events if e["event"] == "routing")
    assert {f["name"] for f in routing["factors"]} == {
        "length",
        "requirements",
        "domains",
        "tools",
        "depth",
    }


async def test_the_concurrency_bound_holds_back_independent_subtasks(twin_url: str) -> None:
    # Two independent subtasks that can only finish together, with one slot: they cannot
    # overlap, so the barrier gives up and both fail rather than the bound being exceeded.
    registry = Registry()
    registry.add(BarrierAgent(parties=2, patience=0.5))
    router_for(registry, twin_url, concurrency=1, retries=0)
    PLANS[:] = [{"subtasks": [sub("s1", "barrier.meet", "one"), sub("s2", "barrier.meet", "two")]}]
    events, task = await run(registry, "Meet one and meet two.", strategy="parallel")
    assert order(events) == ["started s1", "finished s1", "started s2", "finished s2"]
    finished = [e for e in events if e["event"] == "subtask.finished"]
    assert finished[0]["error"] == "the other branch never came"
    assert task.metadata["effmesh.partial"] is True


async def test_canceling_the_run_cancels_every_running_subtask(twin_url: str) -> None:
    registry = Registry()
    gate = GateAgent()
    registry.add(gate)
    registry.add(EchoAgent())
    router_for(registry, twin_url, skills=("gate.*", "echo.wait"))
    PLANS[:] = [
        {
            "subtasks": [
                sub("s1", "gate.hold", "hold one"),
                sub("s2", "gate.hold", "hold two"),
                sub("s3", "echo.wait", "wait three"),
                sub("s4", "gate.hold", "hold four {s1}", ["s1"]),
            ]
        }
    ]
    seen: list[dict[str, Any]] = []

    async def consume() -> None:
        route = registry.route("effmesh.run")
        task = {"task": "hold one, hold two, wait three, then hold four", "strategy": "parallel"}
        invocation = Invocation("run", Message("user", (DataPart(task),)))
        async for item in calls.stream(route, invocation, "t-2", scope="anonymous"):
            if isinstance(item, StatusEvent) and item.message is not None:
                seen.extend(p.data for p in item.message.parts if isinstance(p, DataPart))

    runner = asyncio.create_task(consume())
    for _ in range(200):
        if len(gate.started) == 2 and sum(e["event"] == "subtask.started" for e in seen) == 3:
            break
        await asyncio.sleep(0.01)
    assert sorted(gate.started) == ["hold one", "hold two"]
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    await close_backends()
    assert sorted(gate.canceled) == ["hold one", "hold two"]
    # s4 never started: it waited on s1.
    assert not any(e.get("id") == "s4" for e in seen)


async def test_a_failing_subtask_gives_a_partial_result_that_names_it(twin_url: str) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    registry.add(GateAgent())
    router_for(registry, twin_url, retries=0)
    PLANS[:] = [
        {
            "subtasks": [
                sub("s1", "calculator.evaluate", "1/0"),
                sub("s2", "calculator.evaluate", "{s1} + 1", ["s1"]),
                sub("s3", "calculator.evaluate", "2+3"),
                sub("s4", "gate.boom", "boom 2"),
            ]
        }
    ]
    events, task = await run(
        registry, "Compute 1/0, add 1 to it; also 2+3; and boom 2.", strategy="parallel"
    )
    assert task.state is TaskState.COMPLETED
    assert task.metadata["effmesh.partial"] is True
    text = answer(task)
    assert text.startswith("2+3\n5")
    assert "s1 (calculator.evaluate): failed, expression: cannot evaluate '1/0'" in text
    assert "s2 (calculator.evaluate): skipped, needs s1" in text
    assert "s4 (gate.boom): failed, the agent failed" in text
    assert "secret" not in json.dumps(events) + text
    run_part = next(a for a in task.artifacts if a.name == "run").parts[0]
    assert isinstance(run_part, DataPart)
    assert run_part.data["failed"] == ["s1", "s2", "s4"]


async def test_when_every_subtask_fails_the_task_fails_and_says_why(twin_url: str) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    router_for(registry, twin_url)
    PLANS[:] = [{"subtasks": [sub("s1", "calculator.evaluate", "1/0")]}]
    _, task = await run(registry, "Compute 1/0 and 2/0 for me", strategy="parallel")
    assert task.state is TaskState.FAILED
    assert task.status_message is not None
    why = task.status_message.parts[0]
    assert isinstance(why, TextPart)
    assert "no subtask finished" in why.text
    assert "s1 (calculator.evaluate)" in why.text


async def test_unavailable_agents_are_tried_again_and_slow_ones_time_out(twin_url: str) -> None:
    registry = Registry()
    gate = GateAgent(failures=1)
    registry.add(gate)
    router_for(registry, twin_url, skills=("gate.*",), retries=1, subtask_timeout=0.3, backoff=0.01)
    PLANS[:] = [
        {"subtasks": [sub("s1", "gate.flaky", "flaky one"), sub("s2", "gate.hold", "hold two")]}
    ]
    events, task = await run(registry, "flaky one, and hold two", strategy="parallel")
    finished = {e["id"]: e for e in events if e["event"] == "subtask.finished"}
    assert finished["s1"]["state"] == "completed"
    assert finished["s1"]["attempts"] == 2
    assert finished["s2"]["state"] == "failed"
    assert finished["s2"]["attempts"] == 2
    assert finished["s2"]["error"] == "no result within 0.3 s"
    assert gate.canceled == ["hold two", "hold two"]
    assert task.metadata["effmesh.partial"] is True


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("{not json", "not JSON"),
        (
            {
                "subtasks": [
                    sub("s1", "calculator.evaluate", "2+3", ["s2"]),
                    sub("s2", "calculator.evaluate", "4*5", ["s1"]),
                ]
            },
            "cycle",
        ),
        ({"subtasks": [sub("s1", "weather.today", "2+3")]}, "does not offer"),
        (
            {"subtasks": [sub("s1", "calculator.evaluate", "the moon is made of cheese")]},
            "nothing to do",
        ),
    ],
)
async def test_an_invalid_model_plan_falls_back_to_the_rules_plan(
    twin_url: str, reply: Any, why: str
) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    router_for(registry, twin_url)
    PLANS[:] = [reply]
    events, task = await run(registry, "1. 2+3\n2. 4*5")
    (plan,) = [e for e in events if e["event"] == "plan"]
    assert plan["planner"] == "rules"
    assert why in plan["fallback"]
    assert [s["skill"] for s in plan["subtasks"]] == ["calculator.evaluate"] * 2
    assert task.state is TaskState.COMPLETED
    assert "5" in answer(task)
    assert "20" in answer(task)


async def test_a_model_that_is_down_hands_over_to_the_rules_planner() -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    router_for(registry, "http://127.0.0.1:9")  # nothing listens there
    events, task = await run(registry, "1. 2+3\n2. 4*5")
    (plan,) = [e for e in events if e["event"] == "plan"]
    assert plan["planner"] == "rules"
    assert "did not answer" in plan["fallback"]
    assert task.state is TaskState.COMPLETED


async def test_a_coordinated_subtask_is_planned_again_and_its_parts_run(twin_url: str) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    registry.add(EchoAgent())
    router_for(registry, twin_url, skills=("calculator.*", "echo.echo"))
    PLANS[:] = [
        {
            "subtasks": [
                sub("s1", PLAN_SKILL, "Compute 2+3. Also compute 4*5."),
                sub("s2", "echo.echo", "report {s1}", ["s1"]),
            ]
        },
        {
            "subtasks": [
                sub("s1", "calculator.evaluate", "2+3"),
                sub("s2", "calculator.evaluate", "4*5"),
            ]
        },
    ]
    events, task = await run(
        registry,
        "Budget: compute 2+3 and compute 4*5. Then report the budget.",
        strategy="hierarchical",
    )
    plans = [e for e in events if e["event"] == "plan"]
    assert [(p["parent"], p["depth"]) for p in plans] == [(None, 0), ("s1", 1)]
    finished = [e["id"] for e in events if e["event"] == "subtask.finished"]
    assert finished.index("s1.s1") < finished.index("s1")
    assert finished.index("s1.s2") < finished.index("s1") < finished.index("s2")
    text = answer(task)
    assert text.startswith("report ")
    assert "2+3\n5" in text
    assert "4*5\n20" in text


async def test_plans_use_only_agents_the_caller_may_call() -> None:
    registry = Registry()
    registry.add(CalculatorAgent(), allow=("ops",))
    registry.add(CalculatorAgent("open_calc"))
    router_for(registry)
    _, task = await run(registry, "2+3", principal="ide")
    run_part = next(a for a in task.artifacts if a.name == "run").parts[0]
    assert isinstance(run_part, DataPart)
    assert [s["skill"] for s in run_part.data["subtasks"]] == ["open_calc.evaluate"]
    # A caller the router does not know (no principal passed) gets open agents only, too.
    route = registry.route("effmesh.run")
    invocation = Invocation("run", Message("user", (TextPart("2+3"),)))
    async for item in calls.stream(route, invocation, "t-3", scope="anonymous"):
        if isinstance(item, Task):
            data = next(a for a in item.artifacts if a.name == "run").parts[0]
            assert isinstance(data, DataPart)
            assert data.data["subtasks"][0]["skill"] == "open_calc.evaluate"


async def test_a_caller_cannot_claim_to_be_someone_else() -> None:
    registry = Registry()
    registry.add(CalculatorAgent(), allow=("ops",))
    router_for(registry)
    route = registry.route("effmesh.run")
    forged = {calls.PRINCIPAL_KEY: "ops"}
    invocation = Invocation("run", Message("user", (TextPart("Compute 2+3"),)), metadata=forged)
    with pytest.raises(Exception, match="no agent"):
        async for _ in calls.stream(route, invocation, "t-4", scope="anonymous", principal="ide"):
            pass


@pytest.mark.parametrize(
    ("task", "why"),
    [
        ("   ", "empty"),
        ({"task": 3}, "must be a string"),
        ({"task": "x", "colour": "red"}, "unknown field"),
        ({"task": "x", "strategy": "random"}, "strategy must be one of"),
        ({"task": "x", "planner": "oracle"}, "planner must be"),
        ("x" * 20_000, "longer than"),
    ],
)
async def test_bad_requests_get_a_clear_error(task: Any, why: str) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    router_for(registry)
    with pytest.raises(InvalidParams, match=why):
        await run(registry, task)


async def test_a_caller_may_choose_the_strategy_and_planner(twin_url: str) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())
    router_for(registry, twin_url)
    events, task = await run(
        registry,
        {"task": "1. 2+3\n2. 4*5", "strategy": "sequential", "planner": "rules"},
    )
    routing = next(e for e in events if e["event"] == "routing")
    assert routing["strategy"] == "sequential"
    assert "asked for sequential" in routing["reason"]
    assert next(e for e in events if e["event"] == "plan")["planner"] == "rules"
    assert task.state is TaskState.COMPLETED


def test_the_plan_schema_makes_ids_unique_and_plans_acyclic_by_construction() -> None:
    import jsonschema

    schema = plan_schema(sorted(SKILLS), max_subtasks=4, coordinate=True)
    jsonschema.validate(
        DIAMOND | {"subtasks": [{**s, "skill": "echo.echo"} for s in DIAMOND["subtasks"]]}, schema
    )
    for bad in (
        {"subtasks": [sub("s1", deps=["s1"])]},  # depends on itself
        {"subtasks": [sub("s1", deps=["s2"]), sub("s2")]},  # depends on a later one
        {"subtasks": [sub("s1"), sub("s1")]},  # a repeated id
        {"subtasks": [sub("s2")]},  # ids count from s1
        {"subtasks": [sub("s1", "weather.today")]},  # a skill nobody offers
        {"subtasks": [sub(f"s{i}") for i in range(1, 6)]},  # too many
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    jsonschema.validate({"subtasks": [sub("s1", PLAN_SKILL)]}, schema)
    flat = plan_schema(sorted(SKILLS), max_subtasks=4, coordinate=False)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"subtasks": [sub("s1", PLAN_SKILL)]}, flat)


async def test_canceling_a_run_cancels_subtasks_on_remote_agents_through_their_protocol(
    twin_url: str,
) -> None:
    from agents.remote import RemoteA2AAgent, RemoteACPAgent
    from gateway.app import create_app

    gate = GateAgent()
    upstream = Registry()
    upstream.add(gate)
    with running(lambda base: create_app(upstream, base_url=base)) as up:
        registry = Registry()
        far_a2a = RemoteA2AAgent("far_a2a", f"{up}/a2a/gate")
        far_acp = RemoteACPAgent("far_acp", f"{up}/acp")
        for remote in (far_a2a, far_acp):
            await remote.connect()
            registry.add(remote)
        router_for(registry, twin_url, skills=("far_a2a.hold", "far_acp.gate.hold"))
        PLANS[:] = [
            {
                "subtasks": [
                    sub("s1", "far_a2a.hold", "hold over a2a"),
                    sub("s2", "far_acp.gate.hold", "hold over acp"),
                ]
            }
        ]

        async def consume() -> None:
            task = {"task": "hold over a2a, hold over acp", "strategy": "parallel"}
            invocation = Invocation("run", Message("user", (DataPart(task),)))
            route = registry.route("effmesh.run")
            async for _ in calls.stream(route, invocation, "t-5", scope="anonymous"):
                pass

        runner = asyncio.create_task(consume())
        for _ in range(500):
            if len(gate.started) == 2:
                break
            await asyncio.sleep(0.01)
        assert sorted(gate.started) == ["hold over a2a", "hold over acp"]
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        await close_backends()
        for _ in range(500):  # the cancels travel over HTTP to the upstream gateway
            if len(gate.canceled) == 2:
                break
            await asyncio.sleep(0.01)
        await far_a2a.close()
        await far_acp.close()
        assert sorted(gate.canceled) == ["hold over a2a", "hold over acp"]


# -- layering ---------------------------------------------------------------------------------


def test_the_router_imports_nothing_from_the_specialists_package() -> None:
    # What the router shares with specialists (tiers, the tool index) lives in agents/ itself.
    routing = Path(__file__).resolve().parents[1] / "gateway" / "routing"
    found = []
    for path in sorted(routing.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found += [f"{path.name}: {n}" for n in names if n.startswith("agents.specialists")]
    assert found == []
