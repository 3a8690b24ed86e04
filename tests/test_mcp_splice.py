"""A tool call from an MCP caller to an MCP server's agent, passed through: the server gets the
caller's arguments as they came under the tool's own name, the caller gets the server's result
as it was (content blocks with their annotations and ``_meta``, the result's own ``_meta``),
in both eras; the call is stored as its caller's task, which another token does not see; a
call over the runtime's cap is refused before it is sent; a call that asks for progress takes
the canonical path and gets its progress.

The upstream is the official SDK's low-level ``Server`` (it returns what its handler gives,
unchecked), over streamable HTTP; the callers are the official MCP client, with two tokens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as mt
import pytest
from mcp import Client
from mcp.client.client import ConnectMode
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from adapters.mcp.errors import RATE_LIMITED
from adapters.model import TaskState
from agents.remote import RemoteMCPAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.runtime.store import MemoryTaskStore, TaskQuery
from gateway.settings import Config
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"alice": "splice-alice-token", "bob": "splice-bob-token"}
TOOLS = [mt.Tool(name="rich", input_schema={"type": "object"})]
SEEN: list[tuple[str, dict[str, Any] | None]] = []
BLOCK = {
    "type": "text",
    "text": "kept",
    "annotations": {"audience": ["user"], "priority": 0.5},
    "_meta": {"upstream/block": 1},
}


async def list_tools(
    ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
) -> mt.ListToolsResult:
    return mt.ListToolsResult(tools=TOOLS)


async def call_tool(
    ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
) -> mt.CallToolResult:
    SEEN.append((params.name, params.arguments))
    if (params.arguments or {}).get("slow"):
        await asyncio.sleep(0.3)
    if ctx.meta is not None and ctx.meta.get("progress_token") is not None:
        await ctx.session.report_progress(1, 2, "half")
    return mt.CallToolResult.model_validate(
        {"content": [BLOCK], "_meta": {"upstream/result": "as sent"}}
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = Server("rich", on_list_tools=list_tools, on_call_tool=call_tool)
    with running(lambda base: server.streamable_http_app()) as url:
        yield f"{url}/mcp"


@pytest.fixture(scope="module")
def gateway(upstream: str) -> Iterator[tuple[str, Runtime]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_SPLICE_ALICE", TOKENS["alice"])
        env.setenv("EFFMESH_SPLICE_BOB", TOKENS["bob"])
        agent = RemoteMCPAgent("up", upstream, timeout=30)
        asyncio.run(agent.connect())
        registry = Registry()
        registry.add(agent)
        config = Config(
            tokens=(("alice", "EFFMESH_SPLICE_ALICE"), ("bob", "EFFMESH_SPLICE_BOB")),
            rate_per_minute=0,
            max_running_tasks_per_token=1,
        )
        runtime = Runtime(MemoryTaskStore(), timeout=30)
        with running(
            lambda base: create_app(registry, config, base_url=base, runtime=runtime)
        ) as url:
            yield url, runtime


@contextlib.asynccontextmanager
async def client(url: str, who: str, mode: ConnectMode) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[who]}"})
    transport = streamable_http_client(f"{url}/mcp", http_client=http)
    async with http, Client(transport, mode=mode) as connected:
        yield connected


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_servers_result_reaches_the_caller_as_it_was(
    gateway: tuple[str, Runtime], mode: ConnectMode
) -> None:
    url, _ = gateway
    SEEN.clear()
    async with client(url, "alice", mode) as alice:
        result = await alice.call_tool("up.rich", {"x": [1, {"y": None}], "text": "t"})
    assert SEEN == [("rich", {"x": [1, {"y": None}], "text": "t"})]
    wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert wire["content"] == [BLOCK]
    assert wire["_meta"]["upstream/result"] == "as sent"
    assert not result.is_error


async def test_the_call_is_its_callers_task_and_hidden_from_another_token(
    gateway: tuple[str, Runtime],
) -> None:
    url, runtime = gateway
    async with client(url, "alice", "auto") as alice:
        await alice.call_tool("up.rich", {"mark": "mine"})
    store = runtime.store
    mine = store.list(TaskQuery(owner=runtime.visible_to("alice"), endpoint="/mcp", limit=100))
    found = [e for e in mine.tasks if e.task.history and "mine" in str(e.task.history[0])]
    assert len(found) == 1
    entry = found[0]
    assert (entry.agent, entry.owner, entry.task.state) == ("up.rich", "alice", TaskState.COMPLETED)
    assert entry.task.artifacts[0].parts[0].text == "kept"  # type: ignore[union-attr]
    theirs = store.list(TaskQuery(owner=runtime.visible_to("bob"), endpoint="/mcp", limit=100))
    assert entry.task.task_id not in {e.task.task_id for e in theirs.tasks}
    assert store.load(entry.task.task_id, owner=runtime.visible_to("bob")) is None


async def test_a_call_over_the_running_cap_is_refused_before_it_is_sent(
    gateway: tuple[str, Runtime],
) -> None:
    url, _ = gateway
    SEEN.clear()
    async with client(url, "alice", "auto") as first, client(url, "alice", "auto") as second:
        slow = asyncio.create_task(first.call_tool("up.rich", {"slow": True}))
        while not SEEN:
            await asyncio.sleep(0.01)
        with pytest.raises(MCPError) as refused:
            await second.call_tool("up.rich", {"fast": True})
        await slow
    assert refused.value.error.code == RATE_LIMITED
    assert [args for _, args in SEEN] == [{"slow": True}]


async def test_a_call_that_asks_for_progress_gets_it(gateway: tuple[str, Runtime]) -> None:
    url, _ = gateway
    notes: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        notes.append(done)

    async with client(url, "bob", "legacy") as bob:
        result = await bob.call_tool("up.rich", {}, progress_callback=progress)
    assert notes
    assert result.content[0].text == "kept"  # type: ignore[union-attr]
