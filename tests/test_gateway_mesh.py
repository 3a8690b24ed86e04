"""Dial-in agents over the mesh WebSocket: an agent behind NAT connects out and becomes
callable from MCP, A2A and ACP; when it leaves, its calls fail fast and it is gone."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from mcp import Client
from mcp.shared.exceptions import MCPError

from agents.dialin import dial
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running


@pytest.fixture
def gateway() -> Iterator[str]:
    registry = Registry()
    registry.add(EchoAgent())
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url


class PeerThread:
    """A dial-in peer on its own event loop, as it would run on another machine, offering an
    echo agent named ``agent`` and authenticating with ``token`` when given."""

    def __init__(self, url: str, agent: str = "far", token: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.registered = asyncio.Event()
        self.url = url
        self.agent = agent
        self.token = token
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)

    async def _start(self) -> None:
        self.stopping = asyncio.Event()
        peer = asyncio.ensure_future(
            dial(self.url, [EchoAgent(self.agent)], token=self.token, registered=self.registered)
        )
        await self.stopping.wait()
        peer.cancel()  # closes the socket on the way out, as a peer going away does
        with contextlib.suppress(asyncio.CancelledError):
            await peer

    def wait_registered(self) -> None:
        asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(self.registered.wait(), 10), self.loop
        ).result(15)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.future.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_a_dial_in_agent_is_callable_from_mcp_and_acp_and_leaves_cleanly(gateway: str) -> None:
    peer = PeerThread(gateway.replace("http://", "ws://") + "/ws")
    try:
        peer.wait_registered()
        agents = {a["name"]: a for a in httpx.get(f"{gateway}/agents").json()["agents"]}
        assert agents["far"]["state"] == "up"

        async def via_mcp() -> list[str]:
            async with Client(f"{gateway}/mcp") as client:
                result = await client.call_tool("far.echo", {"text": "from afar"})
            return [c.text for c in result.content]  # type: ignore[union-attr]

        assert asyncio.run(via_mcp()) == ["from afar"]
        run = httpx.post(
            f"{gateway}/acp/runs",
            json={
                "agent_name": "far.echo",
                "mode": "sync",
                "input": [{"role": "user", "parts": [{"content": "acp too"}]}],
            },
        ).json()
        assert run["status"] == "completed"
        assert run["output"][0]["parts"][0]["content"] == "acp too"
    finally:
        peer.stop()

    async def after() -> None:
        async with Client(f"{gateway}/mcp") as client:
            with pytest.raises(MCPError):
                await client.call_tool("far.echo", {"text": "gone"})

    for _ in range(100):
        names = {a["name"] for a in httpx.get(f"{gateway}/agents").json()["agents"]}
        if "far" not in names:
            break
        threading.Event().wait(0.05)
    assert "far" not in names
    asyncio.run(after())


async def _a2a_echo(card_url: str, text: str) -> str:
    client = await create_client(card_url, client_config=ClientConfig(streaming=False))
    request = pb.SendMessageRequest(
        message=pb.Message(message_id="m1", role=pb.ROLE_USER, parts=[pb.Part(text=text)])
    )
    request.metadata.update({"effmesh.skill": "echo"})
    async with client:
        async for response in client.send_message(request):
            task = response.task
    assert task.status.state == pb.TASK_STATE_COMPLETED
    return task.artifacts[0].parts[0].text


def test_a_dial_in_agent_gets_an_a2a_card_and_bindings_while_it_is_connected(
    gateway: str,
) -> None:
    card_url = f"{gateway}/a2a/far"
    assert httpx.get(f"{card_url}/.well-known/agent-card.json").status_code == 404
    peer = PeerThread(gateway.replace("http://", "ws://") + "/ws")
    try:
        peer.wait_registered()
        card = httpx.get(f"{card_url}/.well-known/agent-card.json").json()
        assert card["supportedInterfaces"][0]["url"] == card_url
        assert asyncio.run(_a2a_echo(card_url, "a2a from afar")) == "a2a from afar"
        own = httpx.get(f"{gateway}/.well-known/agent-card.json").json()
        assert "far.echo" in {s["id"] for s in own["skills"]}
    finally:
        peer.stop()
    for _ in range(100):
        gone = httpx.post(
            card_url, json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
        )
        if gone.status_code == 404:
            break
        threading.Event().wait(0.05)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == -32001  # A2A's not-found, in A2A's own form
    own = httpx.get(f"{gateway}/.well-known/agent-card.json").json()
    assert "far.echo" not in {s["id"] for s in own["skills"]}
