"""MCP 2026-07-28 through the gateway, both ways: an upstream's question to a 2026-07-28 caller
is that caller's own ``input_required`` (its retry answers the waiting upstream request), and
an upstream that speaks only 2026-07-28 is served without a session, its questions reaching
every kind of caller as that caller's own, and its ``Mcp-Param-*`` headers sent.

Upstreams: the official SDK's server with the conformance fixtures (``fx``, spoken to in the
handshake era) and the SDK's server on its 2026-07-28 handler alone (``modern``,
``tests/mcp_modern_fixture.py``), both for the token ``ide`` only; ``ops`` may call the echo
agent alone. The callers are the official SDK clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as mt
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessageAwaitResume, RunStatus
from acp_sdk.models import MessagePart as ACPPart
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated

from adapters.model import DataPart, Message
from agents.echo import EchoAgent
from agents.remote import RemoteMCPAgent
from agents.remote.mcp_asking import elicitation_answer
from gateway.app import create_app
from gateway.mcp.listen import MAX_STREAMS_PER_CALLER
from gateway.mcp.ws import websocket_client
from gateway.registry import Registry
from gateway.settings import Config
from tests.mcp_fixture import build_fixture
from tests.mcp_modern_fixture import ModernOnly, build_modern
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"ide": "ide-secret", "ops": "ops-secret"}
MODERN = "2026-07-28"


@dataclass
class Mesh:
    url: str
    modern: ModernOnly
    remote: RemoteMCPAgent


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    modern = ModernOnly(build_modern())
    with (
        pytest.MonkeyPatch.context() as env,
        running(lambda base: build_fixture().streamable_http_app()) as upstream,
        running(lambda base: modern) as modern_url,
    ):
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_OPS", TOKENS["ops"])
        registry = Registry()
        registry.add(EchoAgent())
        # A handshake-era server (the fixture speaks both, its tools ask the handshake's way).
        fixture = RemoteMCPAgent("fx", f"{upstream}/mcp", timeout=30, era="handshake")
        asyncio.run(fixture.connect())
        registry.add(fixture, allow=("ide",))
        remote = RemoteMCPAgent("modern", f"{modern_url}/mcp", timeout=30)
        asyncio.run(remote.connect())
        registry.add(remote, allow=("ide",))
        config = Config(
            token_env="EFFMESH_T_UNSET",
            tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
            rate_per_minute=0,
        )
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield Mesh(url, modern, remote)


@asynccontextmanager
async def mcp(
    url: str, who: str, ws: bool = False, mode: str = MODERN, **options: Any
) -> AsyncIterator[Client]:
    headers = {"authorization": f"Bearer {TOKENS[who]}"}
    if ws:
        transport = websocket_client(url.replace("http://", "ws://") + "/mcp/ws", headers=headers)
        async with Client(transport, mode=mode, **options) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode, **options) as c,
    ):
        yield c


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, mt.TextContent))


class Asked:
    """A client's answers to what it is asked, noting each question."""

    def __init__(self) -> None:
        self.questions: list[Any] = []

    async def elicit(
        self, context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult:
        self.questions.append(params)
        schema = getattr(params, "requested_schema", None) or {}
        if "username" in schema.get("properties", {}):
            return mt.ElicitResult(action="accept", content={"username": "u", "email": "e@x"})
        return mt.ElicitResult(action="accept", content={"text": "Ada"})

    async def sample(
        self, context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult:
        self.questions.append(params)
        text = mt.TextContent(type="text", text="forty-two")
        return mt.CreateMessageResult(role="assistant", content=text, model="m")

    def options(self) -> dict[str, Any]:
        return {"elicitation_callback": self.elicit, "sampling_callback": self.sample}


# --- a handshake-era upstream's questions to a 2026-07-28 caller ------------------------------


@pytest.mark.parametrize("ws", [False, True], ids=["http", "websocket"])
async def test_an_upstreams_elicitation_is_a_2026_callers_input_required(
    mesh: Mesh, ws: bool
) -> None:
    asked = Asked()
    async with mcp(mesh.url, "ide", ws=ws, **asked.options()) as ide:
        assert ide.protocol_version == MODERN
        result = await ide.call_tool("fx.test_elicitation", {"message": "who are you"})
    assert '"username": "u"' in text_of(result)
    # The question reached the caller as the upstream asked it: its own message and form.
    (question,) = asked.questions
    assert question.message == "who are you"
    assert set(question.requested_schema["properties"]) == {"username", "email"}


async def test_an_upstreams_sampling_is_a_2026_callers_input_required(mesh: Mesh) -> None:
    asked = Asked()
    async with mcp(mesh.url, "ide", **asked.options()) as ide:
        result = await ide.call_tool("fx.test_sampling", {"prompt": "six times seven"})
    assert text_of(result) == "LLM response: forty-two"
    assert isinstance(asked.questions[0], mt.CreateMessageRequestParams)


async def test_a_paused_call_answers_only_the_token_it_paused_for(mesh: Mesh) -> None:
    """Another token's retry with the paused call's requestState is refused as unknown; the
    owner's own retry then carries the same upstream call on."""
    asked = Asked()  # declares it can answer; the test answers by hand
    async with mcp(mesh.url, "ide", **asked.options()) as ide:
        paused = await ide.session.call_tool(
            "fx.test_elicitation", {"message": "who are you"}, allow_input_required=True
        )
        assert isinstance(paused, mt.InputRequiredResult)
        assert paused.request_state is not None
        (key,) = paused.input_requests or {}
        answer = mt.ElicitResult(action="accept", content={"username": "w", "email": "w@x"})
        responses: dict[str, Any] = {key: answer}
        async with mcp(mesh.url, "ops", **asked.options()) as ops:
            with pytest.raises(MCPError) as refused:
                await ops.session.call_tool(
                    "fx.test_elicitation",
                    {"message": "who are you"},
                    input_responses=responses,
                    request_state=paused.request_state,
                )
        assert refused.value.error.code == mt.INVALID_PARAMS
        done = await ide.session.call_tool(
            "fx.test_elicitation",
            {"message": "who are you"},
            input_responses=responses,
            request_state=paused.request_state,
        )
    assert isinstance(done, mt.CallToolResult)
    assert '"username": "w"' in text_of(done)


# --- an upstream that speaks only 2026-07-28 ------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_a_modern_upstreams_question_reaches_an_mcp_caller_as_its_own(
    mesh: Mesh, mode: str
) -> None:
    """A 2025-11-25 caller is asked mid-call (elicitation/create, sampling/createMessage); a
    2026-07-28 caller gets the upstream's input_required as its own."""
    asked = Asked()
    async with mcp(mesh.url, "ide", mode=mode, **asked.options()) as ide:
        greeted = await ide.call_tool("modern.greet", {})
        poem = await ide.call_tool("modern.poem", {"topic": "the sea"})
    assert text_of(greeted) == "hello Ada"
    assert text_of(poem) == "poem: forty-two"
    assert [type(q) for q in asked.questions] == [
        mt.ElicitRequestFormParams,
        mt.CreateMessageRequestParams,
    ]
    assert asked.questions[0].message == "What name?"


def a2a_request(text: str, task: pb.Task | None = None) -> pb.SendMessageRequest:
    message = pb.Message(message_id=f"m-{task is not None}", role=pb.ROLE_USER)
    message.parts.append(pb.Part(text=text))
    if task is not None:
        message.task_id, message.context_id = task.id, task.context_id
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": "greet"})
    return request


async def test_a_modern_upstreams_question_is_an_a2a_callers_input_required(mesh: Mesh) -> None:
    headers = {"authorization": f"Bearer {TOKENS['ide']}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        client = await create_client(
            f"{mesh.url}/a2a/modern", client_config=ClientConfig(streaming=False, httpx_client=http)
        )
        async with client:
            first = [r async for r in client.send_message(a2a_request("hi"))]
            task = first[-1].task
            assert task.status.state == pb.TASK_STATE_INPUT_REQUIRED
            assert task.status.message.parts[0].text == "What name?"
            second = [r async for r in client.send_message(a2a_request("Ada", task))]
    done = second[-1].task
    assert (done.id, done.status.state) == (task.id, pb.TASK_STATE_COMPLETED)
    assert done.artifacts[-1].parts[0].text == "hello Ada"


async def test_a_modern_upstreams_question_is_an_acp_callers_await(mesh: Mesh) -> None:
    headers = {"authorization": f"Bearer {TOKENS['ide']}", "Content-Type": "application/json"}
    async with ACPClient(base_url=f"{mesh.url}/acp", headers=headers, timeout=60) as client:
        run = await client.run_sync(
            [ACPMessage(parts=[ACPPart(content="hi")])], agent="modern.greet"
        )
        assert run.status == RunStatus.AWAITING
        assert run.await_request is not None
        answer = MessageAwaitResume(message=ACPMessage(parts=[ACPPart(content="Grace")]))
        resumed = await client.run_resume_sync(answer, run_id=run.run_id)
    assert resumed.status == RunStatus.COMPLETED
    assert resumed.output[0].parts[0].content == "hello Grace"


async def test_a_modern_upstream_has_no_session_and_one_discover(mesh: Mesh) -> None:
    """Its client is held: calls reuse it, with no session and no second discovery."""
    async with mcp(mesh.url, "ide", mode="legacy") as ide:
        await ide.call_tool("modern.now", {"text": "first"})
        before = len(mesh.modern.seen)
        for word in ("a", "b", "c"):
            assert text_of(await ide.call_tool("modern.now", {"text": word})) == f"now: {word}"
    assert mesh.remote.upstream.modern
    methods = [seen["method"] for seen in mesh.modern.seen[before:]]
    assert methods == ["tools/call"] * 3
    assert all(seen["session"] is None for seen in mesh.modern.seen)


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_mcp_param_headers_reach_a_modern_upstream(mesh: Mesh, mode: str) -> None:
    """The tool's x-mcp-header annotation passes through to callers, and the gateway mirrors
    the argument into the header the upstream's SDK requires (it refuses a call without)."""
    async with mcp(mesh.url, "ide", mode=mode) as ide:
        tools = {t.name: t for t in (await ide.list_tools()).tools}
        schema = tools["modern.region"].input_schema
        assert schema["properties"]["region"]["x-mcp-header"] == "Region"
        before = len(mesh.modern.seen)
        result = await ide.call_tool("modern.region", {"region": "eu-west"})
    assert text_of(result) == "region: eu-west"
    sent = [s["params"] for s in mesh.modern.seen[before:] if s["method"] == "tools/call"]
    assert sent == [{"mcp-param-region": "eu-west"}]


async def test_a_call_without_its_mcp_param_header_is_refused_by_the_upstream(
    mesh: Mesh,
) -> None:
    """What makes the test above able to fail: the upstream checks the header."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "region",
            "arguments": {"region": "eu-west"},
            "_meta": {
                mt.PROTOCOL_VERSION_META_KEY: MODERN,
                mt.CLIENT_CAPABILITIES_META_KEY: {},
            },
        },
    }
    headers = {
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "region",
        "accept": "application/json, text/event-stream",
    }
    upstream = mesh.remote.url
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.post(upstream, json=body, headers=headers)
        taken = await http.post(
            upstream, json=body, headers={**headers, "mcp-param-region": "eu-west"}
        )
    assert (refused.status_code, taken.status_code) == (400, 200)


async def test_a_retry_without_the_response_is_refused_in_mcps_words(mesh: Mesh) -> None:
    """A retry whose inputResponses lack the answer to the paused request is invalid params,
    not a crash; the upstream call it named is given up."""
    asked = Asked()
    async with mcp(mesh.url, "ide", **asked.options()) as ide:
        paused = await ide.session.call_tool(
            "fx.test_elicitation", {"message": "who are you"}, allow_input_required=True
        )
        assert isinstance(paused, mt.InputRequiredResult)
        unrelated = mt.ElicitResult(action="accept", content={"username": "w", "email": "w@x"})
        with pytest.raises(MCPError) as refused:
            await ide.session.call_tool(
                "fx.test_elicitation",
                {"message": "who are you"},
                input_responses={"other": unrelated},
                request_state=paused.request_state,
            )
    assert refused.value.error.code == mt.INVALID_PARAMS


def test_a_reply_that_leaves_fields_out_takes_the_forms_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "city": {"type": "string"},
        },
    }
    question = {"message": "Who?", "requestedSchema": schema}
    reply = Message("user", (DataPart({"age": 41}),))
    assert elicitation_answer(question, reply) == {
        "action": "accept",
        "content": {"name": "John Doe", "age": 41},
    }


async def test_a_listen_stream_carries_upstream_updates_to_its_caller_only(mesh: Mesh) -> None:
    """subscriptions/listen: the upstream is subscribed for the caller that may call it, and
    its update arrives on that caller's stream; another token's stream for the same URI is
    acknowledged the same way and told nothing."""
    uri = "test://watched-resource"
    async with (
        mcp(mesh.url, "ide") as ide,
        mcp(mesh.url, "ops") as ops,
        ide.listen(resource_subscriptions=[uri], tools_list_changed=True) as mine,
        ops.listen(resource_subscriptions=[uri]) as theirs,
    ):
        assert mine.honored is not None
        assert theirs.honored is not None
        assert mine.honored.resource_subscriptions == theirs.honored.resource_subscriptions
        await ide.call_tool("fx.test_touch_watched", {})
        with anyio.fail_after(30):
            event = await anext(aiter(mine))
        assert isinstance(event, ResourceUpdated)
        assert event.uri == uri
        told: list[object] = []
        with anyio.move_on_after(1):  # the same update went to every stream at once
            told.append(await anext(aiter(theirs)))
    assert told == []


async def test_a_modern_upstreams_updates_reach_subscribers_of_both_eras(mesh: Mesh) -> None:
    """The gateway listens to a 2026-07-28-only server for what its callers subscribed to: a
    2025-11-25 caller's resources/subscribe and a 2026-07-28 caller's listen stream both get
    the server's update."""
    uri = "modern://watched"
    updated = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, mt.ResourceUpdatedNotification) and str(message.params.uri) == uri:
            updated.set()

    async with (
        mcp(mesh.url, "ide", mode="legacy", message_handler=on_message) as old,
        mcp(mesh.url, "ide") as new,
        new.listen(resource_subscriptions=[uri]) as stream,
    ):
        await old.session.send_request(
            mt.SubscribeRequest(params=mt.SubscribeRequestParams(uri=uri)), mt.EmptyResult
        )
        await new.call_tool("modern.touch", {})
        with anyio.fail_after(30):
            event = await anext(aiter(stream))
            await updated.wait()
    assert event == ResourceUpdated(uri=uri)


async def test_one_token_cannot_hold_every_listen_stream(mesh: Mesh) -> None:
    async with mcp(mesh.url, "ops") as ops, contextlib.AsyncExitStack() as streams:
        for _ in range(MAX_STREAMS_PER_CALLER):
            await streams.enter_async_context(ops.listen(tools_list_changed=True))
        with pytest.raises(MCPError) as refused:
            await streams.enter_async_context(ops.listen(tools_list_changed=True))
        assert refused.value.error.code == mt.INTERNAL_ERROR
        async with mcp(mesh.url, "ide") as ide, ide.listen(tools_list_changed=True) as mine:
            assert mine.honored is not None  # another token's stream is still taken


@pytest.mark.parametrize(
    ("mode", "level", "lines"),
    [
        ("legacy", None, ["fine detail", "progress"]),
        ("legacy", "info", ["progress"]),
        (MODERN, "info", ["progress"]),
        (MODERN, None, []),
    ],
)
async def test_a_callers_log_level_reaches_a_modern_upstream(
    mesh: Mesh, mode: str, level: str | None, lines: list[str]
) -> None:
    """A 2026-07-28 server logs only for a request that asks: the call carries its caller's
    level (a 2025-11-25 caller's setLevel, none set meaning every line; a 2026-07-28
    caller's own opt-in), and the caller gets the lines its level admits."""
    got: list[str] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        got.append(str(params.data))

    options: dict[str, Any] = {"logging_callback": on_log}
    if mode == MODERN and level is not None:
        options["log_level"] = level
    async with mcp(mesh.url, "ide", mode=mode, **options) as ide:
        if mode == "legacy" and level is not None:
            await ide.session.send_request(
                mt.SetLevelRequest(params=mt.SetLevelRequestParams(level=level)), mt.EmptyResult
            )
        result = await ide.call_tool("modern.chatty", {})
    asked = level or ("debug" if mode == "legacy" else None)
    assert text_of(result) == f"level: {asked}"
    assert got == lines
