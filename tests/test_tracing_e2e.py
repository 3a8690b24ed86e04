"""One trace across every hop, with real parts: the official MCP client calls ``effmesh.run``
on a gateway whose plan runs two subtasks at once, one on a specialist over the real embedded
llama.cpp server (with a memory lookup in real Milvus-lite), one on an A2A agent served by a
second ``effmesh serve`` process on 127.0.0.1. This process's spans are kept in memory (the
session's SDK, see conftest); the other process writes its own JSON-lines trace file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client as MCPClient
from mcp.client.streamable_http import streamable_http_client
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agents.llm.embedded import MODEL_ALIAS, free_port
from gateway.app import create_app
from gateway.models import ModelPool
from gateway.server import build_registry
from gateway.settings import AgentConfig, Config, ModelConfig, RoutingConfig, default_agents
from observability import tracefile
from observability.sdk import Telemetry
from tests.servers import running
from tests.test_routing_e2e import closing

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
TASK = (
    "Do both:\n1. Summarize this note about the cat that sat on the mat all day long.\n"
    "2. Echo the word hello."
)
SUMMARIZER = replace(next(a for a in default_agents() if a.name == "summarizer"), max_tokens=24)


class FarGateway:
    """``effmesh serve`` with the echo agent, tracing to a JSON-lines file."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.trace_file = folder / "traces.jsonl"
        config = folder / "effmesh.toml"
        config.write_text(
            f'[gateway]\nport = {self.port}\ndata_dir = "{folder}"\nrate_per_minute = 0\n'
            "health_interval_seconds = 0\n"
            '[telemetry]\nexporters = ["file"]\nservice_name = "far"\n'
            "[routing]\nenabled = false\n"
            '[[agents]]\nname = "echo"\nkind = "echo"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("EFFMESH_")}
        self.log = (folder / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the far gateway exited: " + self.stderr())
            try:
                if httpx.get(f"{self.base}/agents", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the far gateway did not start")

    def stderr(self) -> str:
        return (self.folder / "stderr.log").read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM, as an operator stops it: spans still batched are written on the way out."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        return self.process.returncode


def recorder(target: str, seen: list[dict[str, str]]) -> Starlette:
    """A pass-through in front of the real model server that notes each request's headers,
    so the test can see what reached the model server on the wire."""
    client = httpx.AsyncClient(base_url=target, timeout=120)

    async def forward(request: Request) -> Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        reply = await client.request(
            request.method,
            request.url.path,
            content=await request.body(),
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        return Response(
            reply.content, reply.status_code, media_type=reply.headers.get("content-type")
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    path = Route("/{path:path}", forward, methods=["GET", "POST"])
    return Starlette(routes=[path], lifespan=lifespan)


@pytest.fixture(scope="module")
def far(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FarGateway]:
    gateway = FarGateway(tmp_path_factory.mktemp("far"))
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def model_headers() -> list[dict[str, str]]:
    return []


@pytest.fixture(scope="module")
def near(
    model_url: str,
    far: FarGateway,
    model_headers: list[dict[str, str]],
    telemetry: Telemetry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    with running(lambda base: recorder(model_url, model_headers)) as model:
        config = Config(
            data_dir=str(tmp_path_factory.mktemp("near")),
            rate_per_minute=0,
            call_timeout_seconds=240,
            agents=(
                SUMMARIZER,
                AgentConfig("memory", "memory"),
                AgentConfig("relay", "a2a", url=f"{far.base}/a2a/echo"),
            ),
            models=(ModelConfig("default", "llamacpp", (model,), model=MODEL_ALIAS),),
            routing=RoutingConfig(planner="rules", skills=("summarizer.summarize", "relay.echo")),
        )
        models = ModelPool(config)
        registry = asyncio.run(build_registry(config, models))
        app = lambda base: closing(  # noqa: E731
            create_app(registry, config, base_url=base, metrics=telemetry.prometheus), models
        )
        with running(app) as url:
            yield url


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def parent_of(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


def ancestors(s: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    by_id = {x.context.span_id: x for x in spans}
    out = []
    while s.parent is not None and s.parent.span_id in by_id:
        s = by_id[s.parent.span_id]
        out.append(s.name)
    return out


def settle(spans: InMemorySpanExporter, name: str, timeout: float = 10) -> list[ReadableSpan]:
    """The finished spans once one named ``name`` has ended (the server ends its spans just
    after the client has its answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = list(spans.get_finished_spans())
        if any(s.name == name for s in done):
            return done
        time.sleep(0.02)
    raise AssertionError(f"no span {name!r}")


async def test_one_trace_covers_mcp_router_plan_subtasks_model_memory_and_the_far_a2a_agent(
    near: str, far: FarGateway, model_headers: list[dict[str, str]], spans: InMemorySpanExporter
) -> None:
    async with (
        httpx2.AsyncClient(timeout=240) as http,
        MCPClient(streamable_http_client(f"{near}/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("effmesh.run", {"task": TASK})
    assert result.is_error is False, result.content
    run = result.structured_content
    assert run is not None
    assert [s["skill"] for s in run["plans"][0]["subtasks"]] == [
        "summarizer.summarize",
        "relay.echo",
    ]
    assert {s["state"] for s in run["subtasks"]} == {"completed"}

    done = settle(spans, "mcp tools/call")
    client_span = by_name(done, "MCP send tools/call effmesh.run")
    trace_id = client_span.context.trace_id
    mine = [s for s in done if s.context.trace_id == trace_id]
    assert len(mine) >= 12

    # MCP client -> the gateway's request (tool calls on /mcp take the lean path, past the
    # SDK's session and its server span) -> the router agent.
    request = by_name(mine, "mcp tools/call")
    router = by_name(mine, "invoke_agent effmesh")
    assert parent_of(request) == client_span.context.span_id
    assert request.kind is trace.SpanKind.SERVER
    assert parent_of(by_name(mine, "translate mcp -> canonical")) == request.context.span_id
    assert parent_of(by_name(mine, "translate canonical -> mcp")) == request.context.span_id
    assert parent_of(router) == request.context.span_id
    assert request.attributes["gen_ai.agent.name"] == "effmesh"
    assert router.attributes["effmesh.outcome"] == "completed"

    # The routing decision and the plan, under the router.
    decision = by_name(mine, "routing decision")
    assert parent_of(decision) == router.context.span_id
    assert decision.attributes["effmesh.routing.strategy"] == "parallel"
    assert 0.0 <= decision.attributes["effmesh.routing.score"] <= 1.0
    factors = [k for k in decision.attributes if k.startswith("effmesh.routing.factor.")]
    assert len(factors) == 5
    plan = by_name(mine, "plan")
    assert parent_of(plan) == router.context.span_id
    assert plan.attributes["effmesh.plan.planner"] == "rules"
    assert plan.attributes["effmesh.plan.subtasks"] == 2

    # Two subtasks under the router, running at the same time.
    s1, s2 = by_name(mine, "subtask s1"), by_name(mine, "subtask s2")
    assert parent_of(s1) == parent_of(s2) == router.context.span_id
    assert s1.attributes["effmesh.subtask.skill"] == "summarizer.summarize"
    assert s2.attributes["effmesh.subtask.skill"] == "relay.echo"
    assert s1.start_time < s2.end_time, "not concurrent"
    assert s2.start_time < s1.end_time, "not concurrent"

    # s1: the specialist, its memory lookup and its model call on the local model server.
    summarizer = by_name(mine, "invoke_agent summarizer")
    assert parent_of(summarizer) == s1.context.span_id
    # Its memory lookup: a count of the caller's scope, which is empty here, so no search
    # (and no embedding) follows it.
    lookups = [
        s for s in mine
        if s.attributes.get("db.system.name") == "milvus"
        and s.attributes.get("db.operation.name") in ("count", "search")
    ]  # fmt: skip
    assert lookups
    assert all(parent_of(s) == summarizer.context.span_id for s in lookups)
    chats = [s for s in mine if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert chats
    for chat in chats:
        assert parent_of(chat) == summarizer.context.span_id
        assert chat.attributes["gen_ai.request.model"] == MODEL_ALIAS
        assert chat.attributes["gen_ai.provider.name"] == "llamacpp"
        assert chat.attributes["gen_ai.usage.input_tokens"] > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.usage.cache_read.input_tokens" in chat.attributes
        assert "gen_ai.input.messages" not in chat.attributes
    # Each model call's own span id reached the model server in its traceparent header.
    # (The flags byte may also carry W3C's "random trace id" bit.)
    sent = {h["traceparent"][:52] for h in model_headers if "traceparent" in h}
    for chat in chats:
        assert f"00-{trace_id:032x}-{chat.context.span_id:016x}" in sent

    # s2: the A2A agent in the other process continues the same trace under our call span.
    relay = by_name(mine, "invoke_agent relay")
    assert parent_of(relay) == s2.context.span_id
    assert far.stop() == 0
    records = list(tracefile.read([far.trace_file]))
    theirs = [r for r in records if r["trace_id"] == f"{trace_id:032x}"]
    served = [r for r in theirs if r["name"] == "a2a message"]
    assert len(served) == 1
    assert served[0]["parent_id"] == f"{relay.context.span_id:016x}"
    assert served[0]["kind"] == "SERVER"
    assert served[0]["service"] == "far"
    echo = [r for r in theirs if r["name"] == "invoke_agent echo"]
    assert echo
    assert echo[0]["parent_id"] == served[0]["span_id"]

    # No prompt text in any attribute (capture_content is off).
    for s in mine:
        for value in s.attributes.values():
            assert "mat all day" not in str(value), s.name
    for r in theirs:
        assert "hello back" not in str(r["attributes"])

    # `effmesh trace` prints the far side's tree from its file, by the echo task's id.
    task_id = echo[0]["attributes"]["effmesh.task_id"]
    shown = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "trace", task_id, "--file", str(far.trace_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = shown.splitlines()
    assert lines[0].startswith(f"trace {trace_id:032x}: ")
    assert lines[1].startswith("a2a message ")
    assert any(line.startswith("└─ invoke_agent echo ") for line in lines[2:])


async def test_metrics_count_requests_agents_and_model_tokens(near: str) -> None:
    async with (
        httpx2.AsyncClient(timeout=240) as http,
        MCPClient(streamable_http_client(f"{near}/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("summarizer.summarize", {"text": "A short note."})
    assert result.is_error is False
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{near}/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    lines = [line for line in text.splitlines() if not line.startswith("#")]

    def value(prefix: str, *labels: str) -> float:
        found = [
            float(line.rsplit(" ", 1)[1])
            for line in lines
            if line.startswith(prefix) and all(label in line for label in labels)
        ]
        assert found, f"{prefix} {labels}"
        return sum(found)

    assert (
        value(
            "effmesh_request_duration_seconds_count",
            'effmesh_protocol="mcp"',
            'gen_ai_agent_name="summarizer"',
            'effmesh_outcome="ok"',
        )
        >= 1
    )
    assert (
        value(
            "effmesh_agent_duration_seconds_count",
            'gen_ai_agent_name="summarizer"',
            'effmesh_outcome="completed"',
        )
        >= 1
    )
    assert value("effmesh_request_duration_seconds_count", 'effmesh_protocol="mcp"') >= 1
    assert value("gen_ai_client_token_usage", "_count", 'gen_ai_token_type="input"') >= 1
    assert value("effmesh_model_prompt_tokens_total") > 0
    assert value("effmesh_model_cached_tokens_total") >= 0
    ratios = [
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("effmesh_model_cache_hit_ratio{") and MODEL_ALIAS in line
    ]
    assert len(ratios) == 1  # one per model
    assert 0.0 <= ratios[0] <= 1.0
    assert "effmesh_tasks_active" in text
