"""A2A through one and two gateways answers as the A2A agent does directly: the official
a2a-sdk client, against the TCK's agent (a2a-sdk's own server) and against gateways in front of
it, sees the same responses and events, ids and timestamps aside: Message replies, task states
(working included), chunked artifacts, and multi-turn follow-ups that reach the agent's task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format

from tests.tck.servers import behind_gateways

pytestmark = pytest.mark.anyio
IDS = frozenset({"id", "taskId", "contextId", "messageId", "artifactId"})
BINDINGS = ["JSONRPC", "HTTP+JSON"]


@pytest.fixture(scope="module", params=[1, 2], ids=["one-hop", "two-hops"])
def urls(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(the agent's URL, the front gateway's URL for it)."""
    with behind_gateways(request.param) as pair:
        yield pair


def shape(value: Any) -> Any:
    """``value`` with its ids left out and each timestamp as ``<time>``: what must match."""
    if isinstance(value, dict):
        return {
            k: "<time>" if k == "timestamp" else shape(v) for k, v in value.items() if k not in IDS
        }
    if isinstance(value, list):
        return [shape(v) for v in value]
    return value


def message(message_id: str, text: str = "hello", **ids: str) -> pb.SendMessageRequest:
    return pb.SendMessageRequest(
        message=pb.Message(
            message_id=message_id, role=pb.ROLE_USER, parts=[pb.Part(text=text)], **ids
        )
    )


async def exchange(
    url: str, req: pb.SendMessageRequest, *, streaming: bool, binding: str = "JSONRPC"
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=60) as http:
        config = ClientConfig(
            streaming=streaming, httpx_client=http, supported_protocol_bindings=[binding]
        )
        async with await create_client(url, client_config=config) as client:
            return [json_format.MessageToDict(r) async for r in client.send_message(req)]


Exchange = Callable[..., Awaitable[list[dict[str, Any]]]]
"""Sends one message to an A2A URL and gives every response as JSON (``exchange``)."""


async def two_turns(send: Exchange, front: str, *, streaming: bool, binding: str) -> str:
    """The kit's agent asks (``multi-turn-1``), the answer goes under the task's ids and the
    agent completes with it: the id of the task, checked at each step."""
    first = await send(front, message("multi-turn-1"), streaming=streaming, binding=binding)
    task = first[0]["task"]
    states = [task["status"]["state"]] + [
        r["statusUpdate"]["status"]["state"] for r in first if "statusUpdate" in r
    ]
    assert states[-1] == "TASK_STATE_INPUT_REQUIRED"
    ids = {"task_id": task["id"], "context_id": task["contextId"]}
    answer = message("multi-turn-2", "blue", **ids)
    second = await send(front, answer, streaming=streaming, binding=binding)
    last = second[-1]
    status = last["task"]["status"] if "task" in last else last["statusUpdate"]["status"]
    assert status["state"] == "TASK_STATE_COMPLETED"
    assert status["message"]["parts"][0]["text"] == "you said: blue"
    assert status["message"]["taskId"] == task["id"]
    found: str = task["id"]
    return found


CASES = [
    "tck-message-response",
    "tck-complete-task",
    "tck-artifact-data",
    "tck-artifact-file",
    "tck-stream-001",
    "tck-stream-artifact-chunked",
    "slow-chunks",
    "tck-input-required",
]


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("prefix", CASES)
async def test_the_gateway_answers_as_the_agent_does(
    urls: tuple[str, str], prefix: str, streaming: bool, binding: str
) -> None:
    direct, front = urls
    req = message(f"{prefix}-1")
    want = await exchange(direct, req, streaming=streaming, binding=binding)
    got = await exchange(front, req, streaming=streaming, binding=binding)
    assert shape(got) == shape(want)


async def test_a_message_reply_is_a_message_under_the_callers_context(
    urls: tuple[str, str],
) -> None:
    _, front = urls
    req = message("tck-message-response-c", context_id="ctx-mine")
    (reply,) = await exchange(front, req, streaming=False)
    assert reply["message"]["contextId"] == "ctx-mine"
    assert reply["message"]["role"] == "ROLE_AGENT"


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
async def test_a_follow_up_reaches_the_agents_task_that_asked(
    urls: tuple[str, str], streaming: bool, binding: str
) -> None:
    _, front = urls
    task_id = await two_turns(exchange, front, streaming=streaming, binding=binding)
    # The task the caller holds is the gateway's, with the whole exchange in its history.
    async with httpx.AsyncClient(timeout=60) as http:
        config = ClientConfig(httpx_client=http, supported_protocol_bindings=[binding])
        async with await create_client(front, client_config=config) as client:
            got = await client.get_task(pb.GetTaskRequest(id=task_id))
    assert got.status.state == pb.TASK_STATE_COMPLETED
    assert [m.message_id for m in got.history if m.role == pb.ROLE_USER] == [
        "multi-turn-1",
        "multi-turn-2",
    ]
