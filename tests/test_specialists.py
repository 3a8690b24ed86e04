"""Specialist agents on the real embedded model, reached through the official MCP and A2A
clients. Nothing here asserts on what the small model says or which tool it prefers: only on
shapes, constraints, the tool actually run, and what the callers receive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from mcp import Client as MCPClient
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, TextContent

from adapters.model import Skill
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS
from agents.llm.wire import ChatRequest, JsonSchema, ServerKind
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.specialists.compose import is_step_echo, states
from agents.tiers import Tier
from agents.tools.calculator import CalculatorAgent, evaluate
from agents.tools.index import ToolIndex
from gateway.app import create_app
from gateway.registry import Registry
from gateway.toolhost import RegistryTools
from tests.servers import running, slow_a2a_client

pytestmark = pytest.mark.anyio


def backend(url: str, **kw: Any) -> ModelBackend:
    return ModelBackend([url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS, **kw)


def specialist_registry(model_url: str) -> Registry:
    registry = Registry()
    registry.add(CalculatorAgent())
    solve = SpecialistSpec(
        "arithmetic",
        "You solve arithmetic problems with the calculator.",
        (Skill("solve", "Solves arithmetic word problems."),),
        tools=("calculator.*",),
        force_tool="calculator.evaluate",
        max_steps=1,
        max_tokens=96,
    )
    chat = SpecialistSpec(
        "chat", "You answer briefly.", (Skill("ask"),), max_tokens=24, tier=Tier.TINY
    )
    tight = SpecialistSpec(
        "tight", "You calculate.", (Skill("go"),), tools=("calculator.*",), max_tokens=6
    )
    # As the default assistant: tools on offer, none forced, a tiny model.
    helper = SpecialistSpec(
        "helper",
        "You are a helpful assistant. Answer briefly and accurately.",
        (Skill("chat"),),
        tools=("calculator.*",),
        max_tokens=32,
    )
    for spec in (solve, chat, tight, helper):
        registry.add(
            SpecialistAgent(
                spec, backend(model_url), RegistryTools(registry, spec.name), ToolIndex(None, None)
            )
        )
    return registry


@pytest.fixture(scope="module")
def gateway(model_url: str) -> Iterator[str]:
    registry = specialist_registry(model_url)
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url


# --- the backend against the real server -------------------------------------------------


async def test_a_chat_completion_reports_its_usage(model_url: str) -> None:
    llm = backend(model_url)
    reply = await llm.chat(ChatRequest([{"role": "user", "content": "Say hi"}], max_tokens=8))
    await llm.aclose()
    assert reply.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0
    assert reply.server == model_url
    assert llm.calls == 1


async def test_a_streamed_completion_arrives_in_chunks_and_ends_with_usage(model_url: str) -> None:
    llm = backend(model_url)
    chunks = [
        c
        async for c in llm.stream(
            ChatRequest([{"role": "user", "content": "Count to five"}], max_tokens=12)
        )
    ]
    await llm.aclose()
    assert sum(1 for c in chunks if c.text) >= 2
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert any(c.finish_reason in ("stop", "length") for c in chunks)


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "population": {"type": "integer", "minimum": 0},
        "coastal": {"type": "boolean"},
    },
    "required": ["city", "population", "coastal"],
    "additionalProperties": False,
}


async def test_schema_constrained_output_parses_and_validates(model_url: str) -> None:
    llm = backend(model_url)
    for city in ("Lisbon", "Prague", "Osaka"):
        reply = await llm.chat(
            ChatRequest(
                [{"role": "user", "content": f"Describe {city} as JSON."}],
                max_tokens=80,
                constraint=JsonSchema(SCHEMA),
            )
        )
        jsonschema.validate(json.loads(reply.text), SCHEMA)
    await llm.aclose()


async def test_a_second_call_sharing_a_prefix_reads_it_from_the_cache(model_url: str) -> None:
    llm = backend(model_url)
    system = {"role": "system", "content": "You are a terse assistant for cache tests. " * 12}
    first = await llm.chat(
        ChatRequest([system, {"role": "user", "content": "First question?"}], max_tokens=4)
    )
    second = await llm.chat(
        ChatRequest([system, {"role": "user", "content": "Second question?"}], max_tokens=4)
    )
    await llm.aclose()
    assert second.usage.cached_tokens > 0
    assert second.usage.cached_tokens >= first.usage.prompt_tokens // 2


async def test_token_counts_come_from_the_servers_own_template(model_url: str) -> None:
    llm = backend(model_url)
    short = await llm.count_tokens([{"role": "user", "content": "hi"}])
    long = await llm.count_tokens([{"role": "user", "content": "hi " * 50}])
    await llm.aclose()
    assert 0 < short < long


async def test_a_dead_replica_is_passed_over(model_url: str) -> None:
    from agents.llm.embedded import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    llm = ModelBackend([dead, model_url], kind=ServerKind.LLAMACPP, retries=2, backoff=0.01)
    for _ in range(3):
        reply = await llm.chat(ChatRequest([{"role": "user", "content": "hi"}], max_tokens=2))
        assert reply.server == model_url
    health = await llm.health()
    await llm.aclose()
    assert health == {dead: False, model_url: True}


# --- specialists through the gateway ---------------------------------------------------------


def check_tool_record(record: dict[str, Any]) -> None:
    """The record names the forced tool, and its result is what the real tool computes for the
    arguments the model wrote (or the tool's own refusal of them)."""
    assert record["tool"] == "calculator.evaluate"
    expression = record["arguments"]["expression"]
    if record["ok"]:
        assert record["result"] == {"expression": expression, "value": evaluate(expression)}
    else:
        assert "cannot evaluate" in record["result"]


async def test_a_forced_tool_call_runs_the_real_tool_for_an_mcp_client(gateway: str) -> None:
    async with MCPClient(f"{gateway}/mcp") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"arithmetic.solve", "calculator.evaluate"} <= tools
        result = await client.call_tool("arithmetic.solve", {"text": "What is 17 times 23?"})
    assert result.is_error is False
    steps = result.structured_content
    assert steps is not None
    assert len(steps["tool_calls"]) == 1
    check_tool_record(steps["tool_calls"][0])
    assert steps["usage"]["model_calls"] == 2


async def test_the_answer_text_states_what_the_calculator_computed(gateway: str) -> None:
    question = "What is 17 times 23?"
    async with MCPClient(f"{gateway}/mcp") as client:
        result = await client.call_tool("arithmetic.solve", {"text": question})
    steps = result.structured_content
    assert steps is not None
    record = steps["tool_calls"][0]
    check_tool_record(record)
    text = result.content[0]
    assert isinstance(text, TextContent)
    # Whichever expression the model wrote, the caller reads what the calculator made of it
    # (in the model's words or composed from the result), never the step JSON.
    assert not is_step_echo(text.text)
    if record["ok"]:
        assert states(text.text, record["result"]["value"], question)
    answer = steps["answer"]
    if answer["source"] == "model":
        assert answer == {"source": "model"}
    else:
        assert answer["source"] == ("tool_result" if record["ok"] else "tool_error")
        assert answer["tool_call"] == 0
        assert isinstance(answer["model_answer"], str)


async def test_small_talk_to_a_chat_specialist_offers_and_calls_no_tool(gateway: str) -> None:
    async with MCPClient(f"{gateway}/mcp") as client:
        result = await client.call_tool("helper.chat", {"text": "Hello, who are you?"})
    steps = result.structured_content
    assert steps is not None
    assert steps["tool_calls"] == []
    assert steps["tool_gate"] == {
        "offered": False,
        "reason": "the request has no number and names no tool",
    }
    assert steps["usage"]["tools_offered"] == []
    assert steps["usage"]["model_calls"] == 1


async def test_a_request_with_numbers_is_offered_the_chat_specialists_tools(gateway: str) -> None:
    async with MCPClient(f"{gateway}/mcp") as client:
        result = await client.call_tool("helper.chat", {"text": "What is 6 times 7?"})
    steps = result.structured_content
    assert steps is not None
    assert steps["tool_gate"] == {"offered": True, "reason": "the request has a number (6)"}
    assert steps["usage"]["tools_offered"] == ["calculator.evaluate"]
    for record in steps["tool_calls"]:  # whether the model calls it is its own choice
        if "ok" in record:
            check_tool_record(record)


async def test_a_forced_tool_call_runs_the_real_tool_for_an_a2a_client(gateway: str) -> None:
    req = pb.SendMessageRequest(
        message=pb.Message(
            message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text="Add 1250 and 4375.")]
        )
    )
    req.metadata.update({"effmesh.skill": "solve"})
    async with slow_a2a_client(f"{gateway}/a2a/arithmetic") as client:
        responses = [r async for r in client.send_message(req)]
    states = [r.status_update.status.state for r in responses if r.HasField("status_update")]
    assert states[-1] == pb.TASK_STATE_COMPLETED
    artifacts = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    steps = next(a for a in artifacts if a.name == "steps")
    record = json_format.MessageToDict(steps.parts[0].data)["tool_calls"][0]
    check_tool_record(record)


async def test_an_answer_streams_to_an_a2a_client_as_artifact_chunks(gateway: str) -> None:
    req = pb.SendMessageRequest(
        message=pb.Message(message_id="m-2", role=pb.ROLE_USER, parts=[pb.Part(text="Hello!")])
    )
    async with slow_a2a_client(f"{gateway}/a2a/chat") as client:
        responses = [r async for r in client.send_message(req)]
    chunks = [
        r.artifact_update
        for r in responses
        if r.HasField("artifact_update") and r.artifact_update.artifact.name == "answer"
    ]
    assert len(chunks) >= 2
    assert chunks[1].append is True


async def test_the_calculator_is_a_tool_in_its_own_right(gateway: str) -> None:
    async with MCPClient(f"{gateway}/mcp") as client:
        good = await client.call_tool("calculator.evaluate", {"expression": "(2 + 3) * 7"})
        with pytest.raises(MCPError) as bad:
            await client.call_tool("calculator.evaluate", {"expression": "__import__('os')"})
    assert good.structured_content == {"expression": "(2 + 3) * 7", "value": 35}
    assert bad.value.code == INVALID_PARAMS


async def test_an_empty_request_gets_invalid_params(gateway: str) -> None:
    async with MCPClient(f"{gateway}/mcp") as client:
        with pytest.raises(MCPError) as error:
            await client.call_tool("chat.ask", {"text": "   "})
    assert error.value.code == INVALID_PARAMS


def test_the_gateway_lists_specialists(gateway: str) -> None:
    agents = {a["name"]: a for a in httpx.get(f"{gateway}/agents").json()["agents"]}
    assert agents["arithmetic"]["skills"] == ["solve"]


async def test_a_step_cut_at_the_token_limit_falls_back_to_a_free_text_answer(
    gateway: str,
) -> None:
    async with MCPClient(f"{gateway}/mcp") as client:
        result = await client.call_tool("tight.go", {"text": "What is 2 + 2?"})
    assert result.is_error is False
    steps = result.structured_content
    assert steps is not None
    assert steps["tool_calls"] == [{"error": "the model's step was cut at the token limit"}]
    assert steps["usage"]["model_calls"] == 2
