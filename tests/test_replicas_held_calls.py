"""An A2A or ACP caller's answer to a handshake-era MCP server's question, sent to the replica
that does not hold the call: two ``effmesh serve`` processes sharing one PostgreSQL store,
behind Caddy balancing round-robin with no affinity, the official A2A and ACP clients.

The server (the SDK's conformance fixture, spoken to in the handshake era) asks on the event
stream of the call, which stays open on the replica that made it. The question is asked
through the balancer; the answer goes to the other replica, which hands it to the first over
the replicas' channel: the waiting upstream request gets it, and the caller gets its
protocol's answer where it asked (A2A: the task, or its events when it streams; ACP: the run
in sync, async or stream mode). Another token's answer is refused on the receiving replica
and reaches nothing; an answer for a call whose replica died is a failed task within seconds.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import A2AError
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessageAwaitResume, MessagePart, Run, RunStatus
from acp_sdk.models.errors import ACPError
from google.protobuf import json_format

from tests import pg
from tests.mcp_fixture import build_fixture
from tests.mcp_modern_fixture import ModernOnly
from tests.mcp_paused_fixture import ENV, PausingReplica, Recorded, build_asking, build_upstream
from tests.replicas import REPLICA_HEADER, Balancer, Pinned, Replica, behind
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"ide": "ide-held-secret", "ops": "ops-held-secret"}
TIMEOUT = 60
GONE_TIMEOUT = 20
"""The caller's patience when the replica holding the call is gone: the replicas' call
timeout (30 s) is longer, so only a prompt answer passes."""
QUESTION = "who are you"
ADA = {"username": "Ada", "email": "a@x"}


@dataclass
class Mesh:
    balancer: Balancer
    replicas: list[Replica]
    fx: Recorded
    asking: Recorded
    agents: str

    def other(self, hostport: str) -> Replica:
        """The replica that did not answer as ``hostport``."""
        (found,) = [r for r in self.replicas if r.hostport != hostport]
        return found


@pytest.fixture(scope="module")
def mesh(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("replicas-held")
    fx = Recorded(build_fixture().streamable_http_app())
    asking = Recorded(build_asking().streamable_http_app())
    with (
        pytest.MonkeyPatch.context() as env,
        pg.database(postgres_server) as url,
        running(lambda base: fx) as fx_url,
        running(lambda base: asking) as asking_url,
        running(lambda base: ModernOnly(build_upstream())) as modern_url,
    ):
        for who, name in ENV.items():
            env.setenv(name, TOKENS[who])
        agents = (
            f'[[agents]]\nname = "fx"\nkind = "mcp"\nurl = "{fx_url}/mcp"\nera = "handshake"\n'
            f'[[agents]]\nname = "two"\nkind = "mcp"\nurl = "{asking_url}/mcp"\n'
            'era = "handshake"\n'
            f'[[agents]]\nname = "modern"\nkind = "mcp"\nurl = "{modern_url}/mcp"\n'
        )
        balancer = Balancer(folder)
        replicas: list[Replica] = [
            PausingReplica(folder, f"h{n}", url, balancer.base, agents) for n in range(2)
        ]
        with behind(balancer, replicas):
            yield Mesh(balancer, replicas, fx, asking, agents)


class Answered:
    """Which replica answered each request through the balancer."""

    def __init__(self) -> None:
        self.by: list[str] = []

    async def seen(self, response: httpx.Response) -> None:
        self.by.append(response.headers.get(REPLICA_HEADER, ""))


def a2a_request(
    data: dict[str, Any] | str, task: pb.Task | None = None, skill: str = "test_elicitation"
) -> pb.SendMessageRequest:
    part = pb.Part()
    json_format.ParseDict({"text": data} if isinstance(data, str) else {"data": data}, part)
    message = pb.Message(message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[part])
    if task is not None:
        message.task_id, message.context_id = task.id, task.context_id
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": skill})
    return request


async def a2a_send(
    base: str,
    who: str,
    request: pb.SendMessageRequest,
    *,
    streaming: bool = False,
    answered: Answered | None = None,
    timeout: float = TIMEOUT,
    balanced: str = "",
    agent: str = "fx",
) -> list[pb.StreamResponse]:
    """The responses to ``request`` sent to the replica at ``base`` (to the balancer when
    ``base`` is ``balanced``)."""
    headers = {"authorization": f"Bearer {TOKENS[who]}"}
    hooks = {"response": [answered.seen]} if answered is not None else {}
    pinned = None if base == balanced else Pinned(base)
    async with httpx.AsyncClient(
        timeout=timeout, headers=headers, event_hooks=hooks, transport=pinned
    ) as http:
        config = ClientConfig(streaming=streaming, httpx_client=http)
        async with await create_client(f"{base}/a2a/{agent}", client_config=config) as a2a:
            return [r async for r in a2a.send_message(request)]


async def a2a_get(base: str, who: str, task_id: str) -> pb.Task:
    headers = {"authorization": f"Bearer {TOKENS[who]}"}
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=headers, transport=Pinned(base)) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(f"{base}/a2a/fx", client_config=config) as a2a:
            return await a2a.get_task(pb.GetTaskRequest(id=task_id))


async def a2a_asked(mesh: Mesh) -> tuple[pb.Task, Replica]:
    """A task waiting for the server's question, asked through the balancer; the replica
    that does not hold its call."""
    answered = Answered()
    (response,) = await a2a_send(
        mesh.balancer.base,
        "ide",
        a2a_request({"message": QUESTION}),
        answered=answered,
        balanced=mesh.balancer.base,
    )
    task = response.task
    assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED
    assert task.status.message.parts[0].text == QUESTION
    return task, mesh.other(answered.by[-1])


def said(task: pb.Task) -> str:
    return "".join(p.text for a in task.artifacts for p in a.parts)


def settled_calls(fx: Recorded) -> int:
    return sum(1 for b in fx.bodies if isinstance(b, dict) and b.get("method") == "tools/call")


@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
async def test_an_a2a_callers_answer_reaches_the_call_held_by_the_other_replica(
    mesh: Mesh, streaming: bool
) -> None:
    task, other = await a2a_asked(mesh)
    calls, answers = settled_calls(mesh.fx), len(mesh.fx.answers())
    # Another token's answer, on the replica the answer goes to: not found, and nothing moves.
    with pytest.raises(A2AError) as info:
        await a2a_send(other.base, "ops", a2a_request({"username": "Eve", "email": "e@x"}, task))
    assert type(info.value).__name__ == "TaskNotFoundError"
    assert len(mesh.fx.answers()) == answers
    events = await a2a_send(other.base, "ide", a2a_request(ADA, task), streaming=streaming)
    last = events[-1]
    if streaming:
        assert last.HasField("status_update"), last
        assert last.status_update.status.state == pb.TASK_STATE_COMPLETED
        artifacts = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
        text = "".join(p.text for a in artifacts for p in a.parts)
        done = await a2a_get(other.base, "ide", task.id)
    else:
        done = last.task
        text = said(done)
    assert done.status.state == pb.TASK_STATE_COMPLETED
    assert '"username": "Ada"' in text
    # The same upstream call took the answer: one answer more, no call sent again.
    (answer,) = mesh.fx.answers()[answers:]
    assert answer["result"] == {"action": "accept", "content": ADA}
    assert settled_calls(mesh.fx) == calls
    assert not any("Eve" in json.dumps(b) for b in mesh.fx.bodies)


@asynccontextmanager
async def acp(base: str, who: str, answered: Answered | None = None) -> AsyncIterator[ACPClient]:
    headers = {"Content-Type": "application/json", "authorization": f"Bearer {TOKENS[who]}"}
    hooks = {"response": [answered.seen]} if answered is not None else None
    async with ACPClient(
        base_url=f"{base}/acp", headers=headers, timeout=TIMEOUT, event_hooks=hooks
    ) as client:
        yield client


def json_message(data: dict[str, Any]) -> ACPMessage:
    return ACPMessage(
        parts=[MessagePart(content=json.dumps(data), content_type="application/json")]
    )


async def acp_asked(
    mesh: Mesh, agent: str = "fx.test_elicitation", arguments: dict[str, Any] | None = None
) -> tuple[Run, Replica]:
    """A run waiting for the server's question, asked through the balancer; the replica
    that does not hold its call."""
    answered = Answered()
    start = json_message({"message": QUESTION} if arguments is None else arguments)
    async with acp(mesh.balancer.base, "ide", answered) as ide:
        run = await ide.run_sync([start], agent=agent)
    assert run.status == RunStatus.AWAITING
    return run, mesh.other(answered.by[-1])


def output_of(run: Run) -> str:
    return "".join(str(p.content) for m in run.output for p in m.parts)


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
async def test_an_acp_callers_resume_reaches_the_call_held_by_the_other_replica(
    mesh: Mesh, mode: str
) -> None:
    run, other = await acp_asked(mesh)
    calls, answers = settled_calls(mesh.fx), len(mesh.fx.answers())
    async with acp(other.base, "ops") as ops:
        evil = MessageAwaitResume(message=json_message({"username": "Eve", "email": "e@x"}))
        with pytest.raises(ACPError) as info:
            await ops.run_resume_sync(evil, run_id=run.run_id)
    assert info.value.error.code == "not_found"
    assert len(mesh.fx.answers()) == answers
    resume = MessageAwaitResume(message=json_message(ADA))
    async with acp(other.base, "ide") as ide:
        if mode == "sync":
            done = await ide.run_resume_sync(resume, run_id=run.run_id)
        elif mode == "async":
            started = await ide.run_resume_async(resume, run_id=run.run_id)
            assert started.status in (RunStatus.IN_PROGRESS, RunStatus.COMPLETED)
            # The run's events, followed on this replica until it settles.
            done = await ide.run_status(run_id=run.run_id)
            for _ in range(600):
                if done.status.is_terminal:
                    break
                done = await ide.run_status(run_id=run.run_id)
        else:
            events = [e async for e in ide.run_resume_stream(resume, run_id=run.run_id)]
            assert events[-1].type == "run.completed", [e.type for e in events]
            done = events[-1].run  # type: ignore[union-attr]
    assert done.status == RunStatus.COMPLETED, done
    assert '"username": "Ada"' in output_of(done)
    (answer,) = mesh.fx.answers()[answers:]
    assert answer["result"] == {"action": "accept", "content": ADA}
    assert settled_calls(mesh.fx) == calls


async def test_an_answer_that_does_not_fill_the_form_fails_the_run_on_the_other_replica(
    mesh: Mesh,
) -> None:
    """A reply the holding replica cannot make the form's content of (two required fields,
    a word of text): a failed run in ACP's words where the caller asked, and the server's
    request is not answered with it."""
    run, other = await acp_asked(mesh)
    answers = len(mesh.fx.answers())
    reply = MessageAwaitResume(message=ACPMessage(parts=[MessagePart(content="Ada")]))
    async with acp(other.base, "ide") as ide:
        failed = await ide.run_resume_sync(reply, run_id=run.run_id)
    assert failed.status == RunStatus.FAILED, failed
    assert failed.error is not None
    assert failed.error.code == "server_error"
    assert len(mesh.fx.answers()) == answers


REPLIES = {"What name?": "Ada", "What town?": "Paris"}


async def answered_one_by_one_over_a2a(mesh: Mesh, agent: str, skill: str) -> str:
    answered = Answered()
    (response,) = await a2a_send(
        mesh.balancer.base,
        "ide",
        a2a_request({}, skill=skill),
        answered=answered,
        balanced=mesh.balancer.base,
        agent=agent,
    )
    task, other = response.task, mesh.other(answered.by[-1])
    asked = []
    while task.status.state == pb.TASK_STATE_INPUT_REQUIRED:
        question = task.status.message.parts[0].text
        asked.append(question)
        reply = a2a_request(REPLIES[question], task, skill)
        (response,) = await a2a_send(other.base, "ide", reply, agent=agent)
        task = response.task
    assert sorted(asked) == sorted(REPLIES)
    assert task.status.state == pb.TASK_STATE_COMPLETED, task
    return said(task)


async def answered_one_by_one_over_acp(mesh: Mesh, agent: str, skill: str) -> str:
    run, other = await acp_asked(mesh, f"{agent}.{skill}", {})
    asked = []
    while run.status == RunStatus.AWAITING:
        assert run.await_request is not None
        # The question's text, then its form.
        question = str(run.await_request.message.parts[0].content)
        asked.append(question)
        reply = MessageAwaitResume(
            message=ACPMessage(parts=[MessagePart(content=REPLIES[question])])
        )
        async with acp(other.base, "ide") as ide:
            run = await ide.run_resume_sync(reply, run_id=run.run_id)
    assert sorted(asked) == sorted(REPLIES)
    assert run.status == RunStatus.COMPLETED, run
    return output_of(run)


@pytest.mark.parametrize("protocol", ["a2a", "acp"])
@pytest.mark.parametrize(
    ("agent", "skill"), [("two", "both"), ("modern", "where")], ids=["handshake", "modern"]
)
async def test_two_questions_asked_at_once_are_answered_one_by_one_from_the_other_replica(
    mesh: Mesh, protocol: str, agent: str, skill: str
) -> None:
    """A server's two questions at once (a handshake-era server's two requests on the call's
    stream; a 2026-07-28 server's two in one ``input_required``, which an A2A or ACP caller
    is asked one after the other with the call held open): every answer goes to the
    replica that does not hold the call, the second too (the task, asked again there,
    still names the holder)."""
    if protocol == "a2a":
        text = await answered_one_by_one_over_a2a(mesh, agent, skill)
    else:
        text = await answered_one_by_one_over_acp(mesh, agent, skill)
    assert "Ada from Paris" in text


async def until(seen: Callable[[], bool], what: str) -> None:
    """Until ``seen()`` (what an upstream in this process was sent), within 30 s."""
    for _ in range(600):
        if seen():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the upstream was never sent {what}")


def cancels(asking: Recorded) -> int:
    return sum(
        1
        for b in asking.bodies
        if isinstance(b, dict) and b.get("method") == "notifications/cancelled"
    )


async def test_a_cancel_of_a_call_carried_on_by_the_other_replica_reaches_the_upstream(
    mesh: Mesh,
) -> None:
    """An ACP caller resumes (async) on the replica without the call, then cancels there:
    the run is cancelled, and the server hears the cancel of its call."""
    run, other = await acp_asked(mesh, "two.linger", {})
    answers, cancelled = len(mesh.asking.answers()), cancels(mesh.asking)
    reply = MessageAwaitResume(message=ACPMessage(parts=[MessagePart(content="Ada")]))
    async with acp(other.base, "ide") as ide:
        await ide.run_resume_async(reply, run_id=run.run_id)
        await until(lambda: len(mesh.asking.answers()) > answers, "the answer")
        assert cancels(mesh.asking) == cancelled
        await ide.run_cancel(run_id=run.run_id)
        await until(lambda: cancels(mesh.asking) > cancelled, "a cancel")
        assert (await ide.run_status(run_id=run.run_id)).status == RunStatus.CANCELLED


@pytest.fixture
def pair(mesh: Mesh, postgres_server: Any, tmp_path: Path) -> Iterator[list[Replica]]:
    """Two replicas of their own, for one to be killed."""
    with pg.database(postgres_server) as url:
        replicas: list[Replica] = [
            PausingReplica(tmp_path, f"d{n}", url, "http://unused", mesh.agents) for n in (0, 1)
        ]
        try:
            for replica in replicas:
                replica.start()
            for replica in replicas:
                replica.wait_up()
            yield replicas
        finally:
            for replica in replicas:
                replica.stop()


async def test_an_a2a_answer_for_a_call_whose_replica_died_fails_the_task(
    pair: list[Replica],
) -> None:
    one, two = pair
    (response,) = await a2a_send(one.base, "ide", a2a_request({"message": QUESTION}))
    task = response.task
    assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED
    one.kill()
    (response,) = await a2a_send(two.base, "ide", a2a_request(ADA, task), timeout=GONE_TIMEOUT)
    failed = response.task
    assert failed.status.state == pb.TASK_STATE_FAILED
    assert "unavailable" in failed.status.message.parts[0].text
    assert (await a2a_get(two.base, "ide", task.id)).status.state == pb.TASK_STATE_FAILED


async def test_an_acp_resume_of_a_call_whose_replica_died_fails_the_run(
    pair: list[Replica],
) -> None:
    one, two = pair
    async with acp(one.base, "ide") as ide:
        run = await ide.run_sync([json_message({"message": QUESTION})], agent="fx.test_elicitation")
    assert run.status == RunStatus.AWAITING
    one.kill()
    headers = {"Content-Type": "application/json", "authorization": f"Bearer {TOKENS['ide']}"}
    async with ACPClient(base_url=f"{two.base}/acp", headers=headers, timeout=GONE_TIMEOUT) as ide:
        failed = await ide.run_resume_sync(
            MessageAwaitResume(message=json_message(ADA)), run_id=run.run_id
        )
        assert failed.status == RunStatus.FAILED
        assert failed.error is not None
        assert failed.error.code == "server_error"
        assert "unavailable" in failed.error.message
        assert (await ide.run_status(run_id=run.run_id)).status == RunStatus.FAILED


async def test_a_call_whose_replica_dies_while_it_carries_the_answer_on_fails_the_run(
    mesh: Mesh, pair: list[Replica]
) -> None:
    """The holding replica took the answer up and the server is working on it when that
    replica is killed: the run on the other replica fails within seconds (it stops hearing
    that the call goes on), not at the call timeout."""
    one, two = pair
    async with acp(one.base, "ide") as ide:
        run = await ide.run_sync([json_message({})], agent="two.linger")
    assert run.status == RunStatus.AWAITING
    answers = len(mesh.asking.answers())
    reply = MessageAwaitResume(message=ACPMessage(parts=[MessagePart(content="Ada")]))
    async with acp(two.base, "ide") as ide:
        await ide.run_resume_async(reply, run_id=run.run_id)
        await until(lambda: len(mesh.asking.answers()) > answers, "the answer")
        one.kill()
        status = await ide.run_status(run_id=run.run_id)
        # Bounded below the replicas' call timeout (30 s): only a prompt end passes.
        for _ in range(GONE_TIMEOUT * 10):
            if status.status.is_terminal:
                break
            await asyncio.sleep(0.1)
            status = await ide.run_status(run_id=run.run_id)
    assert status.status == RunStatus.FAILED, status
    assert status.error is not None
    assert status.error.code == "server_error"
