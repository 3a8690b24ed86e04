"""Legacy MCP sessions (2025-11-25 over Streamable HTTP) across gateway replicas with no
session affinity: two ``effmesh serve`` processes sharing one PostgreSQL store, behind Caddy
balancing round-robin. A session one replica opened is taken up by the other when a request
of it lands there; the client's answer to a question and its cancel of a call reach the
replica running the call wherever they land; a session deleted on one replica is gone on
all."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as mt
import psycopg
import pytest
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client

from agents.remote import RemoteMCPAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.postgres import PostgresTaskStore
from gateway.runtime.runner import Runtime
from gateway.settings import Config
from tests import pg
from tests.mcp_fixture import build_fixture
from tests.replicas import REPLICA_HEADER, Balancer, Replica, behind
from tests.servers import running

pytestmark = pytest.mark.anyio
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


class Mesh:
    def __init__(self, replicas: list[Replica], balancer: Balancer, store: str) -> None:
        self.replicas = replicas
        self.balancer = balancer
        self.store = store

    def states(self, skill: str) -> list[str]:
        """The stored states of the calls of ``skill``."""
        with psycopg.connect(self.store) as conn:
            rows = conn.execute("SELECT state FROM tasks WHERE agent = %s", (skill,)).fetchall()
        return [str(row[0]) for row in rows]


@pytest.fixture(scope="module")
def mesh(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("replicas-mcp")
    with pg.database(postgres_server) as url:
        balancer = Balancer(folder)
        replicas = [Replica(folder, f"r{n}", url, balancer.base) for n in range(2)]
        with behind(balancer, replicas):
            yield Mesh(replicas, balancer, url)


async def test_a_legacy_session_is_served_by_both_replicas_through_the_balancer(
    mesh: Mesh,
) -> None:
    """The official client in the 2025-11-25 era: its handshake, lists, calls with progress,
    questions answered and a cancelled call, each request landing on either replica."""
    seen: list[str] = []

    async def note(response: httpx2.Response) -> None:
        seen.append(response.headers.get(REPLICA_HEADER, ""))

    asked: list[str] = []

    async def answer(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"text": "the answer"})

    progress: list[float] = []

    async def heard(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    http = httpx2.AsyncClient(timeout=30, event_hooks={"response": [note]})
    transport = streamable_http_client(f"{mesh.balancer.base}/mcp", http_client=http)
    async with (
        http,
        McpClient(transport, mode="legacy", elicitation_callback=answer) as client,  # type: ignore[call-overload]
    ):
        assert client.protocol_version == LEGACY
        for _ in range(2):
            tools = await client.list_tools()
            assert "echo.ask" in {t.name for t in tools.tools}
        for n in range(4):
            echoed = await client.call_tool("echo.echo", {"text": f"hi {n}"})
            assert [c.text for c in echoed.content] == [f"hi {n}"]  # type: ignore[union-attr]
        for _ in range(3):
            result = await client.call_tool("echo.ask", {"text": "start"})
            assert [c.text for c in result.content] == ["the answer"]  # type: ignore[union-attr]
        followed = await client.call_tool("echo.echo", {"text": "p"}, progress_callback=heard)
        assert [c.text for c in followed.content] == ["p"]  # type: ignore[union-attr]
        assert progress
        with anyio.move_on_after(1) as scope:
            await client.call_tool("echo.wait", {"text": "x"})
        assert scope.cancelled_caught
        after = await client.call_tool("echo.echo", {"text": "after"})
        assert [c.text for c in after.content] == ["after"]  # type: ignore[union-attr]
    assert asked == ["What should I echo?"] * 3
    assert {r.hostport for r in mesh.replicas} <= set(seen), seen
    with anyio.fail_after(30):
        while "working" in mesh.states("echo.wait"):
            await anyio.sleep(0.05)
    assert mesh.states("echo.wait") == ["canceled"]


def initialize(base: str, capabilities: dict[str, Any], token: str | None = None) -> str:
    """Open a 2025-11-25 session on ``base``; its id."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": capabilities,
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = httpx.post(f"{base}/mcp", json=body, headers=auth({"accept": ACCEPT}, token))
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    post(base, session, done, token)
    return session


def auth(headers: dict[str, str], token: str | None) -> dict[str, str]:
    return {**headers, "authorization": f"Bearer {token}"} if token else headers


def in_session(session: str, token: str | None = None) -> dict[str, str]:
    headers = {"accept": ACCEPT, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    return auth(headers, token)


def post(base: str, session: str, message: dict[str, Any], token: str | None = None) -> Any:
    return httpx.post(f"{base}/mcp", json=message, headers=in_session(session, token), timeout=30)


def call(rid: int, skill: str) -> dict[str, Any]:
    params = {"name": skill, "arguments": {"text": "start"}}
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


async def events(lines: Any) -> Any:
    """The JSON messages of a server-sent event stream."""
    async for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


async def test_an_answer_sent_to_another_replica_reaches_the_call_that_asked(
    mesh: Mesh,
) -> None:
    one, two = mesh.replicas
    session = initialize(one.base, {"elicitation": {}})
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream(
            "POST", f"{one.base}/mcp", json=call(5, "echo.ask"), headers=in_session(session)
        ) as stream,
    ):
        messages = events(stream.aiter_lines())
        question = await anext(messages)
        assert question["method"] == "elicitation/create"
        reply = {
            "jsonrpc": "2.0",
            "id": question["id"],
            "result": {"action": "accept", "content": {"text": "from two"}},
        }
        answered = post(two.base, session, reply)
        assert answered.status_code == 202
        with anyio.fail_after(30):
            result = await anext(messages)
    assert result["id"] == 5
    assert [c["text"] for c in result["result"]["content"]] == ["from two"]


async def test_a_cancel_sent_to_another_replica_stops_the_call_where_it_runs(
    mesh: Mesh,
) -> None:
    one, two = mesh.replicas
    session = initialize(one.base, {})
    before = mesh.states("echo.wait").count("canceled")

    async def calling(http: httpx.AsyncClient) -> list[Any]:
        # A call that nothing precedes is answered as one body, so its response starts
        # only when the call ends: the request runs on while the cancel is sent.
        async with http.stream(
            "POST", f"{one.base}/mcp", json=call(9, "echo.wait"), headers=in_session(session)
        ) as stream:
            assert stream.status_code == 200
            return [m async for m in events(stream.aiter_lines())]

    async with httpx.AsyncClient(timeout=30) as http:
        running = asyncio.ensure_future(calling(http))
        with anyio.fail_after(30):
            while "working" not in mesh.states("echo.wait"):
                await anyio.sleep(0.05)
        cancel = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": 9, "reason": "changed my mind"},
        }
        assert post(two.base, session, cancel).status_code == 202
        with anyio.fail_after(30):
            # The call is stopped there: its response ends, with no answer (MCP's cancel).
            left = await running
    assert left == []
    assert mesh.states("echo.wait").count("canceled") == before + 1
    assert "working" not in mesh.states("echo.wait")


def test_a_session_deleted_on_one_replica_is_gone_on_every_replica(mesh: Mesh) -> None:
    one, two = mesh.replicas
    session = initialize(one.base, {})
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert post(two.base, session, listing).status_code == 200  # taken up there
    gone = httpx.delete(f"{two.base}/mcp", headers=in_session(session), timeout=30)
    assert gone.status_code == 200
    for replica in (one, two):
        # The other replica hears of it over the channel: at once, or nearly.
        deadline = time.monotonic() + 30
        there = post(replica.base, session, listing)
        while there.status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.05)
            there = post(replica.base, session, listing)
        assert there.status_code == 404
        assert there.json()["error"]["code"] == mt.INVALID_REQUEST


@pytest.fixture(scope="module")
def upstream_replicas(postgres_server: Any) -> Iterator[tuple[str, str]]:
    """Two replicas (in this process) on one store, each with its own session to one MCP
    server behind it (the fixture server, as agent ``fx``)."""
    with (
        pg.database(postgres_server) as url,
        running(lambda base: build_fixture().streamable_http_app()) as upstream,
    ):
        config = Config(rate_per_minute=0, task_lease_seconds=5)

        def replica(name: str) -> Any:
            def make(base: str) -> Any:
                registry = Registry()
                fixture = RemoteMCPAgent("fx", f"{upstream}/mcp", timeout=30, era="handshake")
                asyncio.run(fixture.connect())
                registry.add(fixture)
                store = PostgresTaskStore(url, replica=name)
                return create_app(registry, config, base_url=base, runtime=Runtime(store))

            return running(make)

        with replica("one") as one, replica("two") as two:
            yield one, two


async def test_a_resource_update_reaches_the_get_stream_another_replica_holds(
    upstream_replicas: tuple[str, str],
) -> None:
    """Subscribed through one replica (which holds the upstream subscription), listening on
    the other (which holds the session's GET stream): the update goes from one to the
    other over the channel."""
    one, two = upstream_replicas
    session = initialize(one, {})
    uri = "test://watched-resource"
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("GET", f"{two}/mcp", headers=in_session(session)) as stream,
    ):
        assert stream.status_code == 200
        subscribe = {"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe"}
        subscribed = post(one, session, {**subscribe, "params": {"uri": uri}})
        assert subscribed.status_code == 200, subscribed.text
        touched = post(one, session, call(3, "fx.test_touch_watched"))
        assert touched.status_code == 200
        with anyio.fail_after(30):
            heard = await anext(events(stream.aiter_lines()))
    assert heard == {
        "jsonrpc": "2.0",
        "method": "notifications/resources/updated",
        "params": {"uri": uri},
    }
