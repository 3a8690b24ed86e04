"""A remote ACP run that waits for its caller's answer belongs to that caller: another token
can neither see, answer nor cancel it, through ACP or A2A, and only the owner's answer reaches
the agent (acp-sdk's server, started as in the third-party matrix)."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import A2AError
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessageAwaitResume, MessagePart, RunStatus
from acp_sdk.models.errors import ACPError

from agents.remote import RemoteACPAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from tests.servers import running
from tests.thirdparty import launch

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(launch.missing() is not None, reason=f"run `make test`: {launch.missing()}"),
]
TOKENS = {"ide": "ide-secret", "ops": "ops-secret"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, launch.Record]]:
    folder: pathlib.Path = tmp_path_factory.mktemp("owners")
    command, path = launch.COMMANDS["acp"]
    with (
        pytest.MonkeyPatch.context() as env,
        launch.started("acp", command, folder, path) as agent,
    ):
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_OPS", TOKENS["ops"])
        remote = RemoteACPAgent("acp", agent.url)
        asyncio.run(remote.connect())
        registry = Registry()
        registry.add(remote)
        config = Config(
            token_env="EFFMESH_T_UNSET",
            tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
            rate_per_minute=0,
        )
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url, agent.record


def acp_client(url: str, who: str) -> ACPClient:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKENS[who]}"}
    return ACPClient(base_url=f"{url}/acp", headers=headers, timeout=60)


def said(text: str) -> Message:
    return Message(parts=[MessagePart(content=text)])


async def test_another_token_cannot_see_answer_or_cancel_a_waiting_acp_run(
    gateway: tuple[str, launch.Record],
) -> None:
    url, record = gateway
    before = len(record.entries())
    async with acp_client(url, "ide") as ide, acp_client(url, "ops") as ops:
        run = await ide.run_sync([said("ask")], agent="acp.demo")
        assert run.status == RunStatus.AWAITING
        for attempt in (
            ops.run_status(run_id=run.run_id),
            ops.run_resume_sync(MessageAwaitResume(message=said("Eve")), run_id=run.run_id),
            ops.run_cancel(run_id=run.run_id),
        ):
            with pytest.raises(ACPError) as info:
                await attempt
            assert info.value.error.code == "not_found"
        done = await ide.run_resume_sync(MessageAwaitResume(message=said("Ada")), run_id=run.run_id)
    assert done.status == RunStatus.COMPLETED
    assert [p.content for m in done.output for p in m.parts] == ["hello Ada"]
    seen = [(e["event"], e["task"]) for e in record.entries()[before:]]
    upstream = seen[0][1]
    assert seen == [("start", upstream), ("resume", upstream)]


async def test_another_token_cannot_follow_up_a_waiting_a2a_task(
    gateway: tuple[str, launch.Record],
) -> None:
    url, record = gateway
    before = len(record.entries())

    async def send(who: str, text: str, task: pb.Task | None = None) -> pb.Task:
        message = pb.Message(
            message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=text)]
        )
        if task is not None:
            message.task_id, message.context_id = task.id, task.context_id
        headers = {"Authorization": f"Bearer {TOKENS[who]}"}
        async with httpx.AsyncClient(timeout=60, headers=headers) as http:
            config = ClientConfig(streaming=False, httpx_client=http)
            async with await create_client(f"{url}/a2a/acp", client_config=config) as client:
                request = pb.SendMessageRequest(message=message)
                request.metadata.update({"effmesh.skill": "demo"})
                (response,) = [r async for r in client.send_message(request)]
        return response.task

    asked = await send("ide", "ask")
    assert asked.status.state == pb.TASK_STATE_INPUT_REQUIRED
    with pytest.raises(A2AError) as info:
        await send("ops", "Eve", asked)
    assert type(info.value).__name__ == "TaskNotFoundError"
    answered = await send("ide", "Ada", asked)
    assert answered.status.state == pb.TASK_STATE_COMPLETED
    assert [p.text for a in answered.artifacts for p in a.parts] == ["hello Ada"]
    events = [e["event"] for e in record.entries()[before:]]
    assert events == ["start", "resume"]
