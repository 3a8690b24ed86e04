"""The gateway's ACP endpoints, driven by the official acp-sdk client over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from acp_sdk.client import Client
from acp_sdk.models import ACPError, Message, MessageAwaitResume, MessagePart, RunStatus

from tests.servers import echo_gateway

pytestmark = pytest.mark.anyio
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with echo_gateway() as url:
        yield f"{url}/acp"


def hello(text: str = "hello") -> list[Message]:
    return [Message(parts=[MessagePart(content=text)])]


async def test_every_skill_is_an_acp_agent(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        names = [a.name async for a in client.agents()]
        assert names == ["echo.echo", "echo.wait", "echo.ask"]
        assert (await client.agent(name="echo.echo")).name == "echo.echo"


async def test_a_sync_run_returns_the_agents_output(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        run = await client.run_sync(hello(), agent="echo.echo")
        assert run.status == RunStatus.COMPLETED
        assert [p.content for p in run.output[0].parts] == ["hello"]
        again = await client.run_status(run_id=run.run_id)
        assert again.status == RunStatus.COMPLETED


async def test_an_async_run_is_accepted_then_completes(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        run = await client.run_async(hello("later"), agent="echo.echo")
        assert run.status in (RunStatus.CREATED, RunStatus.IN_PROGRESS, RunStatus.COMPLETED)
        with anyio.fail_after(5):
            while (await client.run_status(run_id=run.run_id)).status != RunStatus.COMPLETED:
                await anyio.sleep(0.01)
        events = [e.type async for e in client.run_events(run_id=run.run_id)]
        assert events[-1] == "run.completed"


async def test_a_streamed_run_sends_its_events_in_order(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        types = [e.type async for e in client.run_stream(hello("s"), agent="echo.echo")]
    assert types[0] == "run.created"
    assert "run.in-progress" in types
    assert "message.part" in types
    assert types[-1] == "run.completed"


async def test_a_cancelled_run_stops_and_says_so(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        run = await client.run_async(hello(), agent="echo.wait")
        cancelled = await client.run_cancel(run_id=run.run_id)
        assert cancelled.status == RunStatus.CANCELLED
        assert (await client.run_status(run_id=run.run_id)).status == RunStatus.CANCELLED
        with pytest.raises(ACPError) as info:
            await client.run_cancel(run_id=run.run_id)
        assert info.value.error.code == "invalid_input"


async def test_an_unknown_agent_is_not_found(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        with pytest.raises(ACPError) as info:
            await client.run_sync(hello(), agent="nobody.nothing")
        assert info.value.error.code == "not_found"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"agent_name": "echo.echo", "input": []}', 400),
        (
            b'{"agent_name": "echo.echo", "input": [{"parts": [{"content": "!", '
            b'"content_encoding": "base64"}]}]}',
            400,
        ),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
    ],
)
async def test_bad_run_requests_get_an_acp_error(base_url: str, body: bytes, status: int) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{base_url}/runs", content=body)
    assert r.status_code == status
    assert r.json()["code"] == "invalid_input"


async def test_an_unknown_run_is_not_found(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        for run_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            r = await http.get(f"{base_url}/runs/{run_id}")
            assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_an_awaiting_run_resumes_with_the_answer(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        run = await client.run_sync(hello("start"), agent="echo.ask")
        assert run.status == RunStatus.AWAITING
        assert run.await_request is not None
        assert run.await_request.message.parts[0].content == "What should I echo?"
        answer = MessageAwaitResume(message=Message(parts=[MessagePart(content="this")]))
        resumed = await client.run_resume_sync(answer, run_id=run.run_id)
        assert resumed.status == RunStatus.COMPLETED
        assert [p.content for p in resumed.output[0].parts] == ["this"]
        with pytest.raises(ACPError) as info:
            await client.run_resume_sync(answer, run_id=run.run_id)
        assert info.value.error.code == "invalid_input"


async def test_a_streamed_resume_sends_the_rest_of_the_run(base_url: str) -> None:
    async with Client(base_url=base_url, headers=JSON) as client:
        run = await client.run_sync(hello("start"), agent="echo.ask")
        answer = MessageAwaitResume(message=Message(parts=[MessagePart(content="more")]))
        types = [e.type async for e in client.run_resume_stream(answer, run_id=run.run_id)]
    assert types[-1] == "run.completed"
    assert "run.in-progress" in types


async def test_a_stream_ends_once_when_the_agent_says_how_it_settled(base_url: str) -> None:
    # The agent's own input-required status and the run's final snapshot are one event.
    async with Client(base_url=base_url, headers=JSON) as client:
        events = [e async for e in client.run_stream(hello("start"), agent="echo.ask")]
        types = [e.type for e in events]
        assert types.count("run.awaiting") == 1
        assert types[-1] == "run.awaiting"
        listed = [e.type async for e in client.run_events(run_id=events[0].run.run_id)]  # type: ignore[union-attr]
    assert listed.count("run.awaiting") == 1
