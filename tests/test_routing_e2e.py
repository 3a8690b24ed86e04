"""``effmesh.run`` end to end: the official MCP, A2A and ACP clients against a gateway built
from configuration as ``effmesh serve`` builds it, whose planner and specialists run on the
real embedded llama.cpp server with the bundled model.

The small model's plans and answers are not judged here (the benchmark measures how often its
plans are accepted); what is checked is that each protocol gets the run as it should: the plan
and every subtask's start and end while it runs, then the answer, from subtasks that really ran
on the gateway's agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessagePart
from google.protobuf import json_format
from mcp import Client as MCPClient
from mcp.client.streamable_http import streamable_http_client

from agents.llm.embedded import MODEL_ALIAS
from gateway.app import create_app
from gateway.models import ModelPool
from gateway.routing.plan import PLAN_SKILL
from gateway.server import build_registry
from gateway.settings import AgentConfig, Config, ModelConfig, RoutingConfig, default_agents
from tests.servers import running, slow_a2a_client

pytestmark = pytest.mark.anyio

TASK = "Compute 12 * 7. Also compute 30 + 12."
ARITHMETIC = next(a for a in default_agents() if a.name == "arithmetic")
"""The default gateway's arithmetic specialist (a forced calculator call, then the answer)."""


@pytest.fixture(scope="module")
def gateway(model_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = Config(
        data_dir=str(tmp_path_factory.mktemp("data")),
        rate_per_minute=0,
        call_timeout_seconds=240,
        agents=(
            AgentConfig("calculator", "calculator"),
            replace(ARITHMETIC, max_tokens=48),
        ),
        models=(ModelConfig("default", "llamacpp", (model_url,), model=MODEL_ALIAS),),
        routing=RoutingConfig(planner="model", subtask_timeout_seconds=120),
    )
    models = ModelPool(config)
    registry = asyncio.run(build_registry(config, models))
    with running(lambda base: closing(create_app(registry, config, base_url=base), models)) as url:
        yield url


def closing(app: Any, models: ModelPool) -> Any:
    """``app``, closing ``models`` at its shutdown: the model clients live on the server's
    event loop, so they are closed there."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def on_send(message: Any) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await models.aclose()
            await send(message)

        await app(scope, receive, on_send)

    return wrapped


def check_run(summary: dict[str, Any]) -> None:
    """The run's summary: a plan over this gateway's skills, every subtask finished. A plan
    at the top may also hand a part to be split again (``plan``): the model planner may pick
    that for any part while depth allows it."""
    (plan, *_) = summary["plans"]
    assert plan["planner"] in ("model", "rules")
    skills = {"calculator.evaluate", "arithmetic.solve", PLAN_SKILL}
    assert {s["skill"] for s in plan["subtasks"]} <= skills
    assert len(summary["subtasks"]) >= 1
    assert all(s["state"] in ("completed", "failed", "skipped") for s in summary["subtasks"])
    assert any(s["state"] == "completed" for s in summary["subtasks"])


async def test_mcp_callers_get_progress_for_the_plan_and_every_subtask(gateway: str) -> None:
    steps: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append(message or "")

    async with (
        httpx2.AsyncClient(timeout=240) as http,
        MCPClient(streamable_http_client(f"{gateway}/mcp", http_client=http)) as client,
    ):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["effmesh.run"].input_schema["required"] == ["task"]
        result = await client.call_tool(
            "effmesh.run", {"task": TASK}, progress_callback=on_progress
        )
    assert result.is_error is False
    assert steps[0].startswith("routing: ")
    assert any(s.startswith("plan (") for s in steps)
    started = [s for s in steps if " started: " in s]
    finished = [s for s in steps if " completed: " in s or " failed: " in s or " skipped: " in s]
    assert started
    assert len(finished) >= len({s.split()[0] for s in started})
    texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    assert texts
    assert texts[0].strip()
    assert result.structured_content is not None
    check_run(result.structured_content)


async def test_the_gateways_own_a2a_agent_runs_a_task_with_no_skill_named(gateway: str) -> None:
    request = pb.SendMessageRequest(
        message=pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text=TASK)])
    )
    async with slow_a2a_client(gateway) as client:
        responses = [r async for r in client.send_message(request)]
    events = []
    for r in responses:
        if r.HasField("status_update") and r.status_update.status.HasField("message"):
            for part in r.status_update.status.message.parts:
                if part.HasField("data"):
                    events.append(json_format.MessageToDict(part.data))
    kinds = [e.get("event") for e in events]
    assert kinds[0] == "routing"
    assert "plan" in kinds
    assert "subtask.started" in kinds
    assert "subtask.finished" in kinds
    artifacts = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    names = {a.name for a in artifacts}
    assert {"answer", "run"} <= names
    run = next(a for a in artifacts if a.name == "run")
    check_run(json_format.MessageToDict(run.parts[0].data))
    final = responses[-1]
    state = final.task.status.state if final.HasField("task") else final.status_update.status.state
    assert state == pb.TASK_STATE_COMPLETED


async def test_the_acp_agent_effmesh_streams_the_run(gateway: str) -> None:
    async with ACPClient(base_url=f"{gateway}/acp", timeout=240) as client:
        agents = {a.name async for a in client.agents()}
        assert "effmesh" in agents
        message = ACPMessage(parts=[MessagePart(content=TASK, content_type="text/plain")])
        events = [e async for e in client.run_stream(message, agent="effmesh")]
    generic = [e.generic.model_dump() for e in events if e.type == "generic"]
    kinds = [g.get("event") for g in generic]
    assert kinds[0] == "routing"
    assert "plan" in kinds
    assert "subtask.finished" in kinds
    assert events[-1].type == "run.completed"
    run = events[-1].run
    assert run.output
    texts = [p.content for m in run.output for p in m.parts if p.content_type == "text/plain"]
    assert any(t and t.strip() for t in texts)
