"""A2A and ACP over the gateway's WebSocket endpoints, with a real websockets client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from a2a.types import a2a_pb2 as pb
from acp_sdk.models import Run
from google.protobuf import json_format

from tests.servers import echo_gateway

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ws_base() -> Iterator[str]:
    with echo_gateway() as url:
        yield url.replace("http://", "ws://")


def send_message(rid: int, skill: str, text: str, method: str = "SendMessage") -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": rid,
            "method": method,
            "params": {
                "message": {"messageId": f"m{rid}", "role": "ROLE_USER", "parts": [{"text": text}]},
                "metadata": {"effmesh.skill": skill},
            },
        }
    )


async def recv(ws: Any) -> dict[str, Any]:
    return json.loads(await ws.recv())


async def test_a2a_over_websocket_sends_and_streams(ws_base: str) -> None:
    async with websockets.connect(f"{ws_base}/a2a/ws", subprotocols=["a2a"]) as ws:
        await ws.send(send_message(1, "echo.echo", "hello"))
        reply = await recv(ws)
        task = json_format.ParseDict(reply["result"], pb.SendMessageResponse()).task
        assert (reply["id"], task.status.state) == (1, pb.TASK_STATE_COMPLETED)
        assert task.artifacts[0].parts[0].text == "hello"
        await ws.send(send_message(2, "echo.echo", "streamed", "SendStreamingMessage"))
        kinds = []
        while True:
            frame = await recv(ws)
            assert frame["id"] == 2
            json_format.ParseDict(frame["result"], pb.StreamResponse())
            kinds.append(next(iter(frame["result"])))
            if "task" in frame["result"] and kinds != ["task"]:
                break
        assert kinds[0] == "task"
        assert "statusUpdate" in kinds
        assert "artifactUpdate" in kinds


async def test_a2a_over_websocket_cancels_and_reports_errors(ws_base: str) -> None:
    async with websockets.connect(f"{ws_base}/a2a/ws", subprotocols=["a2a"]) as ws:
        message = json.loads(send_message(3, "echo.wait", "x"))
        message["params"]["configuration"] = {"returnImmediately": True}
        await ws.send(json.dumps(message))
        task_id = (await recv(ws))["result"]["task"]["id"]
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 4, "method": "CancelTask", "params": {"id": task_id}}
            )
        )
        cancelled = await recv(ws)
        assert cancelled["result"]["status"]["state"] == "TASK_STATE_CANCELED"
        await ws.send(send_message(5, "nobody.nothing", "x"))
        assert (await recv(ws))["error"]["code"] == -32001
        await ws.send("{broken")
        assert (await recv(ws))["error"]["code"] == -32700


async def test_acp_over_websocket_runs_and_streams(ws_base: str) -> None:
    body = {
        "agent_name": "echo.echo",
        "input": [{"role": "user", "parts": [{"content": "hi", "content_type": "text/plain"}]}],
        "mode": "sync",
    }
    async with websockets.connect(f"{ws_base}/acp/ws", subprotocols=["acp"]) as ws:
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "runs/create", "params": body})
        )
        run = Run.model_validate((await recv(ws))["result"])
        assert run.status == "completed"
        assert run.output[0].parts[0].content == "hi"
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "runs/create",
                    "params": {**body, "mode": "stream"},
                }
            )
        )
        events = []
        while True:
            frame = await recv(ws)
            if frame.get("method") == "runs/event":
                events.append(frame["params"]["event"]["type"])
                continue
            assert frame["id"] == 2
            break
        assert events[0] == "run.created"
        assert events[-1] == "run.completed"
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 3, "method": "runs/get", "params": {"run_id": "not-a-run"}}
            )
        )
        error = (await recv(ws))["error"]
        assert error["data"]["error"]["code"] == "not_found"
