"""Trace context across every protocol and WebSocket endpoint, malformed context ignored, and
the telemetry pieces on their own (settings, the JSON-lines file, ``effmesh trace``'s tree,
content capture, sampling, ``/metrics``, OTLP export from ``effmesh serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message as ACPMessage
from acp_sdk.models import MessagePart
from mcp import Client as MCPClient
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agents.echo import EchoAgent
from agents.llm.embedded import free_port
from gateway.app import create_app
from gateway.mcp.ws import websocket_client
from gateway.registry import Registry
from gateway.settings import SettingsError, load
from observability import tracefile, tracing
from observability.genai import ModelCall
from observability.jsonlines import JsonLinesSpanExporter
from observability.settings import TelemetryConfig
from tests.servers import behind_remotes, running
from tests.test_gateway_mesh import PeerThread

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
MALFORMED = (
    "garbage",
    f"00-{'0' * 32}-{PARENT}-01",  # an all-zero trace id is invalid
    f"00-{TRACE}-{'0' * 16}-01",  # so is an all-zero parent id
    f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
    f"00-{TRACE.upper()}-{PARENT}-01",  # upper case hex is not W3C
    f"00-{TRACE}-{PARENT}-01-" + "x" * 5000,
)


def acp_run(agent: str = "echo.echo", **metadata: object) -> dict[str, object]:
    """An ACP RunCreateRequest body, sync, saying "hi"."""
    body: dict[str, object] = {
        "agent_name": agent,
        "mode": "sync",
        "input": [{"role": "user", "parts": [{"content": "hi"}]}],
    }
    if metadata:
        body["metadata"] = metadata
    return body


def a2a_frame(traceparent: str) -> str:
    """A2A ``SendMessage`` over ``/a2a/ws`` to the echo agent, with ``traceparent`` in the
    message metadata."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": "m1",
                    "role": "ROLE_USER",
                    "parts": [{"text": "hi"}],
                    "metadata": {"traceparent": traceparent},
                },
                "metadata": {"effmesh.skill": "echo.echo"},
            },
        }
    )


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    registry = Registry()
    registry.add(EchoAgent())
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url


SESSION_OPENING = frozenset(
    # The handshake era's opening, or the 2026-07-28 one's (the era is found by discover first).
    {
        "MCP send initialize",
        "initialize",
        "notifications/initialized",
        "MCP send server/discover",
        "server/discover",
    }
)


def settle(spans: InMemorySpanExporter, name: str, count: int = 1) -> list[ReadableSpan]:
    """Finished spans once ``count`` named ``name`` have ended (servers end their spans just
    after the client has its answer)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = list(spans.get_finished_spans())
        if sum(s.name == name for s in done) >= count:
            return done
        time.sleep(0.02)
    raise AssertionError(f"no span {name!r} in {[s.name for s in spans.get_finished_spans()]}")


def one(done: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in done if s.name == name]
    assert len(found) == 1, [s.name for s in done]
    return found[0]


def continues_the_caller(s: ReadableSpan) -> None:
    assert f"{s.context.trace_id:032x}" == TRACE
    assert s.parent is not None
    assert f"{s.parent.span_id:016x}" == PARENT
    assert s.parent.is_remote
    assert s.kind is trace.SpanKind.SERVER


def call_under(done: list[ReadableSpan], request: ReadableSpan, agent: str = "echo") -> None:
    """The agent call is the request span's child, in the same trace."""
    call = one(done, f"invoke_agent {agent}")
    assert call.attributes["effmesh.outcome"] == "completed"
    assert call.parent is not None
    assert call.parent.span_id == request.context.span_id
    assert call.context.trace_id == request.context.trace_id


# --- context across protocols ----------------------------------------------------------


async def test_acp_over_http_continues_the_trace_in_its_headers(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    async with ACPClient(base_url=f"{gateway}/acp", headers={"traceparent": TRACEPARENT}) as client:
        run = await client.run_sync(
            ACPMessage(parts=[MessagePart(content="hi", content_type="text/plain")]),
            agent="echo.echo",
        )
    assert run.output[0].parts[0].content == "hi"
    done = settle(spans, "invoke_agent echo")
    request = one(done, "acp runs/create")
    continues_the_caller(request)
    call_under(done, request)
    assert one(done, "translate acp -> canonical").parent.span_id == request.context.span_id  # type: ignore[union-attr]


async def test_acp_run_metadata_carries_the_trace_where_there_are_no_headers(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    body = acp_run(traceparent=TRACEPARENT)
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{gateway}/acp/runs", json=body)
    assert reply.json()["status"] == "completed"
    done = settle(spans, "invoke_agent echo")
    continues_the_caller(one(done, "acp runs/create"))


async def test_a2a_over_http_continues_the_trace_in_message_metadata(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    client = await create_client(f"{gateway}/a2a/echo", client_config=ClientConfig(streaming=False))
    request = pb.SendMessageRequest(
        message=pb.Message(message_id="m1", role=pb.ROLE_USER, parts=[pb.Part(text="hi")])
    )
    request.message.metadata.update({"traceparent": TRACEPARENT})
    request.metadata.update({"effmesh.skill": "echo"})
    async with client:
        async for response in client.send_message(request):
            task = response.task
    assert task.status.state == pb.TASK_STATE_COMPLETED
    done = settle(spans, "invoke_agent echo")
    served = one(done, "a2a message")
    continues_the_caller(served)
    call_under(done, served)
    assert served.attributes["effmesh.task_id"] == task.id


async def test_a2a_over_websocket_continues_the_trace(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    ws_url = gateway.replace("http://", "ws://") + "/a2a/ws"
    async with websockets.connect(ws_url, subprotocols=[websockets.Subprotocol("a2a")]) as ws:
        await ws.send(a2a_frame(TRACEPARENT))
        reply = json.loads(await ws.recv())
    assert reply["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    done = settle(spans, "invoke_agent echo")
    request = one(done, "a2a SendMessage")
    continues_the_caller(request)
    call_under(done, request)


async def test_acp_over_websocket_continues_the_trace_in_run_metadata(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    body = acp_run(traceparent=TRACEPARENT)
    ws_url = gateway.replace("http://", "ws://") + "/acp/ws"
    async with websockets.connect(ws_url, subprotocols=[websockets.Subprotocol("acp")]) as ws:
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "runs/create", "params": body})
        )
        reply = json.loads(await ws.recv())
    assert reply["result"]["status"] == "completed"
    done = settle(spans, "invoke_agent echo")
    request = one(done, "acp runs/create")
    continues_the_caller(request)
    call_under(done, request)


async def test_mcp_over_websocket_continues_the_callers_span(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    ws_url = gateway.replace("http://", "ws://") + "/mcp/ws"
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        async with MCPClient(websocket_client(ws_url)) as client:
            result = await client.call_tool("echo.echo", {"text": "hi"})
    assert result.is_error is False
    done = settle(spans, "invoke_agent echo")
    request = one(done, "mcp tools/call")
    assert request.context.trace_id == caller.get_span_context().trace_id
    sent = one(done, "MCP send tools/call echo.echo")
    assert request.parent is not None
    assert request.parent.span_id == sent.context.span_id
    assert request.kind is trace.SpanKind.SERVER
    call_under(done, request)


async def test_a_dial_in_agent_continues_the_trace_over_the_mesh_socket(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    peer = PeerThread(gateway.replace("http://", "ws://") + "/ws")
    try:
        await asyncio.to_thread(peer.wait_registered)
        body = acp_run("far.echo")
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                f"{gateway}/acp/runs", json=body, headers={"traceparent": TRACEPARENT}
            )
        assert reply.json()["status"] == "completed"
        done = settle(spans, "mesh mesh/run")
    finally:
        await asyncio.to_thread(peer.stop)
    call = one(done, "invoke_agent far")
    served = one(done, "mesh mesh/run")
    assert f"{served.context.trace_id:032x}" == TRACE
    assert served.parent is not None
    assert served.parent.span_id == call.context.span_id
    assert served.kind is trace.SpanKind.SERVER


@pytest.fixture(scope="module")
def behind() -> Iterator[str]:
    with behind_remotes(EchoAgent()) as url:
        yield url


@pytest.mark.parametrize(
    ("remote", "served"),
    [
        ("up_mcp.echo.echo", "mcp tools/call"),
        ("up_a2a.echo", "a2a message"),
        ("up_acp.echo.echo", "acp runs/create"),
    ],
)
async def test_remote_agents_of_every_protocol_continue_the_trace_upstream(
    behind: str, spans: InMemorySpanExporter, remote: str, served: str
) -> None:
    body = acp_run(remote)
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            f"{behind}/acp/runs", json=body, headers={"traceparent": TRACEPARENT}
        )
    assert reply.json()["status"] == "completed"
    done = settle(spans, "invoke_agent echo")
    # A remote MCP agent's session is opened once for all its callers, in a trace of its own.
    done = [s for s in done if s.name not in SESSION_OPENING]
    assert {f"{s.context.trace_id:032x}" for s in done} == {TRACE}
    remote = remote.split(".", maxsplit=1)[0]
    call = one(done, f"invoke_agent {remote}")
    upstream = one(done, served) if served != "acp runs/create" else None
    if upstream is None:  # both gateways answer ACP: the upstream's is the later request
        upstream = max((s for s in done if s.name == served), key=lambda s: s.start_time or 0)
    by_id = {s.context.span_id: s for s in done}
    chain = []
    node = upstream
    while node.parent is not None and node.parent.span_id in by_id:
        node = by_id[node.parent.span_id]
        chain.append(node.name)
    assert f"invoke_agent {remote}" in chain
    assert call.parent is not None
    echo = one(done, "invoke_agent echo")
    assert echo.parent is not None
    assert echo.parent.span_id == upstream.context.span_id


# --- malformed context -----------------------------------------------------------------


@pytest.mark.parametrize("bad", MALFORMED)
async def test_a_malformed_traceparent_is_ignored_and_the_call_still_runs(
    gateway: str, spans: InMemorySpanExporter, bad: str
) -> None:
    body = acp_run(traceparent=bad, tracestate="k=" + "v" * 600)
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{gateway}/acp/runs", json=body)
        assert reply.json()["status"] == "completed"
        assert reply.json()["output"][0]["parts"][0]["content"] == "hi"
        ws_url = gateway.replace("http://", "ws://") + "/a2a/ws"
        async with websockets.connect(ws_url, subprotocols=[websockets.Subprotocol("a2a")]) as ws:
            await ws.send(a2a_frame(bad))
            assert "result" in json.loads(await ws.recv())
    done = settle(spans, "invoke_agent echo", count=2)
    for name in ("acp runs/create", "a2a SendMessage"):
        request = one(done, name)
        assert request.parent is None, name
        assert f"{request.context.trace_id:032x}" != TRACE
        assert request.context.trace_id != 0


async def test_a_traceparent_that_is_not_a_string_is_ignored(
    gateway: str, spans: InMemorySpanExporter
) -> None:
    body = acp_run(traceparent={"nested": TRACEPARENT})
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{gateway}/acp/runs", json=body)
    assert reply.json()["status"] == "completed"
    assert one(settle(spans, "invoke_agent echo"), "acp runs/create").parent is None


# --- settings ----------------------------------------------------------------------------


def test_telemetry_settings_parse_and_refuse_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(
        "[telemetry]\n"
        'exporters = ["file", "otlp-http", "file"]\n'
        'otlp_endpoint = "http://collector:4318"\n'
        'otlp_headers = {x-key = "k"}\n'
        "sample_ratio = 0.25\n"
        "capture_content = true\n"
    )
    cfg = load(path).telemetry
    assert cfg.exporters == ("file", "otlp-http")
    assert cfg.otlp_headers == (("x-key", "k"),)
    assert cfg.sample_ratio == 0.25
    path.write_text("[telemetry]\nexporters = []\n")
    assert load(path).telemetry.tracing is False
    for table, key in (
        ('exporters = ["jaeger"]', "exporters[0]"),
        ('exporters = "file"', "exporters"),
        ("sample_ratio = 2", "sample_ratio"),
        ("sample_ratio = true", "sample_ratio"),
        ('sample_ratio = "all"', "sample_ratio"),
        ('capture_content = "yes"', "capture_content"),
        ("otlp_headers = {a = 1}", "otlp_headers"),
        ("file_max_mb = 0", "file_max_mb"),
        ('exporter = ["file"]', "exporter"),
    ):
        path.write_text(f"[telemetry]\n{table}\n")
        with pytest.raises(SettingsError) as info:
            load(path)
        assert info.value.key == f"telemetry.{key}"
    assert load(None).telemetry == TelemetryConfig()


# --- the trace file and effmesh trace ------------------------------------------------------


def local_provider(*exporters: object, ratio: float = 1.0) -> TracerProvider:
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    return provider


def test_the_trace_file_holds_one_line_per_span_and_prints_as_a_tree(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    provider = local_provider(JsonLinesSpanExporter(path))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("mcp tools/call", kind=trace.SpanKind.SERVER),
        tracer.start_as_current_span("invoke_agent effmesh", attributes={"effmesh.task_id": "t-1"}),
    ):
        with tracer.start_as_current_span("subtask s1"):
            pass
        with tracer.start_as_current_span("subtask s2") as failing:
            failing.set_status(trace.Status(trace.StatusCode.ERROR))
    with tracer.start_as_current_span("another trace"):
        pass
    provider.shutdown()
    with path.open("a") as f:
        f.write('{"torn line\n')
    records = list(tracefile.read([path]))
    assert len(records) == 5
    (trace_id,) = tracefile.trace_ids(records, "t-1")
    assert tracefile.trace_ids(records, trace_id) == [trace_id]
    assert tracefile.trace_ids(records, "t-unknown") == []
    text = tracefile.render(tracefile.tree(records, trace_id), trace_id)
    lines = text.splitlines()
    assert lines[0].startswith(f"trace {trace_id}: 4 spans, ")
    assert lines[1].startswith("mcp tools/call ")
    assert "server" in lines[1]
    assert lines[2].startswith("└─ invoke_agent effmesh ")
    assert lines[3].startswith("   ├─ subtask s1 ")
    assert lines[4].startswith("   └─ subtask s2 ")
    assert lines[4].endswith("ERROR")

    shown = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "trace", "t-1", "--file", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0
    assert shown.stdout.splitlines()[1:] == lines[1:]
    missing = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "trace", "t-2", "--file", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "no spans of 't-2'" in missing.stderr


def test_the_trace_file_rolls_over_and_both_parts_are_read(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    provider = local_provider(JsonLinesSpanExporter(path, max_bytes=2000))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root", attributes={"effmesh.task_id": "big"}):
        for i in range(30):
            with tracer.start_as_current_span(f"child {i}"):
                pass
    provider.shutdown()
    assert path.with_name("traces.jsonl.1").exists()
    assert path.stat().st_size < 4000
    records = list(tracefile.read([path]))
    (trace_id,) = tracefile.trace_ids(records, "big")
    (root,) = tracefile.tree(records, trace_id)
    # Only one old file is kept, so the oldest children may be gone; the rest hang together.
    assert root.record["name"] == "root"
    assert root.children


# --- content, sampling, metrics, OTLP --------------------------------------------------------


def test_prompt_text_reaches_model_spans_only_when_turned_on(
    spans: InMemorySpanExporter,
) -> None:
    messages = [{"role": "user", "content": "a secret prompt"}]

    def call() -> ReadableSpan:
        model = ModelCall(
            operation="chat",
            provider="sglang",
            model="m",
            server="http://gpu:30000",
            max_tokens=8,
            temperature=0.0,
            messages=messages,
        )
        model.finish(
            input_tokens=5,
            output_tokens=2,
            cached_tokens=3,
            finish_reason="stop",
            response_model="m",
            text="an answer",
        )
        return spans.get_finished_spans()[-1]

    off = call()
    assert "gen_ai.input.messages" not in off.attributes
    assert "gen_ai.output.messages" not in off.attributes
    assert off.attributes["server.address"] == "gpu"
    assert off.attributes["server.port"] == 30000
    assert off.attributes["gen_ai.usage.cache_read.input_tokens"] == 3
    tracing.enable_content(True)
    try:
        on = call()
    finally:
        tracing.enable_content(False)
    assert json.loads(str(on.attributes["gen_ai.input.messages"])) == messages
    assert "an answer" in str(on.attributes["gen_ai.output.messages"])


def test_sampling_keeps_a_share_of_new_traces_and_follows_the_callers_flag() -> None:
    kept = InMemorySpanExporter()
    tracer = local_provider(kept, ratio=0.0).get_tracer("test")
    with tracer.start_as_current_span("new root"):
        pass
    assert kept.get_finished_spans() == ()
    for flags, expected in (("01", 1), ("00", 0)):
        carrier = {"traceparent": f"00-{TRACE}-{PARENT}-{flags}"}
        parent = tracing._wire_context(carrier)
        assert parent is not None
        with tracer.start_as_current_span("continued", context=parent):
            pass
        assert len(kept.get_finished_spans()) == expected
        kept.clear()


async def test_metrics_are_404_when_off_and_behind_the_token_when_on(
    telemetry: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry()
    registry.add(EchoAgent())
    with running(lambda base: create_app(registry, base_url=base)) as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/metrics")).status_code == 404
    from gateway.settings import Config

    monkeypatch.setenv("EFFMESH_TOKEN", "metrics-token")
    config = Config(rate_per_minute=0, operators=("default",))
    render = telemetry.prometheus  # type: ignore[attr-defined]
    with running(lambda base: create_app(registry, config, base_url=base, metrics=render)) as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/metrics")).status_code == 401
            ok = await http.get(f"{url}/metrics", headers={"Authorization": "Bearer metrics-token"})
    assert ok.status_code == 200
    assert "# TYPE effmesh_request_duration_seconds histogram" in ok.text


class Collector:
    """An OTLP endpoint, over HTTP (protobuf bodies) or gRPC, that decodes what it receives."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.services: set[str] = set()
        self.got = threading.Event()

    def take(self, message: ExportTraceServiceRequest) -> None:
        for resource in message.resource_spans:
            for attr in resource.resource.attributes:
                if attr.key == "service.name":
                    self.services.add(attr.value.string_value)
            for scope in resource.scope_spans:
                self.names += [s.name for s in scope.spans]
        self.got.set()

    def app(self) -> Starlette:
        async def traces(request: Request) -> Response:
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            message = ExportTraceServiceRequest()
            message.ParseFromString(body)
            self.take(message)
            return Response(b"", 200, media_type="application/x-protobuf")

        async def metrics(request: Request) -> Response:
            return Response(b"", 200, media_type="application/x-protobuf")

        return Starlette(
            routes=[
                Route("/v1/traces", traces, methods=["POST"]),
                Route("/v1/metrics", metrics, methods=["POST"]),
            ]
        )

    @contextlib.contextmanager
    def grpc(self) -> Iterator[str]:
        collector = self

        class Traces(trace_grpc.TraceServiceServicer):
            def Export(
                self, request: ExportTraceServiceRequest, context: object
            ) -> ExportTraceServiceResponse:
                collector.take(request)
                return ExportTraceServiceResponse()

        server = grpc.server(ThreadPoolExecutor(2))
        trace_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop(None)


@contextlib.contextmanager
def exporting(kind: str, collector: Collector) -> Iterator[str]:
    """The ``[telemetry]`` lines for exporter ``kind``, with its collector running."""
    if kind == "otlp-http":
        with running(lambda base: collector.app()) as endpoint:
            yield f'exporters = ["otlp-http"]\notlp_endpoint = "{endpoint}"\n'
    elif kind == "otlp-grpc":
        with collector.grpc() as endpoint:
            yield f'exporters = ["otlp-grpc"]\notlp_endpoint = "{endpoint}"\n'
    else:
        yield 'exporters = ["console"]\n'


@pytest.mark.parametrize("kind", ["otlp-http", "otlp-grpc", "console"])
def test_effmesh_serve_exports_spans_where_it_is_told(tmp_path: Path, kind: str) -> None:
    collector = Collector()
    with exporting(kind, collector) as lines:
        port = free_port()
        config = tmp_path / "effmesh.toml"
        config.write_text(
            f'[gateway]\nport = {port}\ndata_dir = "{tmp_path}"\nrate_per_minute = 0\n'
            f'health_interval_seconds = 0\n[telemetry]\n{lines}service_name = "gw-{kind}"\n'
            '[routing]\nenabled = false\n[[agents]]\nname = "echo"\nkind = "echo"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EFFMESH_", "OTEL_"))}
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/agents", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            run = httpx.post(f"{base}/acp/runs", json=acp_run(), timeout=10).json()
            assert run["status"] == "completed"
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
        stderr = err.decode(errors="replace")
        assert process.returncode == 0, stderr
        if kind == "console":
            printed = _objects(stderr)
            collector.names += [p["name"] for p in printed]
            collector.services |= {p["resource"]["attributes"]["service.name"] for p in printed}
            collector.got.set()
        assert collector.got.wait(10)
    assert "acp runs/create" in collector.names
    assert "invoke_agent echo" in collector.names
    assert collector.services == {f"gw-{kind}"}


def _objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects the console exporter printed (one indented object per span)."""
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = 0
    while (i := text.find("{\n", i)) != -1:
        try:
            value, i = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        if isinstance(value, dict) and "name" in value:
            out.append(value)
    return out


async def test_an_untraced_gateway_passes_the_callers_context_on_unchanged(
    spans: InMemorySpanExporter,
) -> None:
    from adapters.model import (
        AgentDescriptor,
        Invocation,
        Message,
        Skill,
        StreamItem,
        TextPart,
        TraceContext,
    )
    from agents.base import Agent
    from gateway.runtime import calls

    seen: list[TraceContext | None] = []

    class Recorder(Agent):
        descriptor = AgentDescriptor("rec", (Skill("look", "notes the trace it gets"),))

        async def run(self, invocation: Invocation, *, task_id: str):  # type: ignore[no-untyped-def]
            seen.append(invocation.trace)
            yield Message("agent", (TextPart("ok"),))

    registry = Registry()
    registry.add(Recorder())  # type: ignore[arg-type]
    route = registry.route("rec.look", None)
    incoming = TraceContext(TRACEPARENT, "k=v")
    invocation = Invocation("look", Message("user", (TextPart("hi"),)), trace=incoming)

    async def call() -> list[StreamItem]:
        return [item async for item in calls.stream(route, invocation, "t", scope="s")]

    tracing.enable_recording(False)
    try:
        await call()
    finally:
        tracing.enable_recording(True)
    assert seen[0] == incoming
    assert spans.get_finished_spans() == ()
    await call()  # traced: the agent gets its own call span's context to pass on
    assert seen[1] is not None
    assert seen[1].traceparent != TRACEPARENT
    assert spans.get_finished_spans()[-1].name == "invoke_agent rec"
