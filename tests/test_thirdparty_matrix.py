"""Other people's agents behind the gateway: every caller protocol against every kind of
third-party agent, each agent started here as its own process and installed by `make test`.

Agents: an A2A agent on @a2a-js/sdk 1.3.0 with express (``js``), one on a2a-sdk's own server
(``sdk``), an ACP agent on acp-sdk 1.0.3's server in its own venv (``acp``), an MCP server on
the Python MCP SDK over streamable HTTP (``mcp``) and the reference MCP server
``server-everything`` over stdio (``everything``). Callers: the official MCP client in both
protocol eras, the A2A client over JSON-RPC, REST and streaming, the ACP client in sync, async
and stream mode (``tests/thirdparty/callers.py``).

Each agent answers at once, streams an answer in three chunks half a second apart, works on
a long task until it is cancelled, and asks for input. Every agent writes down what reached
it, so a cell checks that a cancel reached the agent and that the answer to its question went
to the same upstream task or run. Cells that wait on work not done yet are pinned as expected
failures with the reason (strict: one that starts passing fails until it is unpinned).
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import anyio
import httpx
import pytest

from agents.remote import RemoteA2AAgent, RemoteACPAgent, RemoteMCPAgent, RemoteMCPStdioAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running
from tests.thirdparty import launch
from tests.thirdparty.callers import CALLERS, Answer, Content

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(launch.missing() is not None, reason=f"run `make test`: {launch.missing()}"),
]

CHUNKS = ["one ", "two ", "three"]
CALLS: dict[str, dict[str, tuple[str, Content]]] = {
    **{
        agent: {
            "now": (f"{agent}.demo", "now hi"),
            "stream": (f"{agent}.demo", "stream"),
            "long": (f"{agent}.demo", "long"),
            "ask": (f"{agent}.demo", "ask"),
        }
        for agent in ("js", "sdk", "acp")
    },
    "mcp": {
        "now": ("mcp.now", "hi"),
        "stream": ("mcp.stream", "go"),
        "long": ("mcp.long", "go"),
        "ask": ("mcp.ask", "go"),
    },
    "everything": {
        "now": ("everything.echo", {"message": "hi"}),
        "stream": ("everything.trigger-long-running-operation", {"duration": 1.5, "steps": 3}),
    },
}
"""Agent -> behaviour -> (the gateway's tool for it, what the caller sends)."""
SAID = {"everything": "Echo: hi"}
CANCEL_SEEN = {"js": "cancel", "sdk": "cancel", "acp": "cancel", "mcp": "cancelled"}
"""What each agent writes down when a cancel reaches it."""
STREAMING_CALLERS = ("a2a-stream", "acp-stream")


@dataclass
class Matrix:
    gateway: str
    records: dict[str, launch.Record]
    urls: dict[str, str]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    folder: pathlib.Path = tmp_path_factory.mktemp("thirdparty")
    with ExitStack() as stack:
        up = {
            name: stack.enter_context(launch.started(name, command, folder, path))
            for name, (command, path) in launch.COMMANDS.items()
        }
        remotes = [
            RemoteA2AAgent("js", up["js"].url),
            RemoteA2AAgent("sdk", up["sdk"].url),
            RemoteACPAgent("acp", up["acp"].url),
            # The SDK's server speaks both eras, but its ``ctx.elicit`` asks only the
            # handshake's way (2026-07-28 has no channel for it): pinned, as its users must.
            RemoteMCPAgent("mcp", up["mcp"].url, era="handshake"),
            RemoteMCPStdioAgent("everything", launch.EVERYTHING_STDIO),
        ]

        async def connect() -> None:
            for remote in remotes:
                await remote.connect()

        asyncio.run(connect())
        registry = Registry()
        for remote in remotes:
            registry.add(remote)
        gateway = stack.enter_context(running(lambda base: create_app(registry, base_url=base)))
        records = {name: started.record for name, started in up.items()}
        yield Matrix(gateway, records, {name: started.url for name, started in up.items()})


def cell(caller: str, agent: str, reasons: dict[tuple[str, str], str]) -> object:
    """The (caller, agent) parameter, pinned as an expected failure when ``reasons`` says why."""
    reason = reasons.get((caller, agent)) or reasons.get((caller, "*")) or reasons.get(("*", agent))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(caller, agent, id=f"{caller}-{agent}", marks=marks)


def cells(agents: list[str], reasons: dict[tuple[str, str], str]) -> list[object]:
    return [cell(caller, agent, reasons) for agent in agents for caller in CALLERS]


IMMEDIATE_PINS: dict[tuple[str, str], str] = {}
STREAM_PINS: dict[tuple[str, str], str] = {}
CANCEL_PINS: dict[tuple[str, str], str] = {}
INPUT_PINS: dict[tuple[str, str], str] = {}


def chunk_events(answer: Answer) -> list[list[str]]:
    """The streamed events that carry the agent's chunks."""
    return [e for e in answer.events if e and all(t in CHUNKS for t in e)]


@pytest.mark.parametrize(("caller", "agent"), cells(list(CALLS), IMMEDIATE_PINS))
async def test_an_immediate_answer_reaches_every_caller(
    matrix: Matrix, caller: str, agent: str
) -> None:
    tool, content = CALLS[agent]["now"]
    answer = await CALLERS[caller](matrix.gateway).answer(tool, content)
    assert (answer.state, answer.text) == ("completed", SAID.get(agent, "now: hi"))
    assert set(answer.roles) <= {"ROLE_AGENT"}
    if caller.startswith("acp"):
        assert answer.agent == tool  # the gateway's name for it, not the upstream's own


@pytest.mark.parametrize(("caller", "agent"), cells(list(CALLS), STREAM_PINS))
async def test_a_streamed_answer_arrives_whole_and_in_order(
    matrix: Matrix, caller: str, agent: str
) -> None:
    tool, content = CALLS[agent]["stream"]
    answer = await CALLERS[caller](matrix.gateway).answer(tool, content)
    assert answer.state == "completed"
    if agent == "everything":
        assert answer.text.startswith("Long running operation completed")
        if caller.startswith("mcp"):
            assert len(answer.events) == 3  # its three progress steps
        return
    assert answer.text == "".join(CHUNKS)
    if caller == "a2a-stream":
        # Submitted or working until the one terminal state, which comes last.
        assert set(answer.trail[:-1]) <= {"submitted", "working"}
        assert answer.trail[-1] == "completed"
    if caller == "acp-stream":
        assert answer.trail[0] == "run.created"
        assert answer.trail.count("run.completed") == 1
        assert answer.trail[-1] == "run.completed"
    if caller in STREAMING_CALLERS or (caller.startswith("mcp") and agent == "mcp"):
        # One event per chunk, as the agent sent them.
        assert chunk_events(answer) == [[c] for c in CHUNKS]


@pytest.mark.parametrize(("caller", "agent"), cells(list(CANCEL_SEEN), CANCEL_PINS))
async def test_a_cancel_reaches_the_agent(matrix: Matrix, caller: str, agent: str) -> None:
    record = matrix.records[agent]
    before = len(record.entries())
    tool, content = CALLS[agent]["long"]
    await CALLERS[caller](matrix.gateway).cancel(
        tool, content, lambda: record.wait(before, "start")
    )
    started = await record.wait(before, "start")
    # The cancel of the task it started (another test's late news does not count).
    await record.wait(before, CANCEL_SEEN[agent], started["task"])
    if agent == "acp":
        # acp-sdk's server stopped the run: its own record says so.
        async with httpx.AsyncClient(timeout=30) as http:
            with anyio.fail_after(60):
                while True:
                    run = (await http.get(f"{matrix.urls['acp']}/runs/{started['task']}")).json()
                    if run["status"] != "cancelling":
                        break
                    await anyio.sleep(0.05)
        assert run["status"] == "cancelled"


@pytest.mark.parametrize(("caller", "agent"), cells(list(CANCEL_SEEN), INPUT_PINS))
async def test_an_answer_to_the_agents_question_reaches_the_same_task(
    matrix: Matrix, caller: str, agent: str
) -> None:
    record = matrix.records[agent]
    before = len(record.entries())
    tool, content = CALLS[agent]["ask"]
    answer = await CALLERS[caller](matrix.gateway).converse(tool, content, "Ada")
    assert "What name?" in answer.question
    assert set(answer.roles) <= {"ROLE_AGENT"}
    assert (answer.state, answer.text) == ("completed", "hello Ada")
    resumed = await record.wait(before, "resume")
    starts = [e for e in record.entries()[before:] if e["event"] == "start"]
    assert [e["task"] for e in starts] == [resumed["task"]]
