"""The default ``arithmetic`` specialist on 20 labelled arithmetic questions, on the bundled model.

    python -m benchmarks.word_problems --out benchmarks/results/word_problems.json

Each question has one right number. Two counts come out:

- **tool right**: the calculator's value (what the model's own expression evaluated to) is
  the right number: how well the model turns the question into an expression;
- **answer right**: the specialist's answer text states the right number (by the rule of
  ``agents.specialists.compose.states``): what the caller reads.

The specialist is built as ``effmesh serve`` builds the default one (its prompt, its forced
calculator call, one step); sampling is greedy (temperature 0), so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from adapters.model import Artifact, DataPart, Invocation, Message, Skill, Task, TextPart
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS, EmbeddedModelServer
from agents.llm.wire import ServerKind
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.specialists.compose import states
from agents.tools.calculator import CalculatorAgent
from agents.tools.index import ToolIndex
from benchmarks import report
from gateway.registry import Registry
from gateway.settings import SPECIALIST_PROMPTS
from gateway.toolhost import RegistryTools

QUESTIONS: list[tuple[str, int]] = [
    ("What is 17 times 23?", 391),
    ("How many eggs are in 7 boxes of 12?", 84),
    ("Add 1250 and 4375.", 5625),
    ("What is 144 divided by 12?", 12),
    ("I had 500 euros and spent 123. How much is left?", 377),
    ("A shop sells 45 boxes with 8 pencils each. How many pencils is that?", 360),
    ("Tom has 38 marbles and gets 27 more. How many marbles does he have?", 65),
    ("A train travels 60 km per hour for 3 hours. How far does it go?", 180),
    ("96 cookies are shared equally among 8 children. How many does each child get?", 12),
    ("What is 1000 minus 999?", 1),
    ("A book has 320 pages. I have read 45 pages. How many pages are left?", 275),
    ("What is 25% of 80?", 20),
    ("There are 4 rows of 15 chairs. How many chairs are there?", 60),
    ("What is 9 squared?", 81),
    ("Anna earns 12 dollars an hour and works 6 hours. How much does she earn?", 72),
    ("A farmer has 3 fields with 250 sheep each. How many sheep are there?", 750),
    ("What is the sum of 19, 23 and 58?", 100),
    ("A rope 84 meters long is cut into 7 equal pieces. How long is each piece?", 12),
    ("What is 2 to the power of 10?", 1024),
    ("I buy 3 shirts at 15 euros each and a hat for 10 euros. How much do I pay?", 55),
]


def specialist(backend: ModelBackend) -> SpecialistAgent:
    registry = Registry()
    registry.add(CalculatorAgent())
    spec = SpecialistSpec(
        "arithmetic",
        SPECIALIST_PROMPTS["arithmetic"],
        (Skill("solve"),),
        tools=("calculator.evaluate",),
        force_tool="calculator.evaluate",
        max_steps=1,
    )
    return SpecialistAgent(spec, backend, RegistryTools(registry, spec.name), ToolIndex(None, None))


def _artifact(task: Task, name: str) -> Artifact:
    return next(a for a in task.artifacts if a.name == name)


async def solve(agent: SpecialistAgent, question: str, n: int) -> tuple[str, dict[str, Any]]:
    task: Task | None = None
    invocation = Invocation(agent.spec.skills[0].name, Message("user", (TextPart(question),)))
    async for item in agent.run(invocation, task_id=f"q{n}"):
        if isinstance(item, Task):
            task = item
    assert task is not None
    answer = _artifact(task, "answer").parts[0]
    steps = _artifact(task, "steps").parts[0]
    assert isinstance(answer, TextPart)
    assert isinstance(steps, DataPart)
    assert isinstance(steps.data, dict)
    return answer.text, steps.data


async def run() -> dict[str, Any]:
    server = EmbeddedModelServer(parallel=1, context=4096)
    await server.start()
    backend = ModelBackend([server.url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS, timeout=120)
    rows = []
    try:
        agent = specialist(backend)
        for n, (question, expected) in enumerate(QUESTIONS):
            started = time.perf_counter()
            answer, steps = await solve(agent, question, n)
            ran = [c for c in steps["tool_calls"] if "ok" in c]
            last = ran[-1] if ran else {}
            result = last.get("result")
            value = result.get("value") if last.get("ok") and isinstance(result, dict) else None
            rows.append(
                {
                    "question": question,
                    "expected": expected,
                    "arguments": last.get("arguments"),
                    "value": value,
                    "answer": answer,
                    "answer_source": steps.get("answer", {}).get("source", "model"),
                    "tool_right": value == expected,
                    "answer_right": states(answer, expected, question),
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        await backend.aclose()
        await server.stop()
    return {
        "benchmark": "word_problems",
        "model": MODEL_ALIAS,
        "prompt": SPECIALIST_PROMPTS["arithmetic"],
        "questions": len(rows),
        "tool_right": sum(r["tool_right"] for r in rows),
        "answer_right": sum(r["answer_right"] for r in rows),
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        "| question | expected | model's arguments | tool value | answer |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for r in result["rows"]:
        arguments = json.dumps(r["arguments"]) if r["arguments"] is not None else "-"
        answer = r["answer"].replace("\n", " ").replace("|", "\\|")[:60]
        rows.append(
            f"| {r['question']} | {r['expected']} | `{arguments}` | {r['value']} | {answer} |"
        )
    rows += [
        "",
        f"Tool right: **{result['tool_right']} of {result['questions']}**; "
        f"answer states the right number: **{result['answer_right']} of {result['questions']}**.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    args = report.arguments().parse_args()
    report.publish(args, "word_problems", asyncio.run(run()), table)


if __name__ == "__main__":
    main()
