"""Replicas behind the real ``smg`` router (SGLang's model gateway, on CPU) in front of two
llama.cpp workers: the same backend code reaches them through one URL, streaming included,
and the cache-aware policy keeps a shared prompt prefix on the worker that holds it."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS, EmbeddedModelServer, free_port
from agents.llm.wire import ChatRequest, JsonSchema, ServerKind

pytestmark = pytest.mark.anyio
SMG = shutil.which("smg", path=str(Path(sys.executable).parent))


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            try:
                if (await http.get(f"{url}/readiness")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def router() -> Iterator[str]:
    assert SMG is not None, "make install puts smg in the venv"
    workers = [EmbeddedModelServer(parallel=1, context=2048, threads=1) for _ in range(2)]

    async def start() -> None:
        await asyncio.gather(*(w.start() for w in workers))

    asyncio.run(start())
    port = free_port()
    command = [
        SMG, "launch", "--host", "127.0.0.1", "--port", str(port),
        "--worker-urls", *(w.url for w in workers),
        "--policy", "cache_aware",
        "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()),
        "--worker-startup-check-interval", "1",
        "--log-level", "warn",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(asyncio.wait_for(_ready(url), 30))
        yield url
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

        async def stop() -> None:
            await asyncio.gather(*(w.stop() for w in workers))

        asyncio.run(stop())


@pytest.fixture
async def backend(router: str) -> AsyncIterator[ModelBackend]:
    llm = ModelBackend([router], kind=ServerKind.LLAMACPP, model=MODEL_ALIAS, timeout=60)
    yield llm
    await llm.aclose()


async def test_a_chat_completion_goes_through_the_router(backend: ModelBackend) -> None:
    reply = await backend.chat(ChatRequest([{"role": "user", "content": "Say hi"}], max_tokens=4))
    assert reply.usage.completion_tokens > 0


async def test_a_stream_and_a_schema_constraint_pass_through_the_router(
    backend: ModelBackend,
) -> None:
    chunks = [
        c
        async for c in backend.stream(
            ChatRequest([{"role": "user", "content": "Count to three"}], max_tokens=6)
        )
    ]
    assert chunks[-1].usage is not None
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    reply = await backend.chat(
        ChatRequest([{"role": "user", "content": "Is water wet?"}], constraint=JsonSchema(schema))
    )
    assert reply.text.replace(" ", "").replace("\n", "") in ('{"ok":true}', '{"ok":false}')


async def test_repeated_calls_with_one_prefix_hit_the_cache_through_the_router(
    backend: ModelBackend,
) -> None:
    system = {"role": "system", "content": "You answer questions about the router. " * 15}
    replies = []
    for question in ("One?", "Two?", "Three?", "Four?"):
        replies.append(
            await backend.chat(
                ChatRequest([system, {"role": "user", "content": question}], max_tokens=2)
            )
        )
    warm = replies[1:]
    assert all(r.usage.cached_tokens >= r.usage.prompt_tokens // 2 for r in warm)
