"""A2A task reads over HTTP from the gateway's own store, with the official a2a-sdk client:
``GetTask`` and ``ListTasks`` (filters, pages, history and artifacts), each endpoint apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError

from tests.servers import echo_gateway

pytestmark = pytest.mark.anyio
BINDINGS = ["JSONRPC", "HTTP+JSON"]


@pytest.fixture
def base_url() -> Iterator[str]:
    with echo_gateway() as url:
        yield url


def send(text: str, skill: str, context: str = "") -> pb.SendMessageRequest:
    req = pb.SendMessageRequest(
        message=pb.Message(
            message_id=f"m-{text}",
            context_id=context,
            role=pb.ROLE_USER,
            parts=[pb.Part(text=text)],
        )
    )
    req.metadata.update({"effmesh.skill": skill})
    return req


def config(binding: str) -> ClientConfig:
    return ClientConfig(streaming=False, supported_protocol_bindings=[binding])


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_listing_pages_through_tasks_newest_first(base_url: str, binding: str) -> None:
    async with await create_client(f"{base_url}/a2a/echo", client_config=config(binding)) as c:
        sent = []
        for n in range(5):
            responses = [r async for r in c.send_message(send(f"t{n}", "echo", "ctx-a"))]
            sent.append(responses[-1].task.id)
        [_ async for _ in c.send_message(send("elsewhere", "echo", "ctx-b"))]
        pages: list[list[str]] = []
        token = ""
        while True:
            page = await c.list_tasks(
                pb.ListTasksRequest(context_id="ctx-a", page_size=2, page_token=token)
            )
            assert (page.total_size, page.page_size) == (5, 2)
            pages.append([t.id for t in page.tasks])
            token = page.next_page_token
            if not token:
                break
        assert pages == [sent[4:2:-1], sent[2:0:-1], sent[:1]]
        everything = await c.list_tasks(pb.ListTasksRequest())
        assert everything.total_size == 6


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_listing_trims_history_and_artifacts_as_asked(base_url: str, binding: str) -> None:
    async with await create_client(f"{base_url}/a2a/echo", client_config=config(binding)) as c:
        [_ async for _ in c.send_message(send("hello", "echo"))]
        plain = (await c.list_tasks(pb.ListTasksRequest())).tasks[0]
        full = (
            await c.list_tasks(pb.ListTasksRequest(include_artifacts=True, history_length=1))
        ).tasks[0]
        bare = (await c.list_tasks(pb.ListTasksRequest(history_length=0))).tasks[0]
        done = await c.list_tasks(pb.ListTasksRequest(status=pb.TASK_STATE_COMPLETED))
        none = await c.list_tasks(pb.ListTasksRequest(status=pb.TASK_STATE_WORKING))
    assert (len(plain.artifacts), len(full.artifacts)) == (0, 1)
    assert full.artifacts[0].parts[0].text == "hello"
    assert len(plain.history) > 1
    assert len(full.history) == 1
    assert len(bare.history) == 0
    assert (done.total_size, none.total_size) == (1, 0)


@pytest.mark.parametrize("binding", BINDINGS)
async def test_each_endpoint_reads_and_lists_only_its_own_tasks(
    base_url: str, binding: str
) -> None:
    async with (
        await create_client(f"{base_url}/a2a/echo", client_config=config(binding)) as agent,
        await create_client(base_url, client_config=config(binding)) as gateway,
    ):
        mine = [r async for r in agent.send_message(send("agent's", "echo"))][-1].task
        ours = [r async for r in gateway.send_message(send("gateway's", "echo.echo"))][-1].task
        assert [t.id for t in (await agent.list_tasks(pb.ListTasksRequest())).tasks] == [mine.id]
        assert [t.id for t in (await gateway.list_tasks(pb.ListTasksRequest())).tasks] == [ours.id]
        assert (await agent.get_task(pb.GetTaskRequest(id=mine.id))).id == mine.id
        with pytest.raises(TaskNotFoundError):
            await gateway.get_task(pb.GetTaskRequest(id=mine.id))
        with pytest.raises(TaskNotFoundError):
            await agent.get_task(pb.GetTaskRequest(id=ours.id))


async def test_a_page_token_the_gateway_did_not_write_is_refused(base_url: str) -> None:
    async with await create_client(f"{base_url}/a2a/echo", client_config=config("JSONRPC")) as c:
        with pytest.raises(InvalidParamsError):
            await c.list_tasks(pb.ListTasksRequest(page_token="not-a-token"))


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_running_task_is_read_and_listed_in_its_latest_state(
    base_url: str, binding: str
) -> None:
    streaming = ClientConfig(streaming=True, supported_protocol_bindings=[binding])
    async with (
        await create_client(f"{base_url}/a2a/echo", client_config=streaming) as stream,
        await create_client(f"{base_url}/a2a/echo", client_config=config(binding)) as c,
    ):
        async for response in stream.send_message(send("x", "wait")):
            if response.status_update.status.state == pb.TASK_STATE_WORKING:
                task_id = response.status_update.task_id
                break
        got = await c.get_task(pb.GetTaskRequest(id=task_id))
        working = await c.list_tasks(pb.ListTasksRequest(status=pb.TASK_STATE_WORKING))
        assert got.status.state == pb.TASK_STATE_WORKING
        assert [t.id for t in working.tasks] == [task_id]
        cancelled = await c.cancel_task(pb.CancelTaskRequest(id=task_id))
        assert cancelled.status.state == pb.TASK_STATE_CANCELED
        listed = await c.list_tasks(pb.ListTasksRequest(status=pb.TASK_STATE_CANCELED))
        assert [t.id for t in listed.tasks] == [task_id]
