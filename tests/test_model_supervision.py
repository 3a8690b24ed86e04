"""The embedded model server is supervised: killed, it is reaped at once, reported down, calls
fail fast with a clear error, and it comes back by itself on the same address."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from adapters.errors import UpstreamUnavailable
from agents.llm.embedded import EmbeddedModelServer, State
from agents.llm.wire import ChatRequest
from gateway.app import create_app
from gateway.models import ModelPool
from gateway.registry import Registry
from gateway.settings import Config, ModelConfig
from tests.servers import running

pytestmark = pytest.mark.anyio


async def _until(server: EmbeddedModelServer, *states: State, within: float = 90.0) -> None:
    async with asyncio.timeout(within):
        while server.state not in states:
            await server.changed.wait()


def _zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    return "\nState:\tZ" in status.read_text()


def _hello() -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": "Say hi."},), max_tokens=4)


async def test_a_killed_model_server_is_reaped_reported_and_restarted() -> None:
    pool = ModelPool(Config(models=(ModelConfig("tiny", parallel=1, context=1024),)))
    backend, _ = await pool.backend("tiny")
    server = pool.servers[0]
    registry = Registry()
    try:
        with running(lambda base: create_app(registry, base_url=base, models=pool.health)) as url:
            async with httpx.AsyncClient() as http:
                before = (await http.get(f"{url}/agents")).json()["models"]
                first = server.pid
                address = server.url
                assert first is not None
                os.kill(first, signal.SIGKILL)
                await _until(server, "down", "starting")
                assert not _zombie(first)
                during = (await http.get(f"{url}/agents")).json()["models"]
                with pytest.raises(UpstreamUnavailable) as refused:
                    await backend.chat(_hello())
                await _until(server, "up")
                after = (await http.get(f"{url}/agents")).json()["models"]
            reply = await backend.chat(_hello())
    finally:
        await pool.aclose()
    assert before == [{"name": "tiny", "state": "up", "restarts": 0}]
    assert during == [{"name": "tiny", "state": "down", "restarts": 0}]
    assert "down" in refused.value.public_message
    assert after == [{"name": "tiny", "state": "up", "restarts": 1}]
    assert server.url == address
    assert server.pid != first
    assert reply.usage.completion_tokens > 0
    assert server.state == "stopped"


async def test_a_stopped_server_is_not_restarted() -> None:
    server = EmbeddedModelServer(parallel=1, context=1024)
    await server.start()
    pid = server.pid
    await server.stop()
    assert server.state == "stopped"
    assert not server.running
    assert pid is not None
    assert not _zombie(pid)
    assert server.unavailable() is not None
