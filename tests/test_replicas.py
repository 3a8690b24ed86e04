"""Gateway replicas without session affinity: two ``effmesh serve`` processes sharing one
PostgreSQL store and one Milvus-lite server, behind Caddy balancing round-robin. A task
created on one replica is read, followed, answered and canceled on another, through the
official A2A, ACP and MCP clients; a memory stored through one is found through the other;
a replica killed with SIGKILL under a running task has that task failed, with a reason, by
the survivor, and what it had finished is kept."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import mcp_types as mt
import pytest
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as AcpClient
from acp_sdk.models import Message as AcpMessage
from acp_sdk.models import MessageAwaitResume, MessagePart, RunStatus
from google.protobuf import json_format
from mcp import Client as McpClient
from mcp.shared.exceptions import MCPError

from adapters import jsonrpc
from gateway.mcp.ws import websocket_client
from gateway.runtime.store import LOST_REASON
from tests import pg
from tests.replicas import REPLICA_HEADER, Balancer, MilvusServer, Replica

pytestmark = pytest.mark.anyio
JSON = {"Content-Type": "application/json"}
WAIT_RUN = {"agent_name": "echo.wait", "input": [{"role": "user", "parts": [{"content": "x"}]}]}


@dataclass
class Mesh:
    replicas: list[Replica]
    balancer: Balancer

    def other(self, hostport: str) -> Replica:
        """A replica that is not the one at ``hostport``."""
        return next(r for r in self.replicas if r.hostport != hostport and r.alive())


@pytest.fixture(scope="module")
def mesh(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("replicas")
    with pg.database(postgres_server) as url:
        balancer = Balancer(folder)
        milvus = MilvusServer(folder)
        replicas = [Replica(folder, f"r{n}", url, balancer.base, milvus.uri) for n in range(2)]
        try:
            milvus.start()
            for replica in replicas:
                replica.start()
            for replica in replicas:
                replica.wait_up()
            balancer.upstreams = [r.hostport for r in replicas]
            balancer.start()
            yield Mesh(replicas, balancer)
        finally:
            balancer.stop()
            for replica in replicas:
                replica.stop()
            milvus.stop()


def landed_on(seen: list[str]) -> dict[str, list[Any]]:
    """httpx event hooks that note which replica answered each call through the balancer."""

    async def note(response: httpx.Response) -> None:
        seen.append(response.headers.get(REPLICA_HEADER, ""))

    return {"response": [note]}


def hello(text: str) -> AcpMessage:
    return AcpMessage(parts=[MessagePart(content=text)])


async def test_an_acp_run_is_read_resumed_and_canceled_on_any_replica(mesh: Mesh) -> None:
    seen: list[str] = []
    hooks = landed_on(seen)
    async with AcpClient(
        base_url=f"{mesh.balancer.base}/acp", headers=JSON, event_hooks=hooks
    ) as acp:
        asked = await acp.run_sync(hello("start"), agent="echo.ask")
        assert asked.status == RunStatus.AWAITING
        elsewhere = f"{mesh.other(seen[-1]).base}/acp"
        read = await acp.run_status(run_id=asked.run_id, base_url=elsewhere)
        assert read.status == RunStatus.AWAITING
        answer = MessageAwaitResume(message=AcpMessage(parts=[MessagePart(content="this")]))
        resumed = await acp.run_resume_sync(answer, run_id=asked.run_id, base_url=elsewhere)
        assert resumed.status == RunStatus.COMPLETED
        assert [p.content for p in resumed.output[0].parts] == ["this"]
        # Every replica now reads it completed, with the events of both rounds.
        for replica in mesh.replicas:
            done = await acp.run_status(run_id=asked.run_id, base_url=f"{replica.base}/acp")
            assert done.status == RunStatus.COMPLETED
        events = [e.type async for e in acp.run_events(run_id=asked.run_id)]
        assert events[-1] == "run.completed"
        assert "run.awaiting" in events

        waiting = await acp.run_async(hello("x"), agent="echo.wait")
        runner = seen[-1]
        elsewhere = f"{mesh.other(runner).base}/acp"
        canceled = await acp.run_cancel(run_id=waiting.run_id, base_url=elsewhere)
        assert canceled.status == RunStatus.CANCELLED
        # The replica that ran it stopped the work and says so too.
        there = await acp.run_status(run_id=waiting.run_id, base_url=f"http://{runner}/acp")
        assert there.status == RunStatus.CANCELLED
    assert len(set(seen) - {""}) >= 2, seen


async def a2a_at(replica: Replica, *, streaming: bool = False) -> Any:
    """The official A2A client of the gateway's echo agent, talking to ``replica`` only: the
    card (which points at the balancer) with its interface moved to that replica."""
    async with httpx.AsyncClient() as http:
        wire = (await http.get(f"{replica.base}/a2a/echo/.well-known/agent-card.json")).json()
    card = json_format.ParseDict(wire, pb.AgentCard(), ignore_unknown_fields=True)
    for interface in card.supported_interfaces:
        interface.url = interface.url.replace(
            card.supported_interfaces[0].url.split("/a2a")[0], replica.base
        )
    config = ClientConfig(streaming=streaming, supported_protocol_bindings=["JSONRPC"])
    return await create_client(card, client_config=config)


def a2a_send(text: str, skill: str, *, task: pb.Task | None = None) -> pb.SendMessageRequest:
    message = pb.Message(
        message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=text)]
    )
    if task is not None:
        message.task_id = task.id
        message.context_id = task.context_id
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": skill})
    request.configuration.return_immediately = skill == "wait"
    return request


async def test_an_a2a_task_is_followed_answered_and_canceled_on_other_replicas(
    mesh: Mesh,
) -> None:
    one, two = mesh.replicas
    async with await a2a_at(one) as first:
        asked = [r async for r in first.send_message(a2a_send("start", "ask"))][-1].task
    assert asked.status.state == pb.TASK_STATE_INPUT_REQUIRED
    followed: list[Any] = []
    async with await a2a_at(two, streaming=True) as follower:

        async def follow() -> None:
            async for response in follower.subscribe(pb.SubscribeToTaskRequest(id=asked.id)):
                followed.append(response)

        following = asyncio.get_running_loop().create_task(follow())
        # The follower has the stored snapshot first; the answer then runs on the first.
        async with asyncio.timeout(30):
            while not followed:
                await asyncio.sleep(0.02)
        async with await a2a_at(one) as first:
            answer = a2a_send("the answer", "ask", task=asked)
            done = [r async for r in first.send_message(answer)][-1].task
        assert done.status.state == pb.TASK_STATE_COMPLETED
        await asyncio.wait_for(following, 30)
    states = [r.status_update.status.state for r in followed if r.HasField("status_update")]
    assert followed[0].task.status.state == pb.TASK_STATE_INPUT_REQUIRED
    assert states[-1] == pb.TASK_STATE_COMPLETED  # live, from the replica that ran it
    artifacts = [r.artifact_update.artifact for r in followed if r.HasField("artifact_update")]
    assert [a.parts[0].text for a in artifacts] == ["the answer"]

    async with await a2a_at(one) as first:
        running = [r async for r in first.send_message(a2a_send("x", "wait"))][-1].task
        async with asyncio.timeout(30):
            while (await first.get_task(pb.GetTaskRequest(id=running.id))).status.state != (
                pb.TASK_STATE_WORKING
            ):
                await asyncio.sleep(0.02)
        async with await a2a_at(two) as second:
            # Live, not the snapshot stored when it started (submitted).
            got = await second.get_task(pb.GetTaskRequest(id=running.id))
            assert got.status.state == pb.TASK_STATE_WORKING
            assert got.status.message.parts[0].text == "working"
            listed = await second.list_tasks(pb.ListTasksRequest())
            assert running.id in {t.id for t in listed.tasks}
            canceled = await second.cancel_task(pb.CancelTaskRequest(id=running.id))
        assert canceled.status.state == pb.TASK_STATE_CANCELED
        # The replica that ran it was told, stopped the call, and reads it canceled too.
        for _ in range(100):
            there = await first.get_task(pb.GetTaskRequest(id=running.id))
            if there.status.state == pb.TASK_STATE_CANCELED:
                break
            await asyncio.sleep(0.05)
        assert there.status.state == pb.TASK_STATE_CANCELED


async def frames_until(ws: Any, rid: int, done: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """The results a WebSocket sends for request ``rid`` until ``done`` says one is the last."""
    out = []
    async with asyncio.timeout(30):
        while True:
            frame = json.loads(await ws.recv())
            assert frame.get("id") == rid, frame
            out.append(frame["result"])
            if done(frame["result"]):
                return out


def a2a_ws(base: str) -> Any:
    return websockets.connect(base.replace("http", "ws") + "/a2a/ws", subprotocols=["a2a"])


def frame(rid: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})


def ended(result: dict[str, Any]) -> bool:
    task = result.get("task")
    return task is not None and task["status"]["state"] == "TASK_STATE_CANCELED"


async def test_a_websocket_task_is_followed_live_and_canceled_from_another_replica(
    mesh: Mesh,
) -> None:
    """``/a2a/ws`` runs tasks in the runtime's task manager: a subscriber on another replica
    follows the task's events through the channel, and a cancel through the balancer (a
    WebSocket upgrade through Caddy) stops it where it runs."""
    one, two = mesh.replicas
    start = {
        "message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "x"}]},
        "metadata": {"effmesh.skill": "echo.wait"},
    }
    ws_url = "/a2a/ws"
    async with websockets.connect(
        one.base.replace("http", "ws") + ws_url, subprotocols=["a2a"]
    ) as runner:
        await runner.send(frame(1, "SendStreamingMessage", start))
        first = await frames_until(runner, 1, lambda r: "statusUpdate" in r)
        task_id = first[0]["task"]["id"]
        subscribe = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "SubscribeToTask",
            "params": {"id": task_id},
        }
        async with websockets.connect(
            two.base.replace("http", "ws") + ws_url, subprotocols=["a2a"]
        ) as follower:
            await follower.send(json.dumps(subscribe))
            balanced = mesh.balancer.base.replace("http", "ws") + ws_url
            async with websockets.connect(balanced, subprotocols=["a2a"]) as canceller:
                cancel = {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "CancelTask",
                    "params": {"id": task_id},
                }
                await canceller.send(json.dumps(cancel))
                reply = json.loads(await canceller.recv())
                assert reply["result"]["status"]["state"] == "TASK_STATE_CANCELED", reply
            followed = await frames_until(follower, 2, ended)
        ran = await frames_until(runner, 1, ended)
    # The follower replayed the working status it had missed, then heard the end live.
    assert followed[0]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    assert ended(followed[-1])
    assert ended(ran[-1])  # the replica running it stopped the call


async def test_a2a_calls_through_the_balancer_land_on_several_replicas(mesh: Mesh) -> None:
    seen: list[str] = []
    http = httpx.AsyncClient(event_hooks=landed_on(seen), timeout=30)
    config = ClientConfig(
        streaming=True, supported_protocol_bindings=["JSONRPC"], httpx_client=http
    )
    async with (
        http,
        await create_client(f"{mesh.balancer.base}/a2a/echo", client_config=config) as client,
    ):
        asked = [r async for r in client.send_message(a2a_send("start", "ask"))][-1]
        task = asked.task if asked.HasField("task") else None
        if task is None or task.status.state != pb.TASK_STATE_INPUT_REQUIRED:
            task = await client.get_task(pb.GetTaskRequest(id=asked.status_update.task_id))
        for _ in range(3):
            got = await client.get_task(pb.GetTaskRequest(id=task.id))
            assert got.status.state == pb.TASK_STATE_INPUT_REQUIRED
        answered = [r async for r in client.send_message(a2a_send("done", "ask", task=task))]
    last = answered[-1]
    state = last.task.status.state if last.HasField("task") else last.status_update.status.state
    assert state == pb.TASK_STATE_COMPLETED
    assert len(set(seen) - {""}) >= 2, seen


async def test_a_2026_mcp_call_paused_on_one_replica_is_answered_on_another(mesh: Mesh) -> None:
    one, two = mesh.replicas
    async with McpClient(f"{one.base}/mcp") as first:
        paused = await first.session.call_tool(
            "echo.ask", {"text": "start"}, allow_input_required=True
        )
    assert isinstance(paused, mt.InputRequiredResult)
    state = paused.request_state
    assert state
    answer = {"input": mt.ElicitResult(action="accept", content={"text": "the answer"})}
    async with McpClient(f"{two.base}/mcp") as second:
        result = await second.call_tool(
            "echo.ask", {"text": "start"}, request_state=state, input_responses=answer
        )  # type: ignore[arg-type]
        assert [c.text for c in result.content] == ["the answer"]  # type: ignore[union-attr]
        # Spent: the same token is refused on any replica.
        with pytest.raises(MCPError) as info:
            await second.call_tool(
                "echo.ask", {"text": "start"}, request_state=state, input_responses=answer
            )  # type: ignore[arg-type]
    assert info.value.error.code == jsonrpc.INVALID_PARAMS


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_mcp_clients_of_both_eras_work_through_the_balancer(
    mesh: Mesh, transport: str
) -> None:
    """2026-07-28 over Streamable HTTP: each request may land on any replica, the retry with
    the answer too. Older revisions keep a session: over the WebSocket endpoint the session
    is the connection, held by one replica for its life, so the balancer needs no affinity."""
    asked: list[str] = []

    async def answer(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"text": "the answer"})

    base = mesh.balancer.base
    target: Any = f"{base}/mcp"
    mode = "auto"
    if transport == "websocket":
        target, mode = websocket_client(base.replace("http://", "ws://") + "/mcp/ws"), "legacy"
    async with McpClient(target, mode=mode, elicitation_callback=answer) as client:  # type: ignore[call-overload]
        tools = await client.list_tools()
        assert "echo.ask" in {t.name for t in tools.tools}
        for _ in range(2):
            result = await client.call_tool("echo.ask", {"text": "start"})
            assert [c.text for c in result.content] == ["the answer"]  # type: ignore[union-attr]
    assert asked == ["What should I echo?"] * 2


def test_a_memory_stored_through_one_replica_is_found_through_another(mesh: Mesh) -> None:
    """One Milvus server (``milvus-lite server``) behind every replica's memory agent."""
    one, two = mesh.replicas
    fact = "The staging database moved to db-2.internal on Monday."
    stored = acp_run(one.base, {"agent_name": "memory.store", "mode": "sync", **said(fact)})
    assert stored["status"] == "completed", stored
    question = said("where is the staging database now?")
    found = acp_run(two.base, {"agent_name": "memory.search", "mode": "sync", **question})
    assert found["status"] == "completed", found
    texts = [p.get("content", "") for m in found["output"] for p in m["parts"]]
    assert any("db-2.internal" in t for t in texts), texts


def said(text: str) -> dict[str, Any]:
    return {"input": [{"role": "user", "parts": [{"content": text}]}]}


def test_a_killed_replicas_running_task_is_failed_by_the_survivors(mesh: Mesh) -> None:
    """Last in this file: it kills a replica."""
    doomed = mesh.replicas[1]
    finished = acp_run(doomed.base, {**WAIT_RUN, "agent_name": "echo.echo", "mode": "sync"})
    running = acp_run(doomed.base, {**WAIT_RUN, "mode": "async"})
    survivor = mesh.other(doomed.hostport)
    there = f"{doomed.base}/acp/runs/{running['run_id']}"
    deadline = time.monotonic() + 30
    while httpx.get(there, timeout=30).json()["status"] != "in-progress":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    before = httpx.get(f"{survivor.base}/acp/runs/{running['run_id']}", timeout=30).json()
    assert before["status"] == "in-progress"  # running there, seen here as it is now
    doomed.kill()
    balancer = f"{mesh.balancer.base}/acp/runs"
    deadline = time.monotonic() + 30
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{balancer}/{running['run_id']}", timeout=30).json()
        if status["status"] not in ("created", "in-progress"):
            break
        time.sleep(0.2)
    assert status["status"] == "failed"
    assert status["error"]["message"] == LOST_REASON
    kept = httpx.get(f"{balancer}/{finished['run_id']}", timeout=30).json()
    assert kept["status"] == "completed"
    assert kept["output"][0]["parts"][0]["content"] == "x"


def acp_run(base: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start an ACP run with plain HTTP."""
    reply = httpx.post(f"{base}/acp/runs", json=body, timeout=30)
    assert reply.status_code in (200, 202), reply.text
    run: dict[str, Any] = reply.json()
    return run
