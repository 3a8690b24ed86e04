"""A tool result's structured content checked against the tool's output schema, as MCP's
client checks it, on the fast way tool calls take: a result the schema refuses, or one without
the structured content its schema requires, is an error in the caller's own protocol (MCP,
A2A); a conforming result and an error result pass on as they came.

The upstream is a server on the official SDK's low-level ``Server`` (which, unlike
``MCPServer``, returns what its handler gives without checking it), over streamable HTTP, in
both eras; the callers are the official MCP and A2A clients through the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import mcp_types as mt
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from mcp import Client
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from adapters import model as c
from adapters.errors import UpstreamUnavailable
from adapters.mcp.errors import UPSTREAM_UNAVAILABLE
from agents.remote import RemoteMCPAgent
from agents.remote.mcp_upstream import Era
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running

pytestmark = pytest.mark.anyio
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
TOOLS = [
    mt.Tool(name="shaped", input_schema={"type": "object"}, output_schema=SCHEMA),
    mt.Tool(name="free", input_schema={"type": "object"}),
]


async def list_tools(
    ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
) -> mt.ListToolsResult:
    return mt.ListToolsResult(tools=TOOLS)


async def call_tool(
    ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
) -> mt.CallToolResult:
    """Structured content as the arguments say: ``{"give": ...}`` is returned as is,
    ``{"none": true}`` returns none, ``{"fail": true}`` is an error result."""
    args = params.arguments or {}
    text = [mt.TextContent(type="text", text="done")]
    if args.get("fail"):
        return mt.CallToolResult(content=text, is_error=True)
    if args.get("none"):
        return mt.CallToolResult(content=text)
    return mt.CallToolResult(content=text, structured_content=args.get("give"))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = Server("shapes", on_list_tools=list_tools, on_call_tool=call_tool)
    with running(lambda base: server.streamable_http_app()) as url:
        yield f"{url}/mcp"


async def run(agent: RemoteMCPAgent, tool: str, arguments: dict[str, Any]) -> c.Task:
    message = c.Message("user", (c.DataPart(arguments),))
    outcome = None
    async for item in agent.run(c.Invocation(tool, message), task_id="t"):
        outcome = item
    assert isinstance(outcome, c.Task)
    return outcome


@pytest.mark.parametrize("era", ["handshake", "2026-07-28"])
def test_a_result_its_output_schema_refuses_is_an_error(upstream: str, era: Era) -> None:
    async def scenario() -> list[object]:
        agent = RemoteMCPAgent("sh", upstream, timeout=30, era=era)
        seen: list[object] = []
        try:
            await agent.connect()
            for tool, arguments in (
                ("shaped", {"give": {"n": 3}}),
                ("shaped", {"give": {"n": "three"}}),
                ("shaped", {"none": True}),
                ("shaped", {"fail": True}),
                ("free", {"give": {"n": "three"}}),
            ):
                try:
                    seen.append((await run(agent, tool, arguments)).state)
                except UpstreamUnavailable as exc:
                    seen.append(exc.public_message)
            return seen
        finally:
            await agent.close()

    seen = asyncio.run(scenario())
    assert seen[0] is c.TaskState.COMPLETED
    assert seen[1] == (
        "MCP agent 'sh': tool 'shaped' returned structured content its output schema refuses (at n)"
    )
    assert seen[2] == (
        "MCP agent 'sh': tool 'shaped' returned no structured content, which its output"
        " schema requires"
    )
    assert seen[3] is c.TaskState.FAILED  # an error result is not checked: it passes on
    assert seen[4] is c.TaskState.COMPLETED  # no schema, nothing to check


@pytest.fixture(scope="module")
def gateway(upstream: str) -> Iterator[str]:
    agent = RemoteMCPAgent("sh", upstream, timeout=30)
    asyncio.run(agent.connect())
    registry = Registry()
    registry.add(agent)
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url


async def test_an_mcp_caller_gets_an_error_not_the_refused_result(gateway: str) -> None:
    async with Client(f"{gateway}/mcp", mode="legacy") as client:
        good = await client.call_tool("sh.shaped", {"give": {"n": 3}})
        with pytest.raises(MCPError) as refused:
            await client.call_tool("sh.shaped", {"give": {"n": "three"}})
    assert good.structured_content == {"n": 3}
    assert not good.is_error
    assert refused.value.error.code == UPSTREAM_UNAVAILABLE


async def test_an_a2a_caller_gets_a_failed_task(gateway: str) -> None:
    part = pb.Part()
    json_format.ParseDict({"data": {"give": {"n": "three"}}}, part)
    request = pb.SendMessageRequest(
        message=pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[part])
    )
    request.metadata.update({"effmesh.skill": "shaped"})
    async with httpx.AsyncClient(timeout=60) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(f"{gateway}/a2a/sh", client_config=config) as client:
            answers = [r async for r in client.send_message(request)]
    task = answers[-1].task
    assert task.status.state == pb.TASK_STATE_FAILED
    assert "output schema refuses" in task.status.message.parts[0].text
