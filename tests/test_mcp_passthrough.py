"""All of MCP through the gateway: an upstream MCP server's resources, prompts, completions,
logging and its requests back to the client reach an MCP caller through ``/mcp`` and
``/mcp/ws``, named like its tools, and only for a caller whose token may call that agent.

The upstream is the official SDK's server with the conformance fixtures
(``tests/mcp_fixture.py``), registered as ``fx`` (prefixed) for the token ``ide`` only; the
token ``ops`` may call the echo agent alone. The clients are the official SDK's. The fixture
speaks both eras, but its tools ask their questions as handshake-era requests (which a
2026-07-28 exchange has no channel for), so its agents are pinned to the handshake era."""

from __future__ import annotations

import asyncio
import pathlib
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import mcp_types as mt
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessageAwaitResume, RunStatus
from acp_sdk.models import MessagePart as ACPPart
from google.protobuf import json_format
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agents.echo import EchoAgent
from agents.remote import RemoteMCPAgent, RemoteMCPStdioAgent
from gateway.app import create_app
from gateway.mcp.ws import websocket_client
from gateway.registry import Registry
from gateway.settings import Config
from tests.mcp_fixture import build_fixture
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"ide": "ide-secret", "ops": "ops-secret"}
RESOURCE_NOT_FOUND = -32002


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with (
        pytest.MonkeyPatch.context() as env,
        running(lambda base: build_fixture().streamable_http_app()) as upstream,
    ):
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_OPS", TOKENS["ops"])
        registry = Registry()
        registry.add(EchoAgent())
        fixture = RemoteMCPAgent("fx", f"{upstream}/mcp", timeout=30, era="handshake")
        asyncio.run(fixture.connect())
        registry.add(fixture, allow=("ide",))
        command = (sys.executable, "-m", "tests.mcp_fixture")
        over_stdio = RemoteMCPStdioAgent("fxs", command, era="handshake")
        asyncio.run(over_stdio.connect())
        registry.add(over_stdio, allow=("ide",))
        config = Config(
            token_env="EFFMESH_T_UNSET",
            tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
            rate_per_minute=0,
        )
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url


@asynccontextmanager
async def mcp(
    url: str, who: str, ws: bool = False, mode: str = "legacy", **options: Any
) -> AsyncIterator[Client]:
    headers = {"authorization": f"Bearer {TOKENS[who]}"}
    if ws:
        transport = websocket_client(url.replace("http://", "ws://") + "/mcp/ws", headers=headers)
        async with Client(transport, mode=mode, **options) as client:
            yield client
        return
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    transport = streamable_http_client(f"{url}/mcp", http_client=http)
    async with http, Client(transport, mode=mode, **options) as client:
        yield client


async def subscribe(client: Client, uri: str) -> None:
    # Raw: the SDK's helper warns that 2026-07-28 replaces it; these sessions speak 2025-11-25.
    request = mt.SubscribeRequest(params=mt.SubscribeRequestParams(uri=uri))
    await client.session.send_request(request, mt.EmptyResult)


def text_of(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, mt.TextContent)
    return block.text


async def test_prompts_pass_through_under_the_agents_prefix(gateway: str) -> None:
    async with mcp(gateway, "ide") as ide:
        names = {p.name for p in (await ide.list_prompts()).prompts}
        got = await ide.get_prompt("fx.test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        image = await ide.get_prompt("fx.test_prompt_with_image")
    assert "fx.test_simple_prompt" in names
    assert "test_simple_prompt" not in names
    first = got.messages[0].content
    assert isinstance(first, mt.TextContent)
    assert first.text == "Prompt with arguments: arg1='a', arg2='b'"
    assert isinstance(image.messages[0].content, mt.ImageContent)


async def test_resources_and_templates_pass_through_unchanged(gateway: str) -> None:
    async with mcp(gateway, "ide") as ide:
        listed = {str(r.uri) for r in (await ide.list_resources()).resources}
        templates = (await ide.list_resource_templates()).resource_templates
        text = await ide.read_resource("test://static-text")
        binary = await ide.read_resource("test://static-binary")
        templated = await ide.read_resource("test://template/7/data")
    assert {"test://static-text", "test://static-binary", "test://watched-resource"} <= listed
    # One from each fixture agent: over HTTP and over stdio.
    assert [t.uri_template for t in templates] == ["test://template/{id}/data"] * 2
    assert isinstance(text.contents[0], mt.TextResourceContents)
    assert text.contents[0].text == "This is the content of the static text resource."
    assert isinstance(binary.contents[0], mt.BlobResourceContents)
    assert isinstance(templated.contents[0], mt.TextResourceContents)
    assert '"id": "7"' in templated.contents[0].text


async def test_a_resource_link_a_tool_returned_is_read_back(gateway: str) -> None:
    async with mcp(gateway, "ide") as ide:
        called = await ide.call_tool("fx.test_resource_link", {"id": "42"})
        link = called.content[0]
        assert isinstance(link, mt.ResourceLink)
        read = await ide.read_resource(str(link.uri))
    assert isinstance(read.contents[0], mt.TextResourceContents)
    assert "Data for ID: 42" in read.contents[0].text


async def test_a_2026_07_28_caller_gets_the_same_surface(gateway: str) -> None:
    async with mcp(gateway, "ide", mode="2026-07-28") as ide:
        assert ide.protocol_version == "2026-07-28"
        prompts = {p.name for p in (await ide.list_prompts()).prompts}
        templates = (await ide.list_resource_templates()).resource_templates
        read = await ide.read_resource("test://template/9/data")
        got = await ide.get_prompt("fx.test_simple_prompt")
        called = await ide.call_tool("fx.test_simple_text", {})
    assert "fx.test_simple_prompt" in prompts
    assert templates
    assert isinstance(read.contents[0], mt.TextResourceContents)
    assert "Data for ID: 9" in read.contents[0].text
    assert got.messages
    assert text_of(called) == "This is a simple text response for testing."


async def test_completion_passes_through_for_a_prompt_argument(gateway: str) -> None:
    async with mcp(gateway, "ide") as ide:
        done = await ide.complete(
            mt.PromptReference(type="ref/prompt", name="fx.test_prompt_with_arguments"),
            {"name": "arg1", "value": "par"},
        )
    assert done.completion.values == ["paris", "park", "party"]


@pytest.mark.parametrize("ws", [False, True], ids=["http", "websocket"])
async def test_a_caller_who_may_not_call_the_agent_sees_none_of_it(gateway: str, ws: bool) -> None:
    async with mcp(gateway, "ops", ws=ws) as ops:
        prompts = (await ops.list_prompts()).prompts
        resources = (await ops.list_resources()).resources
        templates = (await ops.list_resource_templates()).resource_templates
        with pytest.raises(MCPError) as unread:
            await ops.read_resource("test://static-text")
        with pytest.raises(MCPError) as unlinked:
            await ops.read_resource("test://template/42/data")
        with pytest.raises(MCPError) as unprompted:
            await ops.get_prompt("fx.test_simple_prompt")
        with pytest.raises(MCPError) as uncompleted:
            await ops.complete(
                mt.PromptReference(type="ref/prompt", name="fx.test_prompt_with_arguments"),
                {"name": "arg1", "value": "par"},
            )
        with pytest.raises(MCPError) as unsubscribed:
            await subscribe(ops, "test://watched-resource")
    assert prompts == []
    assert resources == []
    assert templates == []
    assert unread.value.error.code == RESOURCE_NOT_FOUND
    assert unlinked.value.error.code == RESOURCE_NOT_FOUND
    assert unsubscribed.value.error.code == RESOURCE_NOT_FOUND
    # Answered as for a prompt that does not exist: the agent's existence is not told.
    assert unprompted.value.error.code == uncompleted.value.error.code == mt.INVALID_PARAMS
    async with mcp(gateway, "ide", ws=ws) as ide:
        assert (await ide.read_resource("test://static-text")).contents


@pytest.mark.parametrize("ws", [False, True], ids=["http", "websocket"])
async def test_each_caller_gets_the_log_lines_its_own_level_admits(gateway: str, ws: bool) -> None:
    heard: dict[str, list[str]] = {"quiet": [], "chatty": []}

    def listener(name: str) -> Any:
        async def log(params: mt.LoggingMessageNotificationParams) -> None:
            heard[name].append(str(params.data))

        return log

    async with (
        mcp(gateway, "ide", ws=ws, logging_callback=listener("quiet")) as quiet,
        mcp(gateway, "ide", ws=ws, logging_callback=listener("chatty")) as chatty,
    ):
        await quiet.session.send_request(
            mt.SetLevelRequest(params=mt.SetLevelRequestParams(level="warning")), mt.EmptyResult
        )
        await chatty.session.send_request(
            mt.SetLevelRequest(params=mt.SetLevelRequestParams(level="debug")), mt.EmptyResult
        )
        await quiet.call_tool("fx.test_tool_with_logging", {})
        await chatty.call_tool("fx.test_tool_with_logging", {})
    assert heard["chatty"] == [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ]
    assert heard["quiet"] == []


@pytest.mark.parametrize("ws", [False, True], ids=["http", "websocket"])
async def test_the_upstreams_sampling_and_elicitation_reach_the_caller(
    gateway: str, ws: bool
) -> None:
    asked: list[str] = []

    async def sample(
        context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult:
        content = params.messages[0].content
        asked.append(content.text if isinstance(content, mt.TextContent) else "")
        return mt.CreateMessageResult(
            role="assistant", content=mt.TextContent(type="text", text="forty-two"), model="m"
        )

    async def elicit(
        context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"username": "u", "email": "e@x"})

    async with mcp(
        gateway, "ide", ws=ws, sampling_callback=sample, elicitation_callback=elicit
    ) as ide:
        sampled = await ide.call_tool("fx.test_sampling", {"prompt": "what is six times seven"})
        elicited = await ide.call_tool("fx.test_elicitation", {"message": "who are you"})
    assert asked == ["what is six times seven", "who are you"]
    assert text_of(sampled) == "LLM response: forty-two"
    assert "'username': 'u'" in text_of(elicited) or '"username": "u"' in text_of(elicited)


async def test_a_caller_that_cannot_sample_gets_the_upstreams_refusal(gateway: str) -> None:
    """The upstream is told the caller cannot answer; its failure reaches the caller."""
    async with mcp(gateway, "ide") as ide:
        with pytest.raises(MCPError) as refused:
            await ide.call_tool("fx.test_sampling", {"prompt": "hello"})
    assert refused.value.error.code == mt.INVALID_REQUEST


async def test_resource_updates_reach_only_the_callers_that_subscribed(gateway: str) -> None:
    updated: dict[str, asyncio.Event] = {"sub": asyncio.Event(), "other": asyncio.Event()}

    def handler(name: str) -> Any:
        async def on_message(message: Any) -> None:
            if isinstance(message, mt.ResourceUpdatedNotification):
                updated[name].set()

        return on_message

    async with (
        mcp(gateway, "ide", message_handler=handler("sub")) as sub,
        mcp(gateway, "ide", message_handler=handler("other")) as other,
    ):
        await subscribe(sub, "test://watched-resource")
        await other.call_tool("fx.test_touch_watched", {})
        await asyncio.wait_for(updated["sub"].wait(), 30)
        await sub.session.send_request(
            mt.UnsubscribeRequest(
                params=mt.UnsubscribeRequestParams(uri="test://watched-resource")
            ),
            mt.EmptyResult,
        )
        await other.list_tools()  # a round trip after the update went out
    assert not updated["other"].is_set()


def a2a_request(data: dict[str, Any], skill: str) -> pb.SendMessageRequest:
    part = pb.Part()
    json_format.ParseDict({"data": data}, part)
    req = pb.SendMessageRequest(
        message=pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[part])
    )
    req.metadata.update({"effmesh.skill": skill})
    return req


async def test_an_upstream_question_is_an_a2a_callers_input_required(gateway: str) -> None:
    """The upstream's elicitation pauses the A2A task; the task's next message answers it
    and the same upstream call finishes."""
    headers = {"authorization": f"Bearer {TOKENS['ide']}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        client = await create_client(
            f"{gateway}/a2a/fx",
            client_config=ClientConfig(streaming=False, httpx_client=http),
        )
        async with client:
            asked = a2a_request({"message": "who are you"}, "test_elicitation")
            first = [r async for r in client.send_message(asked)]
            task = first[-1].task
            assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED
            assert task.status.message.parts[0].text == "who are you"
            follow = a2a_request({"username": "u", "email": "e@x"}, "test_elicitation")
            follow.message.message_id = "m-2"
            follow.message.task_id = task.id
            follow.message.context_id = task.context_id
            second = [r async for r in client.send_message(follow)]
    done = second[-1].task
    assert done.status.state == pb.TASK_STATE_COMPLETED
    assert "action=accept" in done.artifacts[-1].parts[0].text
    assert '"username": "u"' in done.artifacts[-1].parts[0].text


async def test_an_upstream_question_is_an_acp_callers_await(gateway: str) -> None:
    headers = {"authorization": f"Bearer {TOKENS['ide']}", "Content-Type": "application/json"}
    async with ACPClient(base_url=f"{gateway}/acp", headers=headers, timeout=30) as client:
        start = ACPMessage(
            parts=[ACPPart(content='{"message": "your name?"}', content_type="application/json")]
        )
        run = await client.run_sync([start], agent="fx.test_elicitation")
        assert run.status == RunStatus.AWAITING
        assert run.await_request is not None
        assert run.await_request.message.parts[0].content == "your name?"
        answer = MessageAwaitResume(
            message=ACPMessage(
                parts=[
                    ACPPart(
                        content='{"username": "v", "email": "v@x"}', content_type="application/json"
                    )
                ]
            )
        )
        resumed = await client.run_resume_sync(answer, run_id=run.run_id)
    assert resumed.status == RunStatus.COMPLETED
    assert '"username": "v"' in str(resumed.output[0].parts[0].content)


async def noted(record: pathlib.Path, word: str) -> None:
    """Wait until the fixture server (perhaps another process) notes ``word`` in ``record``;
    a file is the one channel both kinds of fixture share, so this polls, with a bound."""
    for _ in range(600):
        if record.exists() and word in record.read_text().split():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the upstream never noted {word!r}")


@pytest.mark.parametrize("agent", ["fx", "fxs"], ids=["http", "stdio"])
async def test_an_mcp_callers_cancel_reaches_the_upstream(
    gateway: str, agent: str, tmp_path: pathlib.Path
) -> None:
    record = tmp_path / "record"
    async with mcp(gateway, "ide") as ide:
        call = asyncio.ensure_future(
            ide.call_tool(f"{agent}.test_wait_for_cancel", {"record": str(record)})
        )
        await noted(record, "started")
        call.cancel()  # the SDK client sends notifications/cancelled
        await noted(record, "cancelled")


@pytest.mark.parametrize("agent", ["fx", "fxs"], ids=["http", "stdio"])
async def test_an_a2a_callers_cancel_reaches_the_upstream(
    gateway: str, agent: str, tmp_path: pathlib.Path
) -> None:
    record = tmp_path / "record"
    headers = {"authorization": f"Bearer {TOKENS['ide']}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        client = await create_client(
            f"{gateway}/a2a/{agent}", client_config=ClientConfig(streaming=False, httpx_client=http)
        )
        async with client:
            req = a2a_request({"record": str(record)}, "test_wait_for_cancel")
            req.configuration.return_immediately = True
            task_id = [r async for r in client.send_message(req)][-1].task.id
            await noted(record, "started")
            cancelled = await client.cancel_task(pb.CancelTaskRequest(id=task_id))
    assert cancelled.status.state == pb.TASK_STATE_CANCELED
    await noted(record, "cancelled")
