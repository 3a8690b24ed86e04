"""A task of a remote A2A agent that waits for input, resumed from the other protocols: the
answer reaches the agent's own task (the agent behind is effmesh's echo ``ask`` skill, served
over A2A by a second gateway: it asks again unless the answer arrives in the task that asked)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from acp_sdk.client import Client
from acp_sdk.models import Message, MessageAwaitResume, MessagePart, RunStatus

from agents.echo import EchoAgent
from tests.servers import behind_remotes

pytestmark = pytest.mark.anyio
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with behind_remotes(EchoAgent()) as url:
        yield url


def said(text: str) -> list[Message]:
    return [Message(parts=[MessagePart(content=text)])]


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
async def test_an_acp_resume_reaches_the_a2a_agents_task(gateway: str, stream: bool) -> None:
    async with Client(base_url=f"{gateway}/acp", headers=JSON) as client:
        run = await client.run_sync(said("start"), agent="up_a2a.ask")
        assert run.status == RunStatus.AWAITING
        answer = MessageAwaitResume(message=Message(parts=[MessagePart(content="this")]))
        if stream:
            events = [e async for e in client.run_resume_stream(answer, run_id=run.run_id)]
            assert events[-1].type == "run.completed"
            resumed = await client.run_status(run_id=run.run_id)
        else:
            resumed = await client.run_resume_sync(answer, run_id=run.run_id)
    assert resumed.status == RunStatus.COMPLETED
    assert [p.content for p in resumed.output[0].parts] == ["this"]
