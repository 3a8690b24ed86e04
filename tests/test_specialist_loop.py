"""The specialist loop's own decisions, with a scripted model twin: a few lines of Starlette
that answer each chat completion with the next reply of a script, so a test can make the model
repeat a call or echo the step JSON. The tools are the real calculator, run through the
registry; what the model "says" is the script, and nothing else is faked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.model import (
    ArtifactEvent,
    DataPart,
    Invocation,
    Message,
    Skill,
    StreamItem,
    Task,
    TextPart,
)
from agents.llm.backend import ModelBackend
from agents.llm.wire import ServerKind
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.tools.calculator import CalculatorAgent
from gateway.registry import Registry
from gateway.toolhost import RegistryTools
from tests.servers import running

pytestmark = pytest.mark.anyio

ECHO = '{"tool":"calculator.evaluate"}'
QUESTION = "What is 6 times 7?"


def call(expression: str) -> str:
    return json.dumps({"tool": "calculator.evaluate", "arguments": {"expression": expression}})


class ScriptedModel:
    """Replies with ``script`` in order (streamed when asked to stream); keeps every request."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []

    def app(self, base: str) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if not self.script:
            return Response("the script has no more replies", status_code=500)
        text = self.script.pop(0)
        usage = {"prompt_tokens": 10, "completion_tokens": 5}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            return JSONResponse({"choices": [{**choice, "finish_reason": "stop"}], "usage": usage})

        async def chunks() -> AsyncIterator[bytes]:
            for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                delta = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                yield f"data: {json.dumps(delta)}\n\n".encode()
            end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(end)}\n\n".encode()
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")


class CountingCalculator(CalculatorAgent):
    """The real calculator, counting how often it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        self.runs += 1
        async for item in super().run(invocation, task_id=task_id):
            yield item


@pytest.fixture
def calculator() -> CountingCalculator:
    return CountingCalculator()


@contextmanager
def scripted(script: list[str]) -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel(script)
    with running(model.app) as url:
        yield model, url


async def solve(url: str, calculator: CalculatorAgent) -> tuple[Task, list[StreamItem]]:
    registry = Registry()
    registry.add(calculator)
    spec = SpecialistSpec(
        "solver", "You calculate.", (Skill("solve"),), tools=("calculator.*",), max_steps=4
    )
    backend = ModelBackend([url], kind=ServerKind.LLAMACPP, timeout=10.0, retries=0)
    agent = SpecialistAgent(spec, backend, RegistryTools(registry, "solver"))
    invocation = Invocation("solve", Message("user", (TextPart(QUESTION),)))
    items = [item async for item in agent.run(invocation, task_id="t-1")]
    await backend.aclose()
    task = items[-1]
    assert isinstance(task, Task)
    return task, items


def answer_and_steps(task: Task) -> tuple[str, dict[str, Any]]:
    parts = {a.name: a.parts[0] for a in task.artifacts}
    answer, steps = parts["answer"], parts["steps"]
    assert isinstance(answer, TextPart)
    assert isinstance(steps, DataPart)
    assert isinstance(steps.data, dict)
    return answer.text, steps.data


async def test_a_repeated_call_ends_the_loop_and_the_answer_comes_from_the_result_in_hand(
    calculator: CountingCalculator,
) -> None:
    with scripted([call("6*7"), call("6*7"), ECHO]) as (model, url):
        task, _ = await solve(url, calculator)
    answer, steps = answer_and_steps(task)
    assert calculator.runs == 1
    assert steps["tool_calls"] == [
        {
            "tool": "calculator.evaluate",
            "arguments": {"expression": "6*7"},
            "ok": True,
            "result": {"expression": "6*7", "value": 42},
        },
        {"tool": "calculator.evaluate", "arguments": {"expression": "6*7"}, "repeat_of": 0},
    ]
    # Two steps, then the free-text answer; the repeat was not put to the model as a call.
    assert [bool(r.get("stream")) for r in model.requests] == [False, False, True]
    result = "calculator.evaluate result: 42\n\n"
    assert model.requests[1]["messages"][-1]["content"] == f"{result}Now answer: {QUESTION}"
    final = f"{result}Now answer in plain words, not JSON: {QUESTION}"
    assert model.requests[2]["messages"] == [
        *model.requests[1]["messages"][:-1],
        {"role": "user", "content": final},
    ]
    assert answer == "6*7 = 42"
    assert steps["answer"] == {"source": "tool_result", "tool_call": 0, "model_answer": ECHO}


async def test_a_streamed_answer_that_misses_the_result_is_replaced_for_a_streaming_caller(
    calculator: CountingCalculator,
) -> None:
    with scripted([call("6*7"), call("6*7"), ECHO]) as (_, url):
        _, items = await solve(url, calculator)
    chunks = [i for i in items if isinstance(i, ArtifactEvent) and i.artifact.name == "answer"]
    assert [(c.append, c.artifact.parts[0]) for c in chunks] == [
        (False, TextPart(ECHO[: len(ECHO) // 2])),
        (True, TextPart(ECHO[len(ECHO) // 2 :])),
        (False, TextPart("6*7 = 42")),
    ]
    assert len({c.artifact.artifact_id for c in chunks}) == 1


async def test_a_model_answer_that_states_the_result_stands(
    calculator: CountingCalculator,
) -> None:
    with scripted([call("6*7"), json.dumps({"answer": "Six times seven is 42."})]) as (_, url):
        task, _ = await solve(url, calculator)
    answer, steps = answer_and_steps(task)
    assert answer == "Six times seven is 42."
    assert steps["answer"] == {"source": "model"}
    assert calculator.runs == 1


async def test_a_failed_call_and_an_echoed_step_answer_with_the_failure(
    calculator: CountingCalculator,
) -> None:
    with scripted([call("6*"), json.dumps({"answer": ECHO})]) as (_, url):
        task, _ = await solve(url, calculator)
    answer, steps = answer_and_steps(task)
    assert steps["tool_calls"][0]["ok"] is False
    assert answer == f"calculator.evaluate failed: {steps['tool_calls'][0]['result']}"
    assert steps["answer"]["source"] == "tool_error"
