"""Every protocol's tasks land in the gateway's one store with their owner: the token name of
the caller that started them, read back through the store's own interface."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agents.echo import EchoAgent
from agents.specialists.optimizer import ToolIndex
from agents.tools.calculator import CalculatorAgent
from gateway.app import create_app
from gateway.mcp.ws import websocket_client
from gateway.registry import Registry
from gateway.routing.agent import RouterAgent, RouterSettings
from gateway.routing.complexity import ComplexityAnalyzer
from gateway.routing.planner import Planner
from gateway.runtime.runner import Runtime
from gateway.runtime.store import MemoryTaskStore, StoredTask, TaskQuery
from gateway.settings import Config
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"ide": "ide-secret", "ops": "ops-secret"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, Runtime]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_OPS", TOKENS["ops"])
        runtime = Runtime(MemoryTaskStore(), timeout=30)
        registry = Registry()
        registry.add(EchoAgent())
        registry.add(CalculatorAgent())
        registry.add(
            RouterAgent(
                registry,
                ComplexityAnalyzer(),
                Planner(None, mode="rules"),
                ToolIndex(None, None),
                RouterSettings(skills=("calculator.*",)),
                runtime=runtime,
            )
        )
        config = Config(
            token_env="EFFMESH_T_UNSET",
            tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
            rate_per_minute=0,
        )
        with running(
            lambda base: create_app(registry, config, base_url=base, runtime=runtime)
        ) as url:
            yield url, runtime


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who]}"}


def stored(runtime: Runtime, task_id: str) -> StoredTask:
    entry = runtime.store.load(task_id)
    assert entry is not None
    return entry


def owner(runtime: Runtime, task_id: str) -> str | None:
    return stored(runtime, task_id).owner


def a2a_send(text: str) -> pb.SendMessageRequest:
    req = pb.SendMessageRequest(
        message=pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text=text)])
    )
    req.metadata.update({"effmesh.skill": "echo"})
    return req


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_a2a_tasks_over_http_belong_to_their_caller(
    gateway: tuple[str, Runtime], binding: str
) -> None:
    url, runtime = gateway
    for who in TOKENS:
        async with httpx.AsyncClient(headers=bearer(who)) as http:
            config = ClientConfig(
                streaming=False, supported_protocol_bindings=[binding], httpx_client=http
            )
            async with await create_client(f"{url}/a2a/echo", client_config=config) as client:
                task = [r async for r in client.send_message(a2a_send(who))][-1].task
        entry = stored(runtime, task.id)
        assert (entry.owner, entry.endpoint, entry.agent) == (who, "/a2a/echo", "echo.echo")


async def test_acp_runs_belong_to_their_caller(gateway: tuple[str, Runtime]) -> None:
    url, runtime = gateway
    run = {"agent_name": "echo.echo", "input": [{"role": "user", "parts": [{"content": "x"}]}]}
    async with httpx.AsyncClient() as http:
        for who in TOKENS:
            reply = (await http.post(f"{url}/acp/runs", json=run, headers=bearer(who))).json()
            assert owner(runtime, reply["run_id"]) == who


@asynccontextmanager
async def socket(url: str, path: str, who: str) -> AsyncIterator[Any]:
    ws_url = url.replace("http://", "ws://") + path
    async with websockets.connect(ws_url, additional_headers=bearer(who)) as ws:
        yield ws


async def test_tasks_over_the_websocket_endpoints_belong_to_their_caller(
    gateway: tuple[str, Runtime],
) -> None:
    url, runtime = gateway
    for who in TOKENS:
        async with socket(url, "/a2a/ws", who) as ws:
            message = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]}
            params = {"message": message, "metadata": {"effmesh.skill": "echo.echo"}}
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params})
            )
            a2a_task = json.loads(await ws.recv())["result"]["task"]["id"]
        async with socket(url, "/acp/ws", who) as ws:
            run = {
                "agent_name": "echo.echo",
                "input": [{"role": "user", "parts": [{"content": "x"}]}],
            }
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "runs/create", "params": run})
            )
            acp_run = json.loads(await ws.recv())["result"]["run_id"]
        over_a2a, over_acp = stored(runtime, a2a_task), stored(runtime, acp_run)
        assert (over_a2a.owner, over_a2a.endpoint) == (who, "/a2a/ws")
        assert (over_acp.owner, over_acp.endpoint) == (who, "/acp/ws")


async def test_mcp_tool_calls_are_tasks_of_their_caller(gateway: tuple[str, Runtime]) -> None:
    url, runtime = gateway
    for who in TOKENS:
        http = httpx2.AsyncClient(headers=bearer(who))
        async with http, Client(streamable_http_client(f"{url}/mcp/", http_client=http)) as c:
            await c.call_tool("echo.echo", {"text": "over http"})
        ws = websocket_client(url.replace("http://", "ws://") + "/mcp/ws", headers=bearer(who))
        async with Client(ws) as c:
            await c.call_tool("echo.echo", {"text": "over a socket"})
    for endpoint in ("/mcp", "/mcp/ws"):
        stored = runtime.store.list(TaskQuery(endpoint=endpoint)).tasks
        assert sorted(s.owner or "" for s in stored) == ["ide", "ops"]
        assert {s.task.state.value for s in stored} == {"completed"}


async def test_a_routed_runs_subtasks_belong_to_the_caller_of_the_run(
    gateway: tuple[str, Runtime],
) -> None:
    url, runtime = gateway
    run = {
        "agent_name": "effmesh.run",
        "input": [{"role": "user", "parts": [{"content": "2+3"}]}],
    }
    async with httpx.AsyncClient(timeout=30) as http:
        reply = (await http.post(f"{url}/acp/runs", json=run, headers=bearer("ops"))).json()
    assert reply["status"] == "completed"
    assert owner(runtime, reply["run_id"]) == "ops"
    subtasks = runtime.store.list(TaskQuery(endpoint="agent/effmesh")).tasks
    assert [(s.owner, s.agent) for s in subtasks] == [("ops", "calculator.evaluate")]
