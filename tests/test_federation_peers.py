"""A gateway's federation socket against peers that misbehave: a raw ``websockets`` client
speaks the link protocol by hand, so it can send what a correct gateway never would (a
wrong token, a call that loops back, a duplicate, a name that shadows a local agent, a
forged memory scope)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
import websockets
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from adapters import a2a
from adapters.errors import ErrorCode
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
from agents.echo import EchoAgent
from agents.memory.scope import SCOPE_KEY
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config, FederationConfig
from tests.servers import running

TOKEN = "peer-token"
SUBPROTOCOLS = [websockets.Subprotocol("effmesh")]


class ScopeProbe(Agent):
    """Answers with the memory scope the gateway handed it (agents that keep memories per
    caller are ``scoped``)."""

    scoped = True

    def __init__(self) -> None:
        self._descriptor = AgentDescriptor("probe", (Skill("scope", "Says its scope."),))

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        scope = str(invocation.metadata.get(SCOPE_KEY))
        artifact = Artifact("scope", (TextPart(scope),))
        yield Task(task_id, TaskState.COMPLETED, artifacts=(artifact,))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("EFFMESH_FEDERATION_TOKEN", TOKEN)
    monkeypatch.setenv("EFFMESH_TOKEN", "caller-token")
    registry = Registry()
    registry.add(EchoAgent())
    registry.add(ScopeProbe())
    config = Config(federation=FederationConfig(name="g", heartbeat_seconds=2))
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


class RawPeer:
    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def reply(self, rid: int) -> dict[str, Any]:
        """The answer to request ``rid`` (announcements and events before it are skipped)."""
        while True:
            msg = json.loads(await asyncio.wait_for(self.connection.recv(), 10))
            if msg.get("id") == rid and "method" not in msg:
                return dict(msg)

    async def next(self, method: str) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(self.connection.recv(), 10))
            if msg.get("method") == method:
                return dict(msg)


async def hello(base: str, token: str = TOKEN, name: str = "evil") -> tuple[Any, dict[str, Any]]:
    connection = await websockets.connect(
        ws_url(base),
        subprotocols=SUBPROTOCOLS,
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    peer = RawPeer(connection)
    await peer.send(
        {"jsonrpc": "2.0", "id": 1, "method": "mesh/hello", "params": {"gateway": name}}
    )
    return peer, await peer.reply(1)


def code_of(reply: dict[str, Any]) -> ErrorCode:
    return a2a.decode_error(reply["error"]).code


def run_params(agent: str, skill: str, **fields: Any) -> dict[str, Any]:
    invocation = Invocation(
        skill,
        Message("user", (TextPart("hi"),), message_id="m"),
        mode="stream",
        metadata=fields.pop("metadata", {}),
    )
    _, params = a2a.encode_invocation(invocation)
    return {"agent": agent, "params": params, "message": "m1", "hops": 1, "visited": ["evil"]} | (
        fields
    )


def test_a_peer_without_the_federation_token_cannot_join(gateway: str) -> None:
    async def go() -> None:
        with pytest.raises(websockets.InvalidStatus):
            await hello(gateway, token="wrong")
        # A caller's own token opens the socket (dial-in agents use it) but not a link.
        peer, reply = await hello(gateway, token="caller-token")
        assert code_of(reply) == ErrorCode.FORBIDDEN
        await peer.connection.close()
        # A peer claiming this gateway's own id is refused too.
        peer, reply = await hello(gateway, name="g")
        assert code_of(reply) == ErrorCode.INVALID_PARAMS
        await peer.connection.close()

    asyncio.run(go())


def test_calls_that_loop_exceed_the_hop_limit_or_repeat_are_refused(gateway: str) -> None:
    async def go() -> None:
        peer, reply = await hello(gateway)
        assert reply["result"] == {"gateway": "g", "frames": 2}
        run = {"jsonrpc": "2.0", "method": "mesh/run"}
        await peer.send(run | {"id": 2, "params": run_params("echo", "echo", visited=["x", "g"])})
        assert code_of(await peer.reply(2)) == ErrorCode.INVALID_REQUEST
        await peer.send(run | {"id": 3, "params": run_params("echo", "echo", hops=5)})
        assert code_of(await peer.reply(3)) == ErrorCode.INVALID_REQUEST
        await peer.send(run | {"id": 4, "params": run_params("echo", "echo", message="once")})
        assert (await peer.reply(4))["result"] == {}
        await peer.send(run | {"id": 5, "params": run_params("echo", "echo", message="once")})
        assert code_of(await peer.reply(5)) == ErrorCode.INVALID_REQUEST
        await peer.send(run | {"id": 6, "params": {"agent": 7}})
        assert code_of(await peer.reply(6)) == ErrorCode.INVALID_PARAMS
        await peer.connection.close()

    asyncio.run(go())
    counters = httpx.get(f"{gateway}/federation", headers=auth()).json()["counters"]
    assert counters["loops_refused"] == 1
    assert counters["hops_refused"] == 1
    assert counters["duplicates_refused"] == 1


def auth() -> dict[str, str]:
    return {"Authorization": "Bearer caller-token"}


def test_a_forwarded_call_runs_in_the_federation_scope_whatever_the_peer_claims(
    gateway: str,
) -> None:
    async def go() -> str:
        peer, _ = await hello(gateway)
        forged = run_params("probe", "scope", metadata={SCOPE_KEY: "victim"})
        await peer.send({"jsonrpc": "2.0", "id": 2, "method": "mesh/run", "params": forged})
        event = await peer.next("mesh/event")
        await peer.connection.close()
        item = a2a.decode_stream_item(event["params"]["item"])
        assert isinstance(item, Task)
        part = item.artifacts[0].parts[0]
        assert isinstance(part, TextPart)
        return part.text

    assert asyncio.run(go()) == "federation"


def test_a_peer_cannot_shadow_a_local_agent_but_adds_its_own(gateway: str) -> None:
    cards = [a2a.encode_agent(EchoAgent(name).descriptor) for name in ("echo", "extra")]

    async def go() -> None:
        peer, _ = await hello(gateway)
        await peer.send(
            {
                "jsonrpc": "2.0",
                "method": "mesh/announce",
                "params": {"origin": "evil", "version": [1, 1], "path": ["evil"], "agents": cards},
            }
        )
        for _ in range(100):
            status = httpx.get(f"{gateway}/federation", headers=auth()).json()
            if "evil" in status["origins"]:
                break
            await asyncio.sleep(0.02)
        assert status["shadowed"] == ["echo"]
        async with (
            httpx2.AsyncClient(headers=auth(), timeout=30) as http,
            Client(streamable_http_client(f"{gateway}/mcp", http_client=http)) as client,
        ):
            local = await client.call_tool("echo.echo", {"text": "here"})  # never forwarded
            assert [c.text for c in local.content] == ["here"]  # type: ignore[union-attr]
            far = asyncio.ensure_future(client.call_tool("extra.echo", {"text": "there"}))
            run = await peer.next("mesh/run")
            assert run["params"]["agent"] == "extra"
            assert run["params"]["visited"] == ["g"]
            assert run["params"]["hops"] == 1
            done = Task("t", TaskState.COMPLETED, artifacts=(Artifact("a", (TextPart("ok"),)),))
            await peer.send(
                {
                    "jsonrpc": "2.0",
                    "method": "mesh/event",
                    "params": {"call": run["id"], "item": a2a.encode_stream_item(done)},
                }
            )
            await peer.send({"jsonrpc": "2.0", "id": run["id"], "result": {}})
            result = await asyncio.wait_for(far, 10)
            assert [c.text for c in result.content] == ["ok"]  # type: ignore[union-attr]
        await peer.connection.close()
        for _ in range(100):
            names = {
                a["name"] for a in httpx.get(f"{gateway}/agents", headers=auth()).json()["agents"]
            }
            if "extra" not in names:
                break
            await asyncio.sleep(0.02)
        assert "extra" not in names  # the peer left: its agents left with it

    asyncio.run(go())


def test_a_dial_in_agent_cannot_take_a_local_agents_name(gateway: str) -> None:
    async def go() -> dict[str, Any]:
        async with websockets.connect(
            ws_url(gateway), subprotocols=SUBPROTOCOLS, additional_headers=auth()
        ) as connection:
            card = a2a.encode_agent(EchoAgent("echo").descriptor)
            register = {"jsonrpc": "2.0", "id": 0, "method": "mesh/register"}
            await connection.send(json.dumps(register | {"params": {"agents": [card]}}))
            return dict(json.loads(await asyncio.wait_for(connection.recv(), 10)))

    assert code_of(asyncio.run(go())) == ErrorCode.FORBIDDEN
