"""The 3x3 matrix: an MCP, an A2A and an ACP caller each reach an agent that speaks MCP, A2A
or ACP, through the gateway. The upstream agents are served by a second gateway on its own
port, so every hop is real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessagePart, RunStatus
from mcp import Client as MCPClient

from adapters import model as c
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.mcp.ws import websocket_client
from gateway.registry import Registry
from tests.servers import behind_remotes, running

pytestmark = pytest.mark.anyio
UPSTREAMS = ["up_mcp", "up_a2a", "up_acp"]
SKILL = {"up_mcp": "echo.echo", "up_a2a": "echo", "up_acp": "echo.echo"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with behind_remotes(EchoAgent()) as url:
        yield url


def test_remote_agents_bring_their_skills(gateway: str) -> None:
    import httpx

    agents = {a["name"]: a for a in httpx.get(f"{gateway}/agents").json()["agents"]}
    assert set(agents) == set(UPSTREAMS)
    assert "echo.echo" in agents["up_mcp"]["skills"]
    assert "echo" in agents["up_a2a"]["skills"]
    assert "echo.echo" in agents["up_acp"]["skills"]


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_an_mcp_caller_reaches_every_kind_of_agent(
    gateway: str, upstream: str, transport: str
) -> None:
    target = (
        f"{gateway}/mcp"
        if transport == "streamable-http"
        else websocket_client(gateway.replace("http://", "ws://") + "/mcp/ws")
    )
    async with MCPClient(target) as client:  # type: ignore[arg-type]
        result = await client.call_tool(f"{upstream}.{SKILL[upstream]}", {"text": "hi mcp"})
    assert result.is_error is False
    texts = [c.text for c in result.content if c.type == "text"]  # type: ignore[union-attr]
    assert "hi mcp" in texts


@pytest.mark.parametrize(
    ("binding", "streaming"),
    [("JSONRPC", True), ("JSONRPC", False), ("HTTP+JSON", True), ("HTTP+JSON", False)],
)
@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_an_a2a_caller_reaches_every_kind_of_agent(
    gateway: str, upstream: str, binding: str, streaming: bool
) -> None:
    request = pb.SendMessageRequest(
        message=pb.Message(message_id="m", role=pb.ROLE_USER, parts=[pb.Part(text="hi a2a")])
    )
    request.metadata.update({"effmesh.skill": SKILL[upstream]})
    client = await create_client(
        f"{gateway}/a2a/{upstream}",
        client_config=ClientConfig(streaming=streaming, supported_protocol_bindings=[binding]),
    )
    async with client:
        responses = [r async for r in client.send_message(request)]
    texts = []
    for r in responses:
        if r.HasField("artifact_update"):
            texts += [p.text for p in r.artifact_update.artifact.parts]
        if r.HasField("task"):
            texts += [p.text for a in r.task.artifacts for p in a.parts]
    assert "hi a2a" in texts
    last = responses[-1]
    state = last.task.status.state if last.HasField("task") else last.status_update.status.state
    assert state == pb.TASK_STATE_COMPLETED


@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_an_acp_caller_reaches_every_kind_of_agent(gateway: str, upstream: str) -> None:
    async with ACPClient(
        base_url=f"{gateway}/acp", headers={"Content-Type": "application/json"}
    ) as client:
        run = await client.run_sync(
            [Message(parts=[MessagePart(content="hi acp")])], agent=f"{upstream}.{SKILL[upstream]}"
        )
    assert run.status == RunStatus.COMPLETED, run.error
    contents = [p.content for m in run.output for p in m.parts]
    assert "hi acp" in contents


@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_an_acp_caller_streams_from_every_kind_of_agent(gateway: str, upstream: str) -> None:
    async with ACPClient(
        base_url=f"{gateway}/acp", headers={"Content-Type": "application/json"}
    ) as client:
        events = [
            e
            async for e in client.run_stream(
                [Message(parts=[MessagePart(content="hi stream")])],
                agent=f"{upstream}.{SKILL[upstream]}",
            )
        ]
    types = [e.type for e in events]
    assert types[0] == "run.created"
    assert types[-1] == "run.completed"
    final = events[-1].run  # type: ignore[union-attr]
    assert "hi stream" in [p.content for m in final.output for p in m.parts]


def test_an_mcp_server_over_stdio_is_an_agent_too(gateway: str) -> None:
    """A stdio MCP server (here: effmesh's own bridge to the upstream) registered as an agent."""
    import sys

    from agents.remote import RemoteMCPStdioAgent

    upstream = Registry()
    upstream.add(EchoAgent())
    with running(lambda base: create_app(upstream, base_url=base)) as up:
        agent = RemoteMCPStdioAgent(
            "local", [sys.executable, "-m", "gateway.cli", "mcp-stdio", "--url", up]
        )

        async def scenario() -> list[str]:
            await agent.connect()
            items = [
                item
                async for item in agent.run(
                    c.Invocation("echo.echo", c.Message("user", (c.TextPart("over stdio"),))),
                    task_id="t",
                )
            ]
            final = items[-1]
            assert isinstance(final, c.Task)
            return [p.text for a in final.artifacts for p in a.parts if isinstance(p, c.TextPart)]

        assert asyncio.run(scenario()) == ["over stdio"]
        assert {s.name for s in agent.descriptor.skills} == {"echo.echo", "echo.wait", "echo.ask"}
