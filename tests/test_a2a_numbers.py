"""Numbers keep their type across A2A hops: protobuf's ``Struct`` (behind a2a-sdk, and the
gateway's own A2A endpoints) holds every number as a double, and the gateway turns whole ones
back into integers wherever it reads A2A data, and in the cards it serves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from mcp import Client

from adapters.a2a.numbers import whole_numbers
from adapters.model import (
    AgentDescriptor,
    Artifact,
    DataPart,
    Invocation,
    Skill,
    StreamItem,
    Task,
    TaskState,
)
from agents.base import Agent
from agents.remote import RemoteA2AAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running

pytestmark = pytest.mark.anyio
SCHEMA = {
    "type": "object",
    "properties": {"q": {"type": "string", "maxLength": 128}, "k": {"type": "number"}},
    "required": ["q"],
}


class Counter(Agent):
    """Answers with a count, an integer, and a ratio, a float that happens to be whole."""

    @property
    def descriptor(self) -> AgentDescriptor:
        return AgentDescriptor("counter", (Skill("count", "Counts.", SCHEMA),))

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        answer = DataPart({"count": 391, "ratio": 0.5, "nested": [1, 2.25, {"n": 7}]})
        yield Task(task_id, TaskState.COMPLETED, artifacts=(Artifact("a", (answer,)),))


@pytest.fixture(scope="module")
def front() -> Iterator[str]:
    """A gateway reaching, over A2A, a gateway that serves the counter; yields its URL."""
    upstream = Registry()
    upstream.add(Counter())
    with running(lambda base: create_app(upstream, base_url=base)) as up:
        remote = RemoteA2AAgent("counter", f"{up}/a2a/counter")
        asyncio.run(remote.connect())
        registry = Registry()
        registry.add(remote)
        with running(lambda base: create_app(registry, base_url=base)) as url:
            yield url


def test_whole_doubles_come_back_as_integers_and_others_stay() -> None:
    value = {"a": 128.0, "b": [0.5, 2.0, {"c": -3.0}], "d": 2.0**60, "e": True, "f": "1.0"}
    assert whole_numbers(value) == {
        "a": 128,
        "b": [0.5, 2, {"c": -3}],
        "d": 2.0**60,
        **{"e": True, "f": "1.0"},
    }
    out = whole_numbers(value)
    assert type(out["a"]) is int
    assert type(out["d"]) is float
    kept = {"x": [1, "y"]}
    assert whole_numbers(kept) is kept


@pytest.mark.parametrize("path", ["/a2a/counter", "/a2a/.well-known/agent-card.json"])
async def test_a_card_keeps_its_schemas_integers(front: str, path: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{front}{path}")
    assert b'"maxLength":128' in r.content.replace(b" ", b"")
    assert b"128.0" not in r.content


async def test_a_result_crossing_two_a2a_hops_keeps_its_integers(front: str) -> None:
    async with Client(f"{front}/mcp") as client:
        tools = await client.list_tools()
        (tool,) = tools.tools
        assert tool.input_schema["properties"]["q"]["maxLength"] == 128
        assert type(tool.input_schema["properties"]["q"]["maxLength"]) is int
        result = await client.call_tool(tool.name, {"q": "how many"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert json.loads(text) == {"count": 391, "ratio": 0.5, "nested": [1, 2.25, {"n": 7}]}
    assert "391.0" not in text
