"""A 2026-07-28 MCP call paused by an upstream's question, carried on by whichever replica the
caller's retry reaches: two ``effmesh serve`` processes sharing one PostgreSQL store, behind
Caddy balancing round-robin with no affinity, the official MCP client as the caller.

Upstreams, in this process, registered behind both replicas: the SDK's server with the
conformance fixtures (``fx``, spoken to in the handshake era: its question waits on the call's
event stream, open on the replica that made the call, and a retry on the other is handed
there over the replicas' channel), and the SDK's server on its 2026-07-28 handler alone
(``modern``: its questions come in its result with its own ``requestState``, kept with the
gateway's paused task, so any replica sends the retry). Two tokens: another token's retry
with a caller's ``requestState`` is refused in MCP's own words and never reaches the
upstream; a forged, spent or wrong-tool ``requestState`` is a clear error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
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
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from adapters.mcp.errors import UPSTREAM_UNAVAILABLE
from gateway.mcp.ws import websocket_client
from tests import pg
from tests.mcp_fixture import build_fixture
from tests.mcp_modern_fixture import ModernOnly
from tests.mcp_paused_fixture import ENV, PausingReplica, Recorded, build_asking, build_upstream
from tests.replicas import REPLICA_HEADER, Balancer, Pinned, Replica, behind
from tests.servers import running

pytestmark = pytest.mark.anyio
MODERN = "2026-07-28"
TOKENS = {"ide": "ide-paused-secret", "ops": "ops-paused-secret"}
QUESTION = "who are you"
TIMEOUT = 60


@dataclass
class Mesh:
    balancer: Balancer
    replicas: list[Replica]
    fx: Recorded
    modern: ModernOnly
    modern_bodies: Recorded
    agents: str
    """The replicas' ``[[agents]]``, for more replicas of the same upstreams."""


@pytest.fixture(scope="module")
def mesh(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("replicas-mcp-paused")
    fx = Recorded(build_fixture().streamable_http_app())
    modern = ModernOnly(build_upstream())
    modern_bodies = Recorded(modern)
    with (
        pytest.MonkeyPatch.context() as env,
        pg.database(postgres_server) as url,
        running(lambda base: fx) as fx_url,
        running(lambda base: modern_bodies) as modern_url,
        running(lambda base: build_asking().streamable_http_app()) as asking_url,
    ):
        for who, name in ENV.items():
            env.setenv(name, TOKENS[who])
        agents = (
            # The fixture and the asking server speak both eras but ask the handshake's way.
            f'[[agents]]\nname = "fx"\nkind = "mcp"\nurl = "{fx_url}/mcp"\nera = "handshake"\n'
            f'[[agents]]\nname = "modern"\nkind = "mcp"\nurl = "{modern_url}/mcp"\n'
            f'[[agents]]\nname = "two"\nkind = "mcp"\nurl = "{asking_url}/mcp"\n'
            'era = "handshake"\n'
        )
        balancer = Balancer(folder)
        replicas: list[Replica] = [
            PausingReplica(folder, f"r{n}", url, balancer.base, agents) for n in range(2)
        ]
        with behind(balancer, replicas):
            yield Mesh(balancer, replicas, fx, modern, modern_bodies, agents)


class Caller:
    """The official client's side: what it is asked, and which replica answered each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        """The replica that answered each ``tools/call``, in order."""

    async def seen(self, response: httpx2.Response) -> None:
        body = response.request.content
        if b'"tools/call"' in body:
            self.calls.append(response.headers.get(REPLICA_HEADER, ""))

    async def elicit(
        self, context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult:
        return mt.ElicitResult(action="accept", content={"text": "Ada"})

    async def sample(
        self, context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult:
        text = mt.TextContent(type="text", text="forty-two")
        return mt.CreateMessageResult(role="assistant", content=text, model="m")


@asynccontextmanager
async def client(base: str, who: str, caller: Caller | None = None) -> AsyncIterator[Client]:
    caller = caller or Caller()
    http = httpx2.AsyncClient(
        headers={"authorization": f"Bearer {TOKENS[who]}"},
        timeout=TIMEOUT,
        event_hooks={"response": [caller.seen]},
    )
    transport = streamable_http_client(f"{base}/mcp", http_client=http)
    async with (
        http,
        Client(  # type: ignore[call-overload]
            transport,
            mode=MODERN,
            elicitation_callback=caller.elicit,
            sampling_callback=caller.sample,
        ) as mcp,
    ):
        assert mcp.protocol_version == MODERN
        yield mcp


def text_of(result: Any) -> str:
    assert isinstance(result, mt.CallToolResult), result
    return "".join(c.text for c in result.content if isinstance(c, mt.TextContent))


FX_ANSWER = mt.ElicitResult(action="accept", content={"username": "Ada", "email": "a@x"})
ADA = mt.ElicitResult(action="accept", content={"text": "Ada"})
POEM = mt.CreateMessageResult(
    role="assistant", content=mt.TextContent(type="text", text="forty-two"), model="m"
)


async def paused(mcp: Client, tool: str, arguments: dict[str, Any]) -> mt.InputRequiredResult:
    result = await mcp.session.call_tool(tool, arguments, allow_input_required=True)
    assert isinstance(result, mt.InputRequiredResult), result
    assert result.request_state
    return result


async def retry(
    mcp: Client, tool: str, arguments: dict[str, Any], responses: dict[str, Any], state: str
) -> Any:
    return await mcp.session.call_tool(
        tool,
        arguments,
        input_responses=responses,
        request_state=state,
        allow_input_required=True,
    )


async def refused(
    mcp: Client, tool: str, arguments: dict[str, Any], responses: dict[str, Any], state: str
) -> int:
    with pytest.raises(MCPError) as info:
        await retry(mcp, tool, arguments, responses, state)
    return info.value.error.code


def answer_fx(asked: mt.InputRequiredResult) -> dict[str, Any]:
    (key,) = asked.input_requests or {}
    return {key: FX_ANSWER}


FX = ("fx.test_elicitation", {"message": QUESTION})


async def test_a_handshake_upstreams_question_is_answered_through_either_replica(
    mesh: Mesh,
) -> None:
    """The call that asked stays open on one replica; the retries land on both (round
    robin, with an extra request in between every other time), and each reaches it."""
    caller = Caller()
    async with client(mesh.balancer.base, "ide", caller) as ide:
        for extra in (0, 1, 0, 1):
            asked = await paused(ide, *FX)
            (request,) = (asked.input_requests or {}).values()
            assert isinstance(request, mt.ElicitRequest)
            assert request.params.message == QUESTION
            for _ in range(extra):
                await ide.list_tools()
            done = await retry(ide, *FX, answer_fx(asked), asked.request_state or "")
            assert '"username": "Ada"' in text_of(done)
    pairs = list(zip(caller.calls[::2], caller.calls[1::2], strict=True))
    assert any(first != second for first, second in pairs), pairs
    assert {r.hostport for r in mesh.replicas} == set(caller.calls)


async def test_a_modern_upstreams_questions_reach_the_caller_all_at_once_and_any_replica_retries(
    mesh: Mesh,
) -> None:
    """Two questions in one ``input_required``, as the upstream asked them; the retry is
    sent to the upstream with its own state by whichever replica it reaches."""
    caller = Caller()
    arguments = {"topic": "the sea"}
    async with client(mesh.balancer.base, "ide", caller) as ide:
        for extra in (0, 1):
            asked = await paused(ide, "modern.pair", arguments)
            requests = asked.input_requests or {}
            kinds = sorted(type(r).__name__ for r in requests.values())
            assert kinds == ["CreateMessageRequest", "ElicitRequest"]
            # The gateway's own state: not the upstream's.
            assert "." in (asked.request_state or "")
            responses: dict[str, Any] = {
                key: POEM if isinstance(r, mt.CreateMessageRequest) else ADA
                for key, r in requests.items()
            }
            for _ in range(extra):
                await ide.list_tools()
            done = await retry(ide, "modern.pair", arguments, responses, asked.request_state or "")
            assert text_of(done) == "Ada: forty-two"
        # The SDK's own client answers the rounds itself, each landing where it may.
        assert text_of(await ide.call_tool("modern.greet", {})) == "hello Ada"
    pairs = list(zip(caller.calls[:4:2], caller.calls[1:4:2], strict=True))
    assert any(first != second for first, second in pairs), pairs


@pytest.mark.parametrize("upstream", ["fx", "modern"])
async def test_another_tokens_retry_is_refused_and_never_reaches_the_upstream(
    mesh: Mesh, upstream: str
) -> None:
    tool, arguments = FX if upstream == "fx" else ("modern.greet", {})
    answer: dict[str, Any] = (
        {"username": "Eve", "email": "e@x"} if upstream == "fx" else {"text": "Eve"}
    )
    for there in mesh.replicas:  # the other token's retry on each replica in turn
        async with client(mesh.replicas[0].base, "ide") as ide:
            asked = await paused(ide, tool, arguments)
        (key,) = asked.input_requests or {}
        state = asked.request_state or ""
        before = (len(mesh.fx.bodies), len(mesh.modern.seen))
        async with client(there.base, "ops") as ops:
            evil = {key: mt.ElicitResult(action="accept", content=dict(answer))}
            assert await refused(ops, tool, arguments, evil, state) == mt.INVALID_PARAMS
        assert (len(mesh.fx.bodies), len(mesh.modern.seen)) == before
        assert not any("Eve" in json.dumps(b) for b in mesh.fx.bodies)
        # Its owner carries it on, from the other replica.
        async with client(mesh.replicas[1].base, "ide") as ide:
            good = FX_ANSWER if upstream == "fx" else ADA
            done = await retry(ide, tool, arguments, {key: good}, state)
        assert "Ada" in text_of(done)
        assert "Eve" not in text_of(done)


@pytest.mark.parametrize("upstream", ["fx", "modern"])
async def test_a_forged_spent_or_misdirected_request_state_is_a_clear_error(
    mesh: Mesh, upstream: str
) -> None:
    tool, arguments = FX if upstream == "fx" else ("modern.greet", {})
    one, two = (r.base for r in mesh.replicas)
    async with client(one, "ide") as ide:
        asked = await paused(ide, tool, arguments)
    (key,) = asked.input_requests or {}
    state = asked.request_state or ""
    task_id, _, secret = state.partition(".")
    good = FX_ANSWER if upstream == "fx" else ADA
    responses = {key: good}
    before = (len(mesh.fx.answers()), len(mesh.modern.seen))
    async with client(two, "ide") as ide:
        for forged in (f"{task_id}.{secret[::-1]}", f"{task_id}.", "no-such-call", "x.y"):
            assert await refused(ide, tool, arguments, responses, forged) == mt.INVALID_PARAMS
        # The right state for another tool names no call of that tool.
        other = "modern.now" if upstream == "fx" else "fx.test_simple_text"
        assert await refused(ide, other, {}, responses, state) == mt.INVALID_PARAMS
        assert (len(mesh.fx.answers()), len(mesh.modern.seen)) == before
        # Responses that do not answer what was asked: refused (modern: checked here).
        if upstream == "modern":
            wrong = {"nope": good}
            assert await refused(ide, tool, arguments, wrong, state) == mt.INVALID_PARAMS
            async with client(one, "ide") as again:
                asked = await paused(again, tool, arguments)
            (key,) = asked.input_requests or {}
            state, responses = asked.request_state or "", {key: good}
        done = await retry(ide, tool, arguments, responses, state)
        assert "Ada" in text_of(done)
        # Spent: the same state again is no call at all.
        assert await refused(ide, tool, arguments, responses, state) == mt.INVALID_PARAMS


async def test_a_handshake_upstreams_questions_asked_at_once_reach_the_caller_together(
    mesh: Mesh,
) -> None:
    """Two requests the server sends at once on the call's stream: one ``input_required``
    with both; the retry (on either replica) answers each."""
    async with client(mesh.balancer.base, "ide") as ide:
        for extra in (0, 1):
            asked = await paused(ide, "two.both", {})
            requests = asked.input_requests or {}
            said = {
                key: r.params.message
                for key, r in requests.items()
                if isinstance(r, mt.ElicitRequest)
            }
            assert sorted(said.values()) == ["What name?", "What town?"]
            replies = {"What name?": "Ada", "What town?": "Paris"}
            responses = {
                key: mt.ElicitResult(action="accept", content={"text": replies[message]})
                for key, message in said.items()
            }
            for _ in range(extra):
                await ide.list_tools()
            done = await retry(ide, "two.both", {}, responses, asked.request_state or "")
            assert text_of(done) == "Ada from Paris"


async def test_a_retry_over_websocket_reaches_the_call_held_by_the_other_replica(
    mesh: Mesh,
) -> None:
    """Paused over ``/mcp`` on one replica, retried over ``/mcp/ws`` on the other."""
    one, two = (r.base for r in mesh.replicas)
    async with client(one, "ide") as ide:
        asked = await paused(ide, *FX)
    headers = {"authorization": f"Bearer {TOKENS['ide']}"}
    transport = websocket_client(two.replace("http://", "ws://") + "/mcp/ws", headers=headers)
    async with Client(transport, mode=MODERN) as ws:  # type: ignore[call-overload]
        done = await retry(ws, *FX, answer_fx(asked), asked.request_state or "")
        assert '"username": "Ada"' in text_of(done)
        # Spent there: the same state again, over either transport, is no call.
        assert await refused(ws, *FX, answer_fx(asked), asked.request_state or "") == (
            mt.INVALID_PARAMS
        )


def a2a_message(text: str, task: pb.Task | None = None) -> pb.SendMessageRequest:
    message = pb.Message(
        message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=text)]
    )
    if task is not None:
        message.task_id, message.context_id = task.id, task.context_id
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": "greet"})
    return request


async def a2a_send(base: str, who: str, text: str, task: pb.Task | None = None) -> pb.Task:
    headers = {"authorization": f"Bearer {TOKENS[who]}"}
    # To this replica: the card names the balancer.
    pinned = Pinned(base)
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=headers, transport=pinned) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(f"{base}/a2a/modern", client_config=config) as a2a:
            (response,) = [r async for r in a2a.send_message(a2a_message(text, task))]
    return response.task


async def test_an_a2a_callers_answer_to_a_modern_upstream_reaches_it_from_the_other_replica(
    mesh: Mesh,
) -> None:
    one, two = (r.base for r in mesh.replicas)
    asked = await a2a_send(one, "ide", "")
    assert asked.status.state == pb.TASK_STATE_INPUT_REQUIRED
    assert [p.text for p in asked.status.message.parts if p.text] == ["What name?"]
    before = len(mesh.modern.seen)
    with pytest.raises(A2AError) as info:
        await a2a_send(two, "ops", "Eve", asked)
    assert type(info.value).__name__ == "TaskNotFoundError"
    assert len(mesh.modern.seen) == before
    retries = len(mesh.modern_bodies.retried())
    done = await a2a_send(two, "ide", "Ada", asked)
    assert done.status.state == pb.TASK_STATE_COMPLETED
    # The server's own retry: its state and the answer, sent from the other replica.
    (retry_params,) = mesh.modern_bodies.retried()[retries:]
    assert retry_params["requestState"]
    (response,) = retry_params["inputResponses"].values()
    assert response == {"action": "accept", "content": {"text": "Ada"}}
    # The result's text (its structured content rides beside it as a data part).
    texts = [p.text for a in done.artifacts for p in a.parts if p.text] or [
        p.text for p in done.status.message.parts if p.text
    ]
    assert texts == ["hello Ada"]


async def test_an_acp_callers_resume_of_a_modern_upstreams_question_works_on_the_other_replica(
    mesh: Mesh,
) -> None:
    one, two = (r.base for r in mesh.replicas)

    def acp(base: str, who: str) -> ACPClient:
        headers = {"Content-Type": "application/json", "authorization": f"Bearer {TOKENS[who]}"}
        return ACPClient(base_url=f"{base}/acp", headers=headers, timeout=TIMEOUT)

    def said(text: str) -> ACPMessage:
        return ACPMessage(parts=[MessagePart(content=text)])

    async with acp(one, "ide") as ide:
        run = await ide.run_sync([said("")], agent="modern.greet")
    assert run.status == RunStatus.AWAITING
    before = len(mesh.modern.seen)
    async with acp(two, "ops") as ops:
        with pytest.raises(ACPError) as info:
            await ops.run_resume_sync(MessageAwaitResume(message=said("Eve")), run_id=run.run_id)
    assert info.value.error.code == "not_found"
    assert len(mesh.modern.seen) == before
    retries = len(mesh.modern_bodies.retried())
    async with acp(two, "ide") as ide:
        run = await ide.run_resume_sync(MessageAwaitResume(message=said("Ada")), run_id=run.run_id)
    assert run.status == RunStatus.COMPLETED
    assert len(mesh.modern_bodies.retried()) == retries + 1
    # The result's text, then its structured content as JSON.
    said_back = [p.content for m in run.output for p in m.parts]
    assert said_back[0] == "hello Ada"
    assert json.loads(said_back[-1] or "") == {"result": "hello Ada"}


async def test_a_retry_for_a_call_held_by_a_replica_that_died_is_a_clear_error(
    mesh: Mesh, postgres_server: Any, tmp_path: Path
) -> None:
    """The replica holding a handshake-era server's call is killed: the retry that reaches
    the other is answered as the agent being unavailable, in MCP's words, not left hanging."""
    with pg.database(postgres_server) as url:
        pair = [
            PausingReplica(tmp_path, f"d{n}", url, "http://unused", mesh.agents) for n in (0, 1)
        ]
        try:
            for replica in pair:
                replica.start()
            for replica in pair:
                replica.wait_up()
            async with client(pair[0].base, "ide") as ide:
                asked = await paused(ide, *FX)
            pair[0].kill()
            async with client(pair[1].base, "ide") as ide:
                state = asked.request_state or ""
                code = await refused(ide, *FX, answer_fx(asked), state)
            assert code == UPSTREAM_UNAVAILABLE
        finally:
            for replica in pair:
                replica.stop()
