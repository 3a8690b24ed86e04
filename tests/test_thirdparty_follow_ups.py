"""Conversations with other people's A2A agents that ask more than once, through the gateway:
every answer reaches the agent's one task (the @a2a-js/sdk agent and the one on a2a-sdk's
own server, started as in the third-party matrix), from MCP callers of both protocol eras,
A2A callers blocking and streaming, and ACP callers; and a paused MCP call to such an agent
belongs to its caller: another token's retry with its ``requestState`` is refused and never
reaches the agent. An answer also reaches the agent's task that asked (or, for the ACP agent
on acp-sdk's server, its run) after the gateway restarts on its store, and through another
replica sharing a PostgreSQL store: what the agent object kept in memory is stored with the
gateway's task (``gateway.runtime.conversations``).

The agents' servers open a follow-up's stream with the task as it stood (still waiting for
input) before the answer is taken; the gateway reads past it (``agents.remote.a2a``).
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any

import httpx
import httpx2
import mcp_types as mt
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import A2AError
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessageAwaitResume, MessagePart, RunStatus
from acp_sdk.models.errors import ACPError
from mcp import Client as MCPClient
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from adapters import jsonrpc
from adapters.model import Task, TaskState
from agents.remote import RemoteA2AAgent, RemoteACPAgent
from agents.remote.a2a import _answered
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.conversations import KEY
from gateway.runtime.postgres import PostgresTaskStore
from gateway.runtime.runner import Runtime
from gateway.runtime.sqlite import SQLiteTaskStore
from gateway.settings import Config
from tests.servers import running
from tests.thirdparty import launch

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(launch.missing() is not None, reason=f"run `make test`: {launch.missing()}"),
]
TOKENS = {"ide": "ide-secret", "ops": "ops-secret"}
AGENTS = ("js", "sdk")
"""The A2A agents; the restart and replica tests also answer the ACP agent (on acp-sdk)."""
STORED = (*AGENTS, "acp")
REPLIES = ["Ada", "Paris"]
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, launch.Started]]:
    folder: pathlib.Path = tmp_path_factory.mktemp("follow-ups")
    with ExitStack() as stack:
        started = {}
        for name in STORED:
            command, path = launch.COMMANDS[name]
            started[name] = stack.enter_context(launch.started(name, command, folder, path))
        yield started


def registry_of(agents: dict[str, launch.Started]) -> Registry:
    """A registry of fresh remote agents (nothing held in memory from an earlier gateway)."""
    registry = Registry()
    for name, agent in agents.items():
        remote = (
            RemoteACPAgent(name, agent.url) if name == "acp" else RemoteA2AAgent(name, agent.url)
        )
        asyncio.run(remote.connect())
        registry.add(remote)
    return registry


@contextmanager
def gateway_on(agents: dict[str, launch.Started], runtime: Runtime | None = None) -> Iterator[str]:
    """A gateway with two tokens in front of ``agents``, on ``runtime`` (default: its own)."""
    registry = registry_of(agents)
    config = Config(
        token_env="EFFMESH_T_UNSET",
        tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
        rate_per_minute=0,
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_OPS", TOKENS["ops"])
        with running(
            lambda base: create_app(registry, config, base_url=base, runtime=runtime)
        ) as url:
            yield url


@pytest.fixture(scope="module")
def gateway(agents: dict[str, launch.Started]) -> Iterator[tuple[str, dict[str, launch.Record]]]:
    with gateway_on(agents) as url:
        yield url, {name: agent.record for name, agent in agents.items()}


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who]}"}


@asynccontextmanager
async def mcp(url: str, who: str, mode: str, **options: Any) -> AsyncIterator[MCPClient]:
    http = httpx2.AsyncClient(headers=bearer(who), timeout=TIMEOUT)
    transport = streamable_http_client(f"{url}/mcp", http_client=http)
    async with http, MCPClient(transport, mode=mode, **options) as client:  # type: ignore[call-overload]
        yield client


async def by_mcp(url: str, agent: str, mode: str) -> tuple[list[str], str]:
    """The questions asked and the answer, with the MCP client answering each question."""
    asked: list[str] = []
    replies = iter(REPLIES)

    async def answer(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"text": next(replies)})

    async with mcp(url, "ide", mode, elicitation_callback=answer) as client:
        result = await client.call_tool(f"{agent}.demo", {"text": "twice"})
    assert not result.is_error
    return asked, "".join(c.text for c in result.content if isinstance(c, mt.TextContent))


def a2a_request(text: str, task: tuple[str, str] | None) -> pb.SendMessageRequest:
    message = pb.Message(
        message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=text)]
    )
    if task is not None:
        message.task_id, message.context_id = task
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": "demo"})
    return request


async def by_a2a(url: str, agent: str, streaming: bool) -> tuple[list[str], str]:
    """The questions asked (status messages of input-required) and the final answer."""
    asked: list[str] = []
    task: tuple[str, str] | None = None
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=bearer("ide")) as http:
        config = ClientConfig(streaming=streaming, httpx_client=http)
        async with await create_client(f"{url}/a2a/{agent}", client_config=config) as client:
            for text in ["twice", *REPLIES]:
                responses = [r async for r in client.send_message(a2a_request(text, task))]
                last = responses[-1]
                status = last.task.status if last.HasField("task") else last.status_update.status
                if last.HasField("task"):
                    task = (last.task.id, last.task.context_id)
                else:
                    task = (last.status_update.task_id, last.status_update.context_id)
                said = [p.text for p in status.message.parts]
                if status.state == pb.TASK_STATE_INPUT_REQUIRED:
                    asked.append(" ".join(said))
                    continue
                assert status.state == pb.TASK_STATE_COMPLETED
                artifacts = [
                    p.text
                    for r in responses
                    if r.HasField("task")
                    for a in r.task.artifacts
                    for p in a.parts
                ]
                chunks = [
                    p.text
                    for r in responses
                    if r.HasField("artifact_update")
                    for p in r.artifact_update.artifact.parts
                ]
                return asked, "".join(artifacts or chunks or said)
    raise AssertionError(f"the task did not complete: asked {asked}")


def acp_message(text: str) -> ACPMessage:
    return ACPMessage(parts=[MessagePart(content=text)])


async def by_acp(url: str, agent: str) -> tuple[list[str], str]:
    asked: list[str] = []
    headers = {"Content-Type": "application/json", **bearer("ide")}
    async with ACPClient(base_url=f"{url}/acp", headers=headers, timeout=TIMEOUT) as client:
        run = await client.run_sync([acp_message("twice")], agent=f"{agent}.demo")
        for text in REPLIES:
            assert run.status == RunStatus.AWAITING
            assert run.await_request is not None
            asked.append(" ".join(p.content or "" for p in run.await_request.message.parts))
            resume = MessageAwaitResume(message=acp_message(text))
            run = await client.run_resume_sync(resume, run_id=run.run_id)
    assert run.status == RunStatus.COMPLETED
    return asked, "".join(p.content or "" for m in run.output for p in m.parts)


CALLERS = {
    "mcp-2025-11-25": lambda url, agent: by_mcp(url, agent, "legacy"),
    "mcp-2026-07-28": lambda url, agent: by_mcp(url, agent, "auto"),
    "a2a-jsonrpc": lambda url, agent: by_a2a(url, agent, False),
    "a2a-stream": lambda url, agent: by_a2a(url, agent, True),
    "acp-sync": by_acp,
}


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_two_questions_in_a_row_are_answered_in_the_agents_one_task(
    gateway: tuple[str, dict[str, launch.Record]], caller: str, agent: str
) -> None:
    url, records = gateway
    record = records[agent]
    before = len(record.entries())
    asked, said = await CALLERS[caller](url, agent)
    assert asked == ["What name?", "What town?"]
    assert said == "hello Ada from Paris"
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream), ("resume", upstream)]


@pytest.mark.parametrize("agent", AGENTS)
async def test_another_token_cannot_carry_on_a_paused_mcp_call(
    gateway: tuple[str, dict[str, launch.Record]], agent: str
) -> None:
    url, records = gateway
    record = records[agent]
    before = len(record.entries())
    tool, args = f"{agent}.demo", {"text": "ask"}
    async with mcp(url, "ide", "auto") as ide:
        paused = await ide.session.call_tool(tool, args, allow_input_required=True)
    assert isinstance(paused, mt.InputRequiredResult)
    answer = {"input": mt.ElicitResult(action="accept", content={"text": "Eve"})}
    async with mcp(url, "ops", "auto") as ops:
        with pytest.raises(MCPError) as info:
            await ops.call_tool(
                tool, args, request_state=paused.request_state, input_responses=answer
            )  # type: ignore[arg-type]
    assert info.value.error.code == jsonrpc.INVALID_PARAMS
    answer = {"input": mt.ElicitResult(action="accept", content={"text": "Ada"})}
    async with mcp(url, "ide", "auto") as ide:
        result = await ide.call_tool(
            tool, args, request_state=paused.request_state, input_responses=answer
        )  # type: ignore[arg-type]
    assert [c.text for c in result.content] == ["hello Ada"]  # type: ignore[union-attr]
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream)]  # Eve never reached it


@pytest.fixture(params=["sqlite", "postgresql"])
def reopen(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Callable[[], Runtime]:
    """A fresh runtime on the same store each call, as a restarted gateway (or another
    replica) opens it."""
    if request.param == "sqlite":
        return lambda: Runtime(SQLiteTaskStore(tmp_path / "tasks.sqlite3"))
    url = request.getfixturevalue("postgres_url")
    return lambda: Runtime(PostgresTaskStore(url))


async def a2a_send(url: str, who: str, text: str, task: pb.Task | None = None) -> pb.Task:
    ids = (task.id, task.context_id) if task is not None else None
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=bearer(who)) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(url, client_config=config) as client:
            (response,) = [r async for r in client.send_message(a2a_request(text, ids))]
    return response.task


async def a2a_get(url: str, who: str, task_id: str) -> pb.Task:
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=bearer(who)) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(url, client_config=config) as client:
            return await client.get_task(pb.GetTaskRequest(id=task_id))


@pytest.mark.parametrize("agent", STORED)
def test_an_answer_after_a_restart_reaches_the_agents_task_that_asked(
    agents: dict[str, launch.Started], reopen: Callable[[], Runtime], agent: str
) -> None:
    """The gateway that relayed the question stops; a new one on the same store, whose
    agent objects hold nothing, relays the answer to the agent's task that asked. What the
    gateway keeps for it is never shown to the caller, and another token cannot answer."""
    record = agents[agent].record
    before = len(record.entries())
    with gateway_on(agents, reopen()) as url:
        asked = asyncio.run(a2a_send(f"{url}/a2a/{agent}", "ide", "ask"))
    assert asked.status.state == pb.TASK_STATE_INPUT_REQUIRED
    assert KEY not in asked.metadata
    with gateway_on(agents, reopen()) as url:
        endpoint = f"{url}/a2a/{agent}"
        got = asyncio.run(a2a_get(endpoint, "ide", asked.id))
        assert got.status.state == pb.TASK_STATE_INPUT_REQUIRED
        assert KEY not in got.metadata
        with pytest.raises(A2AError) as info:
            asyncio.run(a2a_send(endpoint, "ops", "Eve", asked))
        assert type(info.value).__name__ == "TaskNotFoundError"
        done = asyncio.run(a2a_send(endpoint, "ide", "Ada", asked))
    assert done.status.state == pb.TASK_STATE_COMPLETED
    texts = [p.text for a in done.artifacts for p in a.parts] or [
        p.text for p in done.status.message.parts
    ]
    assert texts == ["hello Ada"]
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream)]


@pytest.mark.parametrize("agent", STORED)
def test_an_acp_resume_after_a_restart_reaches_the_agents_task_that_asked(
    agents: dict[str, launch.Started], reopen: Callable[[], Runtime], agent: str
) -> None:
    record = agents[agent].record
    before = len(record.entries())
    headers = {"Content-Type": "application/json"}

    def acp(url: str, who: str) -> ACPClient:
        return ACPClient(base_url=f"{url}/acp", headers={**headers, **bearer(who)}, timeout=60)

    async def ask(url: str) -> str:
        async with acp(url, "ide") as client:
            run = await client.run_sync([acp_message("ask")], agent=f"{agent}.demo")
        assert run.status == RunStatus.AWAITING
        return str(run.run_id)

    async def answer(url: str, run_id: str) -> list[str]:
        async with acp(url, "ops") as ops:
            with pytest.raises(ACPError) as info:
                await ops.run_resume_sync(
                    MessageAwaitResume(message=acp_message("Eve")), run_id=run_id
                )
            assert info.value.error.code == "not_found"
        async with acp(url, "ide") as client:
            run = await client.run_resume_sync(
                MessageAwaitResume(message=acp_message("Ada")), run_id=run_id
            )
        assert run.status == RunStatus.COMPLETED
        return [p.content or "" for m in run.output for p in m.parts]

    with gateway_on(agents, reopen()) as url:
        run_id = asyncio.run(ask(url))
    with gateway_on(agents, reopen()) as url:
        assert asyncio.run(answer(url, run_id)) == ["hello Ada"]
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream)]


async def mcp_pause(url: str, tool: str) -> mt.InputRequiredResult:
    async with mcp(url, "ide", "auto") as ide:
        paused = await ide.session.call_tool(tool, {"text": "ask"}, allow_input_required=True)
    assert isinstance(paused, mt.InputRequiredResult)
    return paused


async def mcp_carry_on(url: str, who: str, tool: str, paused: mt.InputRequiredResult) -> Any:
    """The retry's content as text, or the error code it was refused with."""
    answer = {"input": mt.ElicitResult(action="accept", content={"text": "Ada"})}
    async with mcp(url, who, "auto") as client:
        try:
            result = await client.call_tool(
                tool, {"text": "ask"}, request_state=paused.request_state, input_responses=answer
            )  # type: ignore[arg-type]
        except MCPError as exc:
            return exc.error.code
    return [c.text for c in result.content]  # type: ignore[union-attr]


@pytest.mark.parametrize("agent", STORED)
def test_a_paused_mcp_call_is_carried_on_after_a_restart(
    agents: dict[str, launch.Started], reopen: Callable[[], Runtime], agent: str
) -> None:
    record = agents[agent].record
    before = len(record.entries())
    tool = f"{agent}.demo"
    with gateway_on(agents, reopen()) as url:
        paused = asyncio.run(mcp_pause(url, tool))
    with gateway_on(agents, reopen()) as url:
        assert asyncio.run(mcp_carry_on(url, "ops", tool, paused)) == jsonrpc.INVALID_PARAMS
        assert asyncio.run(mcp_carry_on(url, "ide", tool, paused)) == ["hello Ada"]
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream)]


@pytest.mark.parametrize("agent", STORED)
def test_a_paused_mcp_call_is_carried_on_by_another_replica(
    agents: dict[str, launch.Started], postgres_url: str, agent: str
) -> None:
    """Replicas share a PostgreSQL store: a 2026-07-28 call paused on one is carried on by
    another whose agent objects hold nothing, in the agent's task that asked."""
    record = agents[agent].record
    before = len(record.entries())
    tool = f"{agent}.demo"
    with (
        gateway_on(agents, Runtime(PostgresTaskStore(postgres_url))) as one,
        gateway_on(agents, Runtime(PostgresTaskStore(postgres_url))) as two,
    ):
        paused = asyncio.run(mcp_pause(one, tool))
        assert asyncio.run(mcp_carry_on(two, "ide", tool, paused)) == ["hello Ada"]
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream)]


async def test_a_follow_ups_opening_snapshot_is_passed_on_only_when_nothing_follows() -> None:
    waiting = Task("t", TaskState.INPUT_REQUIRED)
    done = Task("t", TaskState.COMPLETED)

    async def items(*these: Task) -> AsyncIterator[Task]:
        for item in these:
            yield item

    assert [i async for i in _answered(items(waiting, done))] == [done]
    assert [i async for i in _answered(items(waiting))] == [waiting]
    assert [i async for i in _answered(items(done, waiting))] == [done, waiting]
