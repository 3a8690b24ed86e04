"""An A2A or ACP caller's answer to a handshake-era MCP server's question after the gateway
restarted on its store: the call that waited for it was open in the process that stopped,
so the answer fails the task with that reason (in the caller's own protocol), and the
server hears nothing of it; the call is not sent again as if new."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessageAwaitResume, MessagePart, RunStatus
from google.protobuf import json_format

from agents.remote import RemoteMCPAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.runtime.sqlite import SQLiteTaskStore
from tests.mcp_fixture import build_fixture
from tests.mcp_paused_fixture import Recorded
from tests.servers import running

QUESTION = "who are you"
ADA = {"username": "Ada", "email": "a@x"}


@pytest.fixture(scope="module")
def fx() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded(build_fixture().streamable_http_app())
    with running(lambda base: recorded) as url:
        yield f"{url}/mcp", recorded


@contextmanager
def gateway(db: Path, replica: str, fx_url: str) -> Iterator[str]:
    """A gateway on the store ``db`` under the name ``replica``, with a fresh agent object."""
    registry = Registry()
    # The fixture speaks both eras but its tools ask the handshake's way.
    agent = RemoteMCPAgent("fx", fx_url, timeout=30, era="handshake")
    asyncio.run(agent.connect())
    registry.add(agent)
    runtime = Runtime(SQLiteTaskStore(db, replica=replica))
    with running(lambda base: create_app(registry, base_url=base, runtime=runtime)) as url:
        yield url


def a2a_request(data: dict[str, Any], task: pb.Task | None = None) -> pb.SendMessageRequest:
    part = pb.Part()
    json_format.ParseDict({"data": data}, part)
    message = pb.Message(message_id=f"m-{len(data)}", role=pb.ROLE_USER, parts=[part])
    if task is not None:
        message.task_id, message.context_id = task.id, task.context_id
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": "test_elicitation"})
    return request


async def a2a_send(url: str, request: pb.SendMessageRequest) -> pb.Task:
    async with httpx.AsyncClient(timeout=60) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(f"{url}/a2a/fx", client_config=config) as a2a:
            (response,) = [r async for r in a2a.send_message(request)]
    return response.task


def test_an_a2a_answer_after_a_restart_fails_the_task_with_a_reason(
    fx: tuple[str, Recorded], tmp_path: Path
) -> None:
    fx_url, recorded = fx
    db = tmp_path / "tasks.sqlite3"
    with gateway(db, "first", fx_url) as url:
        asked = asyncio.run(a2a_send(url, a2a_request({"message": QUESTION})))
    assert asked.status.state == pb.TASK_STATE_INPUT_REQUIRED
    with gateway(db, "second", fx_url) as url:
        bodies = len(recorded.bodies)  # after the new session's opening
        failed = asyncio.run(a2a_send(url, a2a_request(ADA, asked)))
    assert failed.status.state == pb.TASK_STATE_FAILED
    assert "lost" in failed.status.message.parts[0].text
    # Nothing reached the server: not the answer, and not the call sent again.
    assert recorded.bodies[bodies:] == []


def acp_message(data: dict[str, Any]) -> ACPMessage:
    return ACPMessage(
        parts=[MessagePart(content=json.dumps(data), content_type="application/json")]
    )


async def acp_run(url: str) -> Any:
    headers = {"Content-Type": "application/json"}
    async with ACPClient(base_url=f"{url}/acp", headers=headers, timeout=60) as client:
        return await client.run_sync(
            [acp_message({"message": QUESTION})], agent="fx.test_elicitation"
        )


async def acp_resume(url: str, run_id: Any) -> tuple[Any, Any]:
    headers = {"Content-Type": "application/json"}
    async with ACPClient(base_url=f"{url}/acp", headers=headers, timeout=60) as client:
        resumed = await client.run_resume_sync(
            MessageAwaitResume(message=acp_message(ADA)), run_id=run_id
        )
        return resumed, await client.run_status(run_id=run_id)


def test_an_acp_resume_after_a_restart_fails_the_run_with_a_reason(
    fx: tuple[str, Recorded], tmp_path: Path
) -> None:
    fx_url, recorded = fx
    db = tmp_path / "tasks.sqlite3"
    with gateway(db, "first", fx_url) as url:
        run = asyncio.run(acp_run(url))
    assert run.status == RunStatus.AWAITING
    with gateway(db, "second", fx_url) as url:
        bodies = len(recorded.bodies)  # after the new session's opening
        resumed, read = asyncio.run(acp_resume(url, run.run_id))
    assert resumed.status == RunStatus.FAILED
    assert resumed.error.code == "server_error"
    assert "lost" in resumed.error.message
    assert read.status == RunStatus.FAILED
    assert recorded.bodies[bodies:] == []
