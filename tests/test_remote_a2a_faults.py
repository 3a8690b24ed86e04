"""A remote A2A agent that misbehaves: the gateway's JSON-RPC client turns each fault into a
clear error in the caller's protocol, never the peer's text, and keeps serving.

The peer is a fault-injecting twin (a few lines of Starlette): what it answers is chosen by
the message text. Well-behaved peers are covered by the matrix tests against real gateways.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from mcp import Client
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.remote import RemoteA2AAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from tests.servers import running

SECRET = "internal detail the caller must never see"


def faulty_peer(base: str) -> Starlette:
    card = {
        "name": "faulty",
        "description": "answers badly on purpose",
        "version": "1",
        "supportedInterfaces": [
            {"url": f"{base}/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "run", "name": "run", "description": "d", "tags": ["t"]}],
    }

    async def card_endpoint(request: Request) -> Response:
        return JSONResponse(card)

    async def rpc(request: Request) -> Response:
        body = json.loads(await request.body())
        text = body["params"]["message"]["parts"][0]["text"]
        rid = body["id"]
        if text == "garbage":
            return Response(b"<html>" + SECRET.encode(), media_type="text/html")
        if text == "500":
            return Response(SECRET, status_code=500)
        if text == "shape":
            return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": {"neither": SECRET}})
        if text == "error":
            error = {"code": -32001, "message": "task not found"}
            return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": error})
        if text == "slow":
            await asyncio.sleep(1.5)
        if text == "broken-stream" and body["method"] == "SendStreamingMessage":
            # A snapshot and a working status, then a line that is not JSON-RPC.
            snapshot = {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_SUBMITTED"}}
            working = {"taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}
            lines = [
                {"jsonrpc": "2.0", "id": rid, "result": {"task": snapshot}},
                {"jsonrpc": "2.0", "id": rid, "result": {"statusUpdate": working}},
            ]
            sse = "".join(f"data: {json.dumps(line)}\n\n" for line in lines)
            return Response(f"{sse}data: {SECRET}\n\n", media_type="text/event-stream")
        task = {
            "id": "t1",
            "contextId": "c1",
            "status": {"state": "TASK_STATE_COMPLETED"},
            "artifacts": [{"artifactId": "a", "parts": [{"text": text}]}],
        }
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": {"task": task}})

    return Starlette(
        routes=[
            Route("/.well-known/agent-card.json", card_endpoint),
            Route("/rpc", rpc, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with running(faulty_peer) as peer:
        remote = RemoteA2AAgent("faulty", peer, timeout=0.5)
        asyncio.run(remote.connect())
        registry = Registry()
        registry.add(remote)
        config = Config(rate_per_minute=0)
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url


async def _call(gateway: str, text: str) -> tuple[int, str, object]:
    async with Client(f"{gateway}/mcp") as client:
        try:
            result = await client.call_tool("faulty.run", {"text": text})
        except MCPError as exc:
            return exc.error.code, exc.error.message, exc.error.data
    return 0, result.content[0].text, None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fault", "code", "effmesh_code"),
    [
        ("garbage", -32013, "upstream_unavailable"),
        ("500", -32013, "upstream_unavailable"),
        ("shape", -32013, "upstream_unavailable"),
        ("error", -32602, "not_found"),
        ("slow", -32001, "timeout"),
    ],
)
def test_a_misbehaving_a2a_peer_is_a_clear_mcp_error(
    gateway: str, fault: str, code: int, effmesh_code: str
) -> None:
    got, message, data = asyncio.run(_call(gateway, fault))
    assert got == code
    assert isinstance(data, dict)
    assert data["effmesh_code"] == effmesh_code
    assert SECRET not in message


def test_the_gateway_keeps_serving_after_the_faults(gateway: str) -> None:
    assert asyncio.run(_call(gateway, "fine")) == (0, "fine", None)


@pytest.mark.anyio
async def test_a_broken_stream_ends_once_with_one_failure(gateway: str) -> None:
    """The caller's task is the peer's first snapshot; the break fails it once, and the
    submitted snapshot is not sent again."""
    config = ClientConfig(streaming=True, supported_protocol_bindings=["JSONRPC"])
    async with await create_client(f"{gateway}/a2a/faulty", client_config=config) as client:
        req = pb.SendMessageRequest(
            message=pb.Message(
                message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text="broken-stream")]
            )
        )
        events = [r async for r in client.send_message(req)]
        task = await client.get_task(pb.GetTaskRequest(id=events[0].task.id))
    assert [e.WhichOneof("payload") for e in events] == ["task", "status_update", "status_update"]
    states = [e.status_update.status.state for e in events[1:]]
    assert states == [pb.TASK_STATE_WORKING, pb.TASK_STATE_FAILED]
    assert SECRET not in events[-1].status_update.status.message.parts[0].text
    assert task.status.state == pb.TASK_STATE_FAILED
