"""The gateway's A2A endpoints, driven by the official a2a-sdk client over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb

from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    Invocation,
    Skill,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import echo_gateway, running

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with echo_gateway() as url:
        yield url


def request(text: str, skill: str = "echo") -> pb.SendMessageRequest:
    req = pb.SendMessageRequest(
        message=pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text=text)])
    )
    req.metadata.update({"effmesh.skill": skill})
    return req


BINDINGS = ["JSONRPC", "HTTP+JSON"]


def config(binding: str, streaming: bool) -> ClientConfig:
    return ClientConfig(streaming=streaming, supported_protocol_bindings=[binding])


async def test_each_agent_has_a_card_that_points_at_the_gateway(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{base_url}/a2a/echo/.well-known/agent-card.json")
    card = r.json()
    assert card["name"] == "echo"
    assert {s["id"] for s in card["skills"]} == {"echo", "wait", "ask"}
    assert card["supportedInterfaces"][0]["url"] == f"{base_url}/a2a/echo"


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_message_returns_the_agents_answer(base_url: str, streaming: bool) -> None:
    card_url = f"{base_url}/a2a/echo"
    client = await create_client(card_url, client_config=config("JSONRPC", streaming))
    async with client:
        responses = [r async for r in client.send_message(request("hi there"))]
    final = responses[-1]
    task = final.task if final.HasField("task") else None
    states = [r.status_update.status.state for r in responses if r.HasField("status_update")]
    if task is not None:
        assert task.status.state == pb.TASK_STATE_COMPLETED
        assert task.artifacts[0].parts[0].text == "hi there"
    else:
        assert states[-1] == pb.TASK_STATE_COMPLETED
    if streaming:
        assert pb.TASK_STATE_WORKING in states


async def test_an_unknown_skill_fails_the_task_with_a_reason(base_url: str) -> None:
    client = await create_client(f"{base_url}/a2a/echo", client_config=config("JSONRPC", False))
    async with client:
        responses = [r async for r in client.send_message(request("x", skill="nope"))]
    task = responses[-1].task
    assert task.status.state == pb.TASK_STATE_FAILED
    assert "nope" in task.status.message.parts[0].text


async def test_bad_json_rpc_gets_an_a2a_error(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{base_url}/a2a/echo", content=b"{broken")
        assert r.json()["error"]["code"] == -32700
        r = await http.post(
            f"{base_url}/a2a/echo", json={"jsonrpc": "2.0", "id": 1, "method": "Frobnicate"}
        )
        assert r.json()["error"]["code"] == -32601


async def test_the_rest_binding_answers_too(base_url: str) -> None:
    client = await create_client(f"{base_url}/a2a/echo", client_config=config("HTTP+JSON", False))
    async with client:
        responses = [r async for r in client.send_message(request("over rest"))]
    final = responses[-1]
    assert final.task.status.state == pb.TASK_STATE_COMPLETED


async def test_a_waiting_task_can_be_cancelled(base_url: str) -> None:
    client = await create_client(f"{base_url}/a2a/echo", client_config=config("JSONRPC", False))
    req = request("x", skill="wait")
    req.configuration.return_immediately = True
    async with client:
        responses = [r async for r in client.send_message(req)]
        task_id = responses[-1].task.id
        cancelled = await client.cancel_task(pb.CancelTaskRequest(id=task_id))
        assert cancelled.status.state == pb.TASK_STATE_CANCELED
        again = await client.get_task(pb.GetTaskRequest(id=task_id))
        assert again.status.state == pb.TASK_STATE_CANCELED


async def test_the_gateway_is_an_a2a_agent_with_every_skill(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        card = (await http.get(f"{base_url}/.well-known/agent-card.json")).json()
    assert {s["id"] for s in card["skills"]} == {"echo.echo", "echo.wait", "echo.ask"}
    assert card["supportedInterfaces"][0]["url"] == f"{base_url}/a2a"
    client = await create_client(base_url, client_config=config("JSONRPC", False))
    async with client:
        responses = [
            r async for r in client.send_message(request("via the gateway", skill="echo.echo"))
        ]
    task = responses[-1].task
    assert task.status.state == pb.TASK_STATE_COMPLETED
    assert task.artifacts[0].parts[0].text == "via the gateway"


def test_agent_names_that_would_shadow_gateway_paths_are_refused() -> None:
    from adapters.errors import InvalidParams

    with pytest.raises(InvalidParams):
        Registry().add(EchoAgent("rest"))


async def test_a_follow_up_message_answers_a_task_waiting_for_input(base_url: str) -> None:
    client = await create_client(f"{base_url}/a2a/echo", client_config=config("JSONRPC", False))
    async with client:
        first = [r async for r in client.send_message(request("start", skill="ask"))]
        task = first[-1].task
        assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED
        assert task.status.message.parts[0].text == "What should I echo?"
        follow = request("the answer", skill="ask")
        follow.message.message_id = "m-2"
        follow.message.task_id = task.id
        follow.message.context_id = task.context_id
        second = [r async for r in client.send_message(follow)]
    done = second[-1].task
    assert done.status.state == pb.TASK_STATE_COMPLETED
    assert done.artifacts[-1].parts[0].text == "the answer"


@pytest.mark.parametrize("streaming", [False, True])
async def test_every_status_of_the_gateways_own_tasks_has_a_timestamp(
    base_url: str, streaming: bool
) -> None:
    client = await create_client(f"{base_url}/a2a/echo", client_config=config("JSONRPC", streaming))
    async with client:
        responses = [r async for r in client.send_message(request("hi"))]
        got = await client.get_task(pb.GetTaskRequest(id=responses[0].task.id))
    statuses = [r.task.status for r in responses if r.HasField("task")]
    statuses += [r.status_update.status for r in responses if r.HasField("status_update")]
    assert statuses
    assert all(s.HasField("timestamp") for s in statuses)
    assert got.status.timestamp == statuses[-1].timestamp


class Drafter(Agent):
    """Streams a draft in chunks, then settles with the finished answer under another id
    (as the specialists do): a caller that waits gets the settled answer once."""

    @property
    def descriptor(self) -> AgentDescriptor:
        return AgentDescriptor("drafter", (Skill("draft"),))

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        for i, text in enumerate(["dra", "ft"]):
            chunk = Artifact("draft-1", (TextPart(text),), "answer")
            yield ArtifactEvent(task_id, chunk, append=i > 0)
        answer = Artifact("answer", (TextPart("final"),), "answer")
        yield Task(task_id, TaskState.COMPLETED, artifacts=(answer,))


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_caller_that_waits_gets_the_settled_answer_once(streaming: bool) -> None:
    registry = Registry()
    registry.add(Drafter())
    with running(lambda base: create_app(registry, base_url=base)) as url:
        config = ClientConfig(streaming=streaming, supported_protocol_bindings=["JSONRPC"])
        async with await create_client(f"{url}/a2a/drafter", client_config=config) as client:
            responses = [r async for r in client.send_message(request("go", "draft"))]
            task = await client.get_task(pb.GetTaskRequest(id=responses[0].task.id))
    if streaming:  # the draft is streamed as it comes, then the answer
        chunks = [r.artifact_update for r in responses if r.HasField("artifact_update")]
        assert [(c.artifact.artifact_id, c.append) for c in chunks] == [
            ("draft-1", False),
            ("draft-1", True),
            ("answer", False),
        ]
    else:
        assert [a.artifact_id for a in responses[-1].task.artifacts] == ["answer"]
        assert [a.artifact_id for a in task.artifacts] == ["answer"]
