"""A model server that misbehaves or dies: every fault becomes a clear error in the caller's
protocol within the timeout, the task is failed rather than left hanging, and the server's own
text never reaches the caller.

Faults come from a twin (a few lines of Starlette) whose behaviour the last user message
chooses; the kill test uses the real embedded llama.cpp server in its own process.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator

import pytest
from a2a.types import a2a_pb2 as pb
from mcp import Client as MCPClient
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.errors import InvalidParams, Timeout, Unsupported, UpstreamUnavailable
from adapters.model import Skill
from agents.llm.backend import ModelBackend
from agents.llm.embedded import EmbeddedModelServer
from agents.llm.wire import ChatRequest, Regex, ServerKind
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running, slow_a2a_client

pytestmark = pytest.mark.anyio

SECRET = "stack trace of the model server"
REPLY = {
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


def twin(base: str) -> Starlette:
    seen: dict[str, int] = {}

    async def chat(request: Request) -> Response:
        body = await request.json()
        mode = body["messages"][-1]["content"]
        seen[mode] = seen.get(mode, 0) + 1
        if mode == "500":
            return Response(SECRET, status_code=500)
        if mode == "flaky" and seen[mode] <= 2:
            return Response(SECRET, status_code=503)
        if mode == "slow":
            await asyncio.sleep(2)
        if mode == "garbled":
            return Response(b"\x00<html>" + SECRET.encode(), media_type="text/html")
        if mode == "shape":
            return JSONResponse({"choices": SECRET})
        if mode == "400":
            return JSONResponse({"error": SECRET}, status_code=400)
        if mode == "cut":

            async def cut() -> AsyncIterator[bytes]:
                yield b'data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\n'
                raise RuntimeError(SECRET)

            return StreamingResponse(cut(), media_type="text/event-stream")
        return JSONResponse(REPLY)

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture(scope="module")
def twin_url() -> Iterator[str]:
    with running(twin) as url:
        yield url


def ask(mode: str) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": mode}], max_tokens=4)


def llm(url: str, **kw: float) -> ModelBackend:
    settings: dict[str, float] = {"timeout": 5.0, "retries": 2, "backoff": 0.01, **kw}
    return ModelBackend(
        [url],
        kind=ServerKind.LLAMACPP,
        timeout=settings["timeout"],
        retries=int(settings["retries"]),
        backoff=settings["backoff"],
    )


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("500", UpstreamUnavailable),
        ("garbled", UpstreamUnavailable),
        ("shape", UpstreamUnavailable),
        ("400", InvalidParams),
    ],
)
async def test_a_bad_reply_is_a_clear_error_without_the_servers_text(
    twin_url: str, mode: str, error: type[Exception]
) -> None:
    backend = llm(twin_url)
    with pytest.raises(error) as raised:
        await backend.chat(ask(mode))
    await backend.aclose()
    assert SECRET not in str(raised.value)


async def test_5xx_replies_are_retried_with_backoff_until_one_succeeds(twin_url: str) -> None:
    backend = llm(twin_url)
    reply = await backend.chat(ask("flaky"))
    await backend.aclose()
    assert reply.text == "ok"


async def test_a_slow_server_times_out_within_the_timeout(twin_url: str) -> None:
    backend = llm(twin_url, timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Timeout):
        await backend.chat(ask("slow"))
    await backend.aclose()
    assert loop.time() - started < 5


async def test_a_stream_cut_after_its_first_chunk_is_an_error_not_a_retry(twin_url: str) -> None:
    backend = llm(twin_url)
    got: list[str] = []

    async def read() -> None:
        async for chunk in backend.stream(ask("cut")):
            got.append(chunk.text)

    with pytest.raises(UpstreamUnavailable):
        await read()
    await backend.aclose()
    assert got == ["par"]


async def test_a_constraint_the_server_would_ignore_is_refused_before_sending(
    twin_url: str,
) -> None:
    backend = llm(twin_url)
    with pytest.raises(Unsupported):
        await backend.chat(ChatRequest([{"role": "user", "content": "x"}], constraint=Regex("a+")))
    await backend.aclose()


async def test_an_mcp_caller_gets_a_protocol_error_for_a_garbled_model(twin_url: str) -> None:
    registry = Registry()
    spec = SpecialistSpec("bot", "Be brief.", (Skill("ask"),))
    registry.add(SpecialistAgent(spec, llm(twin_url)))
    with running(lambda base: create_app(registry, base_url=base)) as url:
        async with MCPClient(f"{url}/mcp") as client:
            with pytest.raises(MCPError) as raised:
                await client.call_tool("bot.ask", {"text": "garbled"})
    assert SECRET not in raised.value.message


async def test_the_model_server_killed_mid_reply_fails_the_a2a_task() -> None:
    server = EmbeddedModelServer(parallel=1, context=2048)
    await server.start()
    registry = Registry()
    spec = SpecialistSpec(
        "writer", "You write long essays.", (Skill("write"),), max_tokens=1500, temperature=0.8
    )
    registry.add(SpecialistAgent(spec, llm(server.url, timeout=60.0)))
    try:
        with running(lambda base: create_app(registry, base_url=base)) as url:
            req = pb.SendMessageRequest(
                message=pb.Message(
                    message_id="m-1",
                    role=pb.ROLE_USER,
                    parts=[pb.Part(text="Write a very long essay about rivers.")],
                )
            )
            states = []
            async with slow_a2a_client(f"{url}/a2a/writer") as client:
                async with asyncio.timeout(60):
                    async for response in client.send_message(req):
                        if response.HasField("artifact_update") and server.pid is not None:
                            os.kill(server.pid, signal.SIGKILL)  # mid-reply
                        if response.HasField("status_update"):
                            states.append(response.status_update.status)
    finally:
        await server.stop()
    assert states[-1].state == pb.TASK_STATE_FAILED
    assert "model server" in states[-1].message.parts[0].text
