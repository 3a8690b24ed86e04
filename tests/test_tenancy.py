"""Two tenants on one gateway: each sees and manages only its own tasks, runs and MCP sessions
(another's is not found, exactly like an id that never existed), an operator sees all, and
each tenant's running tasks and MCP sessions are capped."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import TaskNotFoundError
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from adapters.errors import InvalidParams
from adapters.mcp import TEXT_ARGUMENT
from adapters.model import Invocation, Message, StreamItem, TextPart
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.mcp.tools import PausedCalls
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.runtime.store import MemoryTaskStore
from gateway.settings import Config
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"default": "default-secret", "ide": "ide-secret", "ops": "ops-secret"}
RUNNING_CAP = 3
SESSION_CAP = 2


class WatchedEcho(EchoAgent):
    """The echo agent, whose ``wait`` skill reports (across threads) that it started and
    that it was cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.cancelled = threading.Event()

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if invocation.skill == "wait":
            self.started.set()
        try:
            async for item in super().run(invocation, task_id=task_id):
                yield item
        except BaseException:
            if invocation.skill == "wait":
                self.cancelled.set()
            raise


@pytest.fixture(scope="module")
def agent() -> WatchedEcho:
    return WatchedEcho()


@pytest.fixture(scope="module")
def url(agent: WatchedEcho) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_T_DEFAULT", TOKENS["default"])
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_OPS", TOKENS["ops"])
        registry = Registry()
        registry.add(agent)
        config = Config(
            token_env="EFFMESH_T_DEFAULT",
            tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
            operators=("ops",),
            rate_per_minute=0,
            max_running_tasks_per_token=RUNNING_CAP,
            max_mcp_sessions_per_token=SESSION_CAP,
        )
        runtime = Runtime(MemoryTaskStore(), timeout=30)
        with running(
            lambda base: create_app(registry, config, base_url=base, runtime=runtime)
        ) as u:
            yield u


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who]}"}


def run_body(skill: str = "echo.echo", mode: str = "sync") -> dict[str, Any]:
    return {
        "agent_name": skill,
        "mode": mode,
        "input": [{"role": "user", "parts": [{"content": "x"}]}],
    }


async def acp(who: str, method: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(headers=bearer(who), timeout=30) as http:
        return await http.request(method, path, json=body)


def same_not_found(wrong: httpx.Response, unknown: httpx.Response, real: str, fake: str) -> None:
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text.replace(real, fake) == unknown.text


# ACP over HTTP


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/events", None),
        ("POST", "/cancel", None),
        ("POST", "", {"run_id": "", "await_resume": {"message": {"parts": [{"content": "y"}]}}}),
    ],
)
async def test_another_tenants_acp_run_is_not_found(
    url: str, method: str, suffix: str, body: Any
) -> None:
    mine = (await acp("default", "POST", f"{url}/acp/runs", run_body("echo.ask"))).json()
    run_id = mine["run_id"]
    assert mine["status"] == "awaiting"
    fake = str(uuid.uuid4())
    wrong = await acp("ide", method, f"{url}/acp/runs/{run_id}{suffix}", body)
    unknown = await acp("ide", method, f"{url}/acp/runs/{fake}{suffix}", body)
    same_not_found(wrong, unknown, run_id, fake)
    intact = (await acp("default", "GET", f"{url}/acp/runs/{run_id}")).json()
    assert intact["status"] == "awaiting"
    seen = await acp("ops", "GET", f"{url}/acp/runs/{run_id}")
    assert seen.json()["run_id"] == run_id


async def test_the_operator_cancels_any_tenants_run(url: str) -> None:
    started = await acp("default", "POST", f"{url}/acp/runs", run_body("echo.wait", "async"))
    run_id = started.json()["run_id"]
    assert (await acp("ide", "POST", f"{url}/acp/runs/{run_id}/cancel")).status_code == 404
    cancelled = await acp("ops", "POST", f"{url}/acp/runs/{run_id}/cancel")
    assert cancelled.status_code == 202
    assert (await acp("default", "GET", f"{url}/acp/runs/{run_id}")).json()["status"] in (
        "cancelling",
        "cancelled",
    )


# ACP and A2A over WebSocket


@asynccontextmanager
async def socket(url: str, path: str, who: str) -> AsyncIterator[Any]:
    async with websockets.connect(
        url.replace("http://", "ws://") + path, additional_headers=bearer(who)
    ) as ws:
        yield ws


async def call(ws: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


@pytest.mark.parametrize("method", ["runs/get", "runs/events", "runs/cancel"])
async def test_another_tenants_run_over_acp_ws_is_not_found(url: str, method: str) -> None:
    async with socket(url, "/acp/ws", "default") as ws:
        run_id = (await call(ws, "runs/create", run_body("echo.ask")))["result"]["run_id"]
    fake = str(uuid.uuid4())
    async with socket(url, "/acp/ws", "ide") as ws:
        wrong = await call(ws, method, {"run_id": run_id})
        unknown = await call(ws, method, {"run_id": fake})
    assert "result" not in wrong
    assert json.dumps(wrong).replace(run_id, fake) == json.dumps(unknown)
    async with socket(url, "/acp/ws", "default") as ws:
        assert (await call(ws, "runs/get", {"run_id": run_id}))["result"]["status"] == "awaiting"


@pytest.mark.parametrize("method", ["GetTask", "CancelTask", "SubscribeToTask"])
async def test_another_tenants_task_over_a2a_ws_is_not_found(url: str, method: str) -> None:
    message = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]}
    send = {"message": message, "metadata": {"effmesh.skill": "echo.ask"}}
    async with socket(url, "/a2a/ws", "default") as ws:
        task_id = (await call(ws, "SendMessage", send))["result"]["task"]["id"]
    fake = str(uuid.uuid4())
    async with socket(url, "/a2a/ws", "ide") as ws:
        wrong = await call(ws, method, {"id": task_id})
        unknown = await call(ws, method, {"id": fake})
    assert "result" not in wrong
    assert json.dumps(wrong).replace(task_id, fake) == json.dumps(unknown)


# A2A over HTTP, through a2a-sdk's client


@asynccontextmanager
async def a2a_client(
    url: str, who: str, binding: str = "JSONRPC", *, streaming: bool = False
) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(headers=bearer(who), timeout=30) as http:
        config = ClientConfig(
            streaming=streaming, supported_protocol_bindings=[binding], httpx_client=http
        )
        async with await create_client(f"{url}/a2a/echo", client_config=config) as client:
            yield client


def a2a_send(skill: str, task_id: str = "") -> pb.SendMessageRequest:
    message = pb.Message(message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text="x")])
    if task_id:
        message.task_id = task_id
    req = pb.SendMessageRequest(message=message)
    req.metadata.update({"effmesh.skill": skill})
    return req


async def started_task(url: str, who: str, skill: str = "ask") -> str:
    async with a2a_client(url, who) as client:
        return str([r async for r in client.send_message(a2a_send(skill))][-1].task.id)


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_a2a_listings_hold_only_the_callers_tasks(url: str, binding: str) -> None:
    mine, theirs = await started_task(url, "default"), await started_task(url, "ide")
    listed = {}
    for who in TOKENS:
        async with a2a_client(url, who, binding) as client:
            page = await client.list_tasks(pb.ListTasksRequest())
            listed[who] = {t.id for t in page.tasks}
    assert mine in listed["default"]
    assert theirs not in listed["default"]
    assert theirs in listed["ide"]
    assert mine not in listed["ide"]
    assert {mine, theirs} <= listed["ops"]


async def attempt(client: Any, operation: str, target: str) -> None:
    match operation:
        case "get":
            await client.get_task(pb.GetTaskRequest(id=target))
        case "cancel":
            await client.cancel_task(pb.CancelTaskRequest(id=target))
        case "follow-up":
            _ = [r async for r in client.send_message(a2a_send("ask", target))]
        case "subscribe":
            _ = [r async for r in client.subscribe(pb.SubscribeToTaskRequest(id=target))]


@pytest.mark.parametrize("operation", ["get", "cancel", "follow-up", "subscribe"])
async def test_another_tenants_a2a_task_is_not_found(url: str, operation: str) -> None:
    task_id = await started_task(url, "default")
    for target in (task_id, str(uuid.uuid4())):
        async with a2a_client(url, "ide", streaming=operation == "subscribe") as client:
            with pytest.raises(TaskNotFoundError):
                await attempt(client, operation, target)
    async with a2a_client(url, "default") as client:
        task = await client.get_task(pb.GetTaskRequest(id=task_id))
    assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED


async def test_a2a_rest_listing_by_another_tenant_leaves_out_the_task(url: str) -> None:
    task_id = await started_task(url, "default")
    async with httpx.AsyncClient(timeout=30) as http:
        version = {"A2A-Version": "1.0"}
        other = await http.get(f"{url}/a2a/echo/rest/tasks", headers={**bearer("ide"), **version})
        own = await http.get(f"{url}/a2a/echo/rest/tasks", headers={**bearer("default"), **version})
    assert other.status_code == own.status_code == 200
    assert task_id not in other.text
    assert task_id in own.text


# MCP sessions


HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-06-18",
}


async def mcp_post(http: httpx.AsyncClient, url: str, body: Any, **headers: str) -> httpx.Response:
    return await http.post(f"{url}/mcp", content=json.dumps(body), headers={**HEADERS, **headers})


async def open_session(http: httpx.AsyncClient, url: str) -> httpx.Response:
    """An initialize request of the 2025-06-18 revision (the one with sessions)."""
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "tenant", "version": "1"},
    }
    return await mcp_post(
        http, url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    )


@asynccontextmanager
async def mcp_session(url: str, who: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with httpx.AsyncClient(headers=bearer(who), timeout=30) as http:
        opened = await open_session(http, url)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await mcp_post(http, url, note, **{"mcp-session-id": session})
        try:
            yield http, session
        finally:
            await http.delete(f"{url}/mcp", headers={**HEADERS, "mcp-session-id": session})


async def ping(http: httpx.AsyncClient, url: str, session: str) -> httpx.Response:
    return await mcp_post(
        http, url, {"jsonrpc": "2.0", "id": 9, "method": "ping"}, **{"mcp-session-id": session}
    )


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
async def test_another_tenants_mcp_session_is_not_found(url: str, method: str) -> None:
    async with mcp_session(url, "default") as (mine, session):
        async with httpx.AsyncClient(headers=bearer("ide"), timeout=30) as http:
            body = (
                json.dumps({"jsonrpc": "2.0", "id": 9, "method": "ping"})
                if method == "POST"
                else None
            )
            wrong = await http.request(
                method, f"{url}/mcp", content=body, headers={**HEADERS, "mcp-session-id": session}
            )
            unknown = await http.request(
                method,
                f"{url}/mcp",
                content=body,
                headers={**HEADERS, "mcp-session-id": uuid.uuid4().hex},
            )
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.content == unknown.content
        assert (await ping(mine, url, session)).status_code == 200


async def test_mcp_sessions_are_capped_per_tenant(url: str) -> None:
    async with mcp_session(url, "ide"), mcp_session(url, "ide"):
        async with httpx.AsyncClient(headers=bearer("ide"), timeout=30) as http:
            refused = await open_session(http, url)
        assert refused.status_code == 429
        async with mcp_session(url, "default") as (other, session):
            assert (await ping(other, url, session)).status_code == 200
    # Deleted sessions are forgotten: the tenant may open new ones.
    async with mcp_session(url, "ide"), mcp_session(url, "ide"):
        pass


async def test_the_mcp_client_still_calls_tools(url: str) -> None:
    http = httpx2.AsyncClient(headers=bearer("ide"))
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        assert not (await client.call_tool("echo.echo", {"text": "x"})).is_error


# Caps and disconnects


async def test_running_tasks_are_capped_per_tenant(url: str, agent: WatchedEcho) -> None:
    runs = [
        (await acp("ide", "POST", f"{url}/acp/runs", run_body("echo.wait", "async"))).json()[
            "run_id"
        ]
        for _ in range(RUNNING_CAP)
    ]
    refused = await acp("ide", "POST", f"{url}/acp/runs", run_body("echo.wait", "async"))
    other = await acp("default", "POST", f"{url}/acp/runs", run_body("echo.echo"))
    for run_id in runs:
        await acp("ide", "POST", f"{url}/acp/runs/{run_id}/cancel")
    again = await acp("ide", "POST", f"{url}/acp/runs", run_body("echo.echo"))
    assert refused.status_code == 429
    assert other.json()["status"] == "completed"
    assert again.json()["status"] == "completed"


async def test_a_sync_acp_run_whose_client_leaves_is_cancelled(
    url: str, agent: WatchedEcho
) -> None:
    agent.started.clear()
    agent.cancelled.clear()
    async with anyio.create_task_group() as tg:
        tg.start_soon(acp, "ide", "POST", f"{url}/acp/runs", run_body("echo.wait"))
        assert await anyio.to_thread.run_sync(agent.started.wait, 10)
        tg.cancel_scope.cancel()
    assert await anyio.to_thread.run_sync(agent.cancelled.wait, 10)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/a2a/echo",
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendMessage",
                "params": {
                    "metadata": {"effmesh.skill": "wait"},
                    "message": {
                        "messageId": "m-1",
                        "role": "ROLE_USER",
                        "parts": [{"text": "x"}],
                    },
                },
            },
        ),
        (
            "/a2a/echo/rest/message:send",
            {
                "metadata": {"effmesh.skill": "wait"},
                "message": {
                    "messageId": "m-2",
                    "role": "ROLE_USER",
                    "parts": [{"text": "x"}],
                },
            },
        ),
    ],
)
async def test_a_blocking_a2a_send_whose_client_leaves_is_cancelled(
    url: str, agent: WatchedEcho, path: str, body: dict[str, Any]
) -> None:
    agent.started.clear()
    agent.cancelled.clear()
    headers = {**bearer("ide"), "A2A-Version": "1.0"}

    async def send() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            await http.post(f"{url}{path}", json=body)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        assert await anyio.to_thread.run_sync(agent.started.wait, 10)
        tg.cancel_scope.cancel()
    assert await anyio.to_thread.run_sync(agent.cancelled.wait, 10)


def test_a_paused_mcp_call_resumes_only_for_its_owner() -> None:
    """The 2026-07-28 ``requestState`` token names a paused call: another token's retry with
    it is told the token is unknown, and the paused call stays for its owner."""
    registry = Registry()
    registry.add(EchoAgent())
    route = registry.route("echo.ask", "a")
    question = Message("agent", (TextPart("what colour?"),))
    paused = PausedCalls()
    token = paused.hold(route, Invocation("ask", Message("user", (TextPart("hi"),))), question, "a")

    def retry() -> Invocation:
        return Invocation(
            "ask",
            Message("user", (TextPart("hi"),)),
            metadata={
                "mcp.requestState": token,
                "mcp.inputResponses": {
                    "input": {"action": "accept", "content": {TEXT_ARGUMENT: "blue"}}
                },
            },
        )

    with pytest.raises(InvalidParams):
        paused.resume(retry(), "b")
    resumed = paused.resume(retry(), "a")
    assert resumed is not None
    assert resumed[0].tool_name == "echo.ask"
    with pytest.raises(InvalidParams):  # used once
        paused.resume(retry(), "a")
