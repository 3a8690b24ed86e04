"""A2A across a federation link answers as the A2A agent does directly: gateway 1 joins
gateway 2 over the mesh WebSocket (and gateway 0 joins gateway 1, two links away), gateway 2
reaches two agents on a2a-sdk's own server (the TCK's agent, ``tck``, and the third-party
matrix's, ``demo``), and the official a2a-sdk client on gateway 1 (or 0) sees what it sees from
the agent itself, ids and timestamps aside: Message replies, the agent's states, chunks with
``append`` / ``lastChunk``, follow-ups that reach the agent's task (from A2A and ACP callers),
and cancels that reach the agent.

Gateways 0 and 1 have two tokens. Gateway 2 maps their ``alice`` to its own ``alice`` on their
signatures, so a follow-up of hers that was not signed would run as someone else there and not
find her task; ``bob``'s follow-up to her task is not found where he sends it and never reaches
the agent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from a2a.client import Client as A2AClient
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import A2AError
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessageAwaitResume, MessagePart, RunStatus
from acp_sdk.models.errors import ACPError
from google.protobuf import json_format

from adapters import mesh
from adapters.errors import ErrorCode
from adapters.model import AgentDescriptor, Skill
from agents.remote import RemoteA2AAgent
from gateway.app import create_app
from gateway.mesh.federation.claims import KEY_FILE, Signer
from gateway.registry import Registry
from gateway.settings import Config, FederationConfig
from tests.gateway_procs import until
from tests.servers import running
from tests.tck.servers import sut
from tests.test_a2a_passthrough import BINDINGS, CASES, message, shape, two_turns
from tests.test_federation_peers import SUBPROTOCOLS, TOKEN, RawPeer, code_of
from tests.thirdparty import launch

pytestmark = pytest.mark.anyio
TOKENS = {"alice": "fa-alice-secret", "bob": "fa-bob-secret"}
TIMEOUT = 60.0


@dataclass
class Link:
    direct: str
    """The TCK's agent itself."""
    fronts: dict[str, str]
    """Gateway 1 (one link from gateway 2) and gateway 0 (two): the ``tck`` agent's URL on each."""
    far: str
    """Gateway 2."""
    record: launch.Record
    """What reached the ``demo`` agent."""


def config(folder: pathlib.Path, federation: FederationConfig, *tokens: str) -> Config:
    return Config(
        data_dir=str(folder),
        token_env="EFFMESH_FA_UNSET",
        tokens=tuple((name, f"EFFMESH_FA_{name.upper()}") for name in tokens),
        rate_per_minute=0,
        health_interval_seconds=0,
        federation=federation,
    )


def agents_of(base: str, who: str = "alice") -> set[str]:
    listed = httpx.get(f"{base}/agents", headers=auth(who), timeout=5).json()["agents"]
    return {a["name"] for a in listed}


@pytest.fixture(scope="module")
def link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    folder = tmp_path_factory.mktemp("federation-a2a")
    keys = {g: Signer(folder / g / KEY_FILE).public_text() for g in ("g0", "g1")}
    command, _ = launch.COMMANDS["sdk"]
    with (
        pytest.MonkeyPatch.context() as env,
        sut() as direct,
        launch.started("sdk", command, folder) as demo,
    ):
        env.setenv("EFFMESH_FEDERATION_TOKEN", TOKEN)
        for name, token in TOKENS.items():
            env.setenv(f"EFFMESH_FA_{name.upper()}", token)
        remotes = [RemoteA2AAgent("tck", direct), RemoteA2AAgent("demo", demo.url)]
        registry2 = Registry()
        for remote in remotes:
            asyncio.run(remote.connect())
            registry2.add(remote)
        mapped = {f"{g}/alice": "alice" for g in keys}
        far = FederationConfig(name="g2", heartbeat_seconds=2, principals=mapped, keys=keys)
        with running(
            lambda base: create_app(registry2, config(folder / "g2", far, "alice"), base_url=base)
        ) as g2:
            near = FederationConfig(name="g1", heartbeat_seconds=2, join=(ws(g2),))
            with running(
                lambda base: create_app(
                    Registry(), config(folder / "g1", near, "alice", "bob"), base_url=base
                )
            ) as g1:
                farther = FederationConfig(name="g0", heartbeat_seconds=2, join=(ws(g1),))
                with running(
                    lambda base: create_app(
                        Registry(), config(folder / "g0", farther, "alice", "bob"), base_url=base
                    )
                ) as g0:
                    for g in (g1, g0):
                        until(lambda g=g: {"tck", "demo"} <= agents_of(g), what="g2's agents")
                    fronts = {"one-link": f"{g1}/a2a/tck", "two-links": f"{g0}/a2a/tck"}
                    yield Link(direct, fronts, g2, demo.record)


def ws(base: str) -> str:
    return base.replace("http", "ws") + "/ws"


@pytest.fixture(params=["one-link", "two-links"])
def front(link: Link, request: pytest.FixtureRequest) -> str:
    """The ``tck`` agent's URL on gateway 1, or on gateway 0."""
    url: str = link.fronts[request.param]
    return url


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


@contextlib.asynccontextmanager
async def a2a_client(
    url: str, *, who: str | None = "alice", streaming: bool = False, binding: str = "JSONRPC"
) -> AsyncIterator[A2AClient]:
    headers = auth(who) if who is not None else {}
    async with httpx.AsyncClient(timeout=TIMEOUT, headers=headers) as http:
        config = ClientConfig(
            streaming=streaming, httpx_client=http, supported_protocol_bindings=[binding]
        )
        async with await create_client(url, client_config=config) as client:
            yield client


async def exchange(
    url: str,
    req: pb.SendMessageRequest,
    *,
    streaming: bool,
    binding: str = "JSONRPC",
    who: str | None = "alice",
) -> list[dict[str, Any]]:
    async with a2a_client(url, who=who, streaming=streaming, binding=binding) as client:
        return [json_format.MessageToDict(r) async for r in client.send_message(req)]


def counters(base: str) -> dict[str, int]:
    status = httpx.get(f"{base}/federation", headers=auth("alice"), timeout=5).json()
    found: dict[str, int] = status["counters"]
    return found


# --- the same answers as directly ----------------------------------------------------------


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("prefix", CASES)
async def test_the_callers_gateway_answers_as_the_agent_behind_gateway_2_does(
    link: Link, front: str, prefix: str, streaming: bool, binding: str
) -> None:
    req = message(f"{prefix}-1")
    want = await exchange(link.direct, req, streaming=streaming, binding=binding, who=None)
    got = await exchange(front, req, streaming=streaming, binding=binding)
    assert shape(got) == shape(want)


async def test_a_message_reply_is_a_message_under_the_callers_context(front: str) -> None:
    req = message("tck-message-response-c", context_id="ctx-mine")
    (reply,) = await exchange(front, req, streaming=False)
    assert reply["message"]["contextId"] == "ctx-mine"
    assert reply["message"]["role"] == "ROLE_AGENT"


async def test_the_agents_timestamps_and_working_state_pass_the_link(front: str) -> None:
    got = await exchange(front, message("slow-chunks-t"), streaming=True)
    updates = [r["statusUpdate"]["status"] for r in got if "statusUpdate" in r]
    assert [s["state"] for s in updates] == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    assert all("timestamp" in s for s in updates)
    chunks = [r["artifactUpdate"] for r in got if "artifactUpdate" in r]
    assert [(c.get("append", False), c.get("lastChunk", False)) for c in chunks] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    # The stream ends once: nothing after the status that settles the task.
    assert "statusUpdate" in got[-1]


def test_the_link_speaks_frame_set_2(link: Link) -> None:
    status = httpx.get(link.far + "/federation", headers=auth("alice"), timeout=5).json()
    assert {peer["gateway"]: peer["frames"] for peer in status["links"]}["g1"] == 2


# --- follow-ups ----------------------------------------------------------------------------


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
async def test_a_follow_up_reaches_the_agents_task_that_asked(
    link: Link, front: str, streaming: bool, binding: str
) -> None:
    resumed = counters(link.far).get("resumes_served", 0)
    task_id = await two_turns(exchange, front, streaming=streaming, binding=binding)
    assert counters(link.far)["resumes_served"] == resumed + 1
    async with a2a_client(front, binding=binding) as client:
        got = await client.get_task(pb.GetTaskRequest(id=task_id))
    assert got.status.state == pb.TASK_STATE_COMPLETED
    assert [m.message_id for m in got.history if m.role == pb.ROLE_USER] == [
        "multi-turn-1",
        "multi-turn-2",
    ]


async def test_another_tokens_follow_up_is_not_found_and_never_reaches_the_agent(
    link: Link, front: str
) -> None:
    resumed = counters(link.far).get("resumes_served", 0)
    (first,) = await exchange(front, message("multi-turn-a"), streaming=False)
    task = first["task"]
    ids = {"task_id": task["id"], "context_id": task["contextId"]}
    with pytest.raises(A2AError) as info:
        await exchange(front, message("multi-turn-b", "red", **ids), streaming=False, who="bob")
    assert type(info.value).__name__ == "TaskNotFoundError"
    async with a2a_client(front, who="bob") as bob:
        with pytest.raises(A2AError) as info:
            await bob.get_task(pb.GetTaskRequest(id=task["id"]))
    assert type(info.value).__name__ == "TaskNotFoundError"
    assert counters(link.far).get("resumes_served", 0) == resumed
    # The agent's task still waits for alice: had bob's answer reached it, it would be done.
    (last,) = await exchange(front, message("multi-turn-c", "blue", **ids), streaming=False)
    assert last["task"]["status"]["message"]["parts"][0]["text"] == "you said: blue"


def acp_client(base: str, who: str) -> ACPClient:
    headers = {"Content-Type": "application/json", **auth(who)}
    return ACPClient(base_url=f"{base}/acp", headers=headers, timeout=TIMEOUT)


def said(text: str) -> Message:
    return Message(parts=[MessagePart(content=text)])


async def test_an_acp_callers_answer_reaches_the_agents_task_and_no_one_elses_does(
    link: Link, front: str
) -> None:
    base = front.removesuffix("/a2a/tck")
    resumed = counters(link.far).get("resumes_served", 0)
    async with acp_client(base, "alice") as alice, acp_client(base, "bob") as bob:
        run = await alice.run_sync([said("multi-turn")], agent="tck.tck")
        assert run.status == RunStatus.AWAITING
        assert run.await_request is not None
        with pytest.raises(ACPError) as info:
            await bob.run_resume_sync(MessageAwaitResume(message=said("Eve")), run_id=run.run_id)
        assert info.value.error.code == "not_found"
        assert counters(link.far).get("resumes_served", 0) == resumed
        answer = MessageAwaitResume(message=said("Ada"))
        done = await alice.run_resume_sync(answer, run_id=run.run_id)
    assert done.status == RunStatus.COMPLETED
    assert [p.content for m in done.output for p in m.parts] == ["you said: Ada"]
    assert counters(link.far)["resumes_served"] == resumed + 1


# --- cancel --------------------------------------------------------------------------------


async def test_a_cancel_reaches_the_agent_and_only_the_owners_does(link: Link, front: str) -> None:
    front = front.removesuffix("/tck") + "/demo"
    before = len(link.record.entries())
    req = pb.SendMessageRequest(
        message=pb.Message(message_id="long-1", role=pb.ROLE_USER, parts=[pb.Part(text="long")])
    )
    async with a2a_client(front, streaming=True) as client:
        stream = client.send_message(req)
        first = await anext(stream)
        task_id = first.task.id
        started = await link.record.wait(before, "start")
        async with a2a_client(front, who="bob") as bob:
            with pytest.raises(A2AError) as info:
                await bob.cancel_task(pb.CancelTaskRequest(id=task_id))
        assert type(info.value).__name__ == "TaskNotFoundError"
        async with a2a_client(front) as owner:
            canceled = await owner.cancel_task(pb.CancelTaskRequest(id=task_id))
        assert canceled.status.state == pb.TASK_STATE_CANCELED
        await link.record.wait(before, "cancel", started["task"])
        await stream.aclose()
    events = [e["event"] for e in link.record.entries()[before:]]
    assert events.count("cancel") == 1


# --- the far side of the link, spoken by hand ----------------------------------------------


async def raw_peer(base: str, name: str, frames: int | None) -> tuple[RawPeer, dict[str, Any]]:
    connection = await websockets.connect(
        base.replace("http", "ws") + "/ws",
        subprotocols=SUBPROTOCOLS,
        additional_headers={"Authorization": f"Bearer {TOKEN}"},
    )
    peer = RawPeer(connection)
    params: dict[str, Any] = {"gateway": name}
    if frames is not None:
        params["frames"] = frames
    await peer.send({"jsonrpc": "2.0", "id": 1, "method": "mesh/hello", "params": params})
    return peer, await peer.reply(1)


def tck_run(call: int, peer: str, message_id: str, text: str = "hi", **fields: Any) -> str:
    params = {
        "agent": "tck",
        "params": {
            "message": {
                "messageId": message_id,
                "role": "ROLE_USER",
                "parts": [{"text": text}],
            },
            "metadata": {"effmesh.skill": "tck"},
        },
        "message": f"{peer}-{message_id}",
        "hops": 1,
        "visited": [peer],
    }
    return json.dumps(
        {"jsonrpc": "2.0", "id": call, "method": "mesh/run", "params": params | fields}
    )


async def events_of(peer: RawPeer, call: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``mesh/event`` params of call ``call``, and its reply."""
    events = []
    while True:
        msg = json.loads(await asyncio.wait_for(peer.connection.recv(), TIMEOUT))
        if msg.get("method") == mesh.EVENT and msg["params"]["call"] == call:
            events.append(msg["params"])
        elif msg.get("id") == call and "method" not in msg:
            return events, msg


async def test_a_peer_on_frame_set_1_gets_the_plain_frames_it_knows(link: Link) -> None:
    peer, hello = await raw_peer(link.far, "old", None)
    assert hello["result"] == {"gateway": "g2", "frames": 2}
    await peer.connection.send(tck_run(2, "old", "multi-turn-old"))
    events, reply = await events_of(peer, 2)
    await peer.connection.close()
    assert reply["result"] == {}
    assert events[-1]["item"]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert all("waiting" not in event for event in events)


def task_event(call: int, state: str, text: str) -> str:
    status = {
        "state": state,
        "message": {"messageId": text, "role": "ROLE_AGENT", "parts": [{"text": text}]},
    }
    item = {"task": {"id": "far-task", "contextId": "far-context", "status": status}}
    return json.dumps(
        {"jsonrpc": "2.0", "method": mesh.EVENT, "params": {"call": call, "item": item}}
    )


async def test_a_gateway_on_frame_set_1_is_sent_the_plain_calls_it_knows(link: Link) -> None:
    """A gateway that names no frame set offers an A2A agent to gateway 2: a streaming caller
    there gets the agent's answer as it was, and the far side is sent plain calls (no mode,
    no task to resume; the answer goes as a new call with the exchange as its history)."""
    peer, _ = await raw_peer(link.far, "old", None)
    card = mesh.encode_card(AgentDescriptor("legacy", (Skill("talk"),)), speaks="a2a")
    announce = {"origin": "old", "version": [1, 1], "path": ["old"], "agents": [card]}
    await peer.send({"jsonrpc": "2.0", "method": mesh.ANNOUNCE, "params": announce})

    async def beat() -> None:
        while True:
            await peer.send({"jsonrpc": "2.0", "method": mesh.PING, "params": {}})
            await asyncio.sleep(0.5)

    beating = asyncio.ensure_future(beat())
    try:
        await asyncio.to_thread(until, lambda: "legacy" in agents_of(link.far), 15, "legacy")
        url = f"{link.far}/a2a/legacy"
        asked = asyncio.ensure_future(exchange(url, message("q-1"), streaming=True))
        run = await peer.next(mesh.RUN)
        assert not {"mode", "resume"} & run["params"].keys()
        await peer.connection.send(task_event(run["id"], "TASK_STATE_INPUT_REQUIRED", "which?"))
        await peer.send(mesh.encode_run_result(run["id"]))
        (first,) = await asked
        task = first["task"]
        assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        ids = {"task_id": task["id"], "context_id": task["contextId"]}
        answered = asyncio.ensure_future(
            exchange(url, message("q-2", "this", **ids), streaming=True)
        )
        run = await peer.next(mesh.RUN)
        assert not {"mode", "resume"} & run["params"].keys()
        assert [m["messageId"] for m in run["params"]["history"]] == ["q-1", "which?"]
        await peer.connection.send(task_event(run["id"], "TASK_STATE_COMPLETED", "done"))
        await peer.send(mesh.encode_run_result(run["id"]))
        last = (await answered)[-1]
        assert last["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    finally:
        beating.cancel()
        await peer.connection.close()


async def test_only_the_caller_a_waiting_task_came_from_may_answer_it(link: Link) -> None:
    peer, _ = await raw_peer(link.far, "first", mesh.FRAMES)
    other, _ = await raw_peer(link.far, "second", mesh.FRAMES)
    refused = counters(link.far).get("resumes_refused", 0)
    try:
        await peer.connection.send(tck_run(2, "first", "multi-turn-raw", mode="stream"))
        events, _ = await events_of(peer, 2)
        (waiting,) = [event["waiting"] for event in events if "waiting" in event]
        assert waiting["gateway"] == "g2"
        # Another gateway's caller, a made-up task, a task said to be on another gateway.
        for call, fields in [
            (3, {"resume": waiting}),
            (4, {"resume": {"gateway": "g2", "task": "made-up"}}),
            (5, {"resume": {"gateway": "elsewhere", "task": waiting["task"]}}),
        ]:
            asker = other if call == 3 else peer
            await asker.connection.send(
                tck_run(call, "second" if call == 3 else "first", f"multi-turn-{call}", **fields)
            )
            _, reply = await events_of(asker, call)
            assert code_of(reply) == ErrorCode.NOT_FOUND
        assert counters(link.far)["resumes_refused"] == refused + 3
        await peer.connection.send(
            tck_run(6, "first", "multi-turn-6", "blue", resume=waiting, mode="stream")
        )
        events, reply = await events_of(peer, 6)
        assert reply["result"] == {}
        last = events[-1]["item"]
        status = last["task"]["status"] if "task" in last else last["statusUpdate"]["status"]
        assert status["message"]["parts"][0]["text"] == "you said: blue"
    finally:
        await peer.connection.close()
        await other.connection.close()
