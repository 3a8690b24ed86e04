"""What the MCP hop's shortcuts keep: ``/mcp`` past Starlette still answers a fault of its own
as an MCP internal error, the DNS-rebinding verdict kept per header set still refuses a
foreign host after an allowed one, the UTF-8 writer writes the same JSON values, the task
store prunes on its clock, and a response written in one step goes out in one write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from adapters import _json
from adapters.errors import Internal
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.errors import http_error
from gateway.mcp.lane import McpLane
from gateway.registry import Registry
from gateway.runtime.store import PruneClock
from gateway.settings import Config
from gateway.writes import JOIN_LIMIT, OneWrite
from tests.servers import running


class Boom(Exception):
    """A fault of the endpoint's own, with text that must not reach the caller."""


async def _faulty(scope: Scope, receive: Receive, send: Send) -> None:
    raise Boom("secret internal detail")


async def _elsewhere(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _serve(lane: McpLane, method: str, path: str) -> tuple[list[Message], BaseException | None]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    try:
        asyncio.run(lane(scope, receive, send))
    except Boom as exc:
        return sent, exc
    return sent, None


def test_a_fault_of_the_mcp_endpoint_is_an_mcp_internal_error_and_is_raised_for_the_log() -> None:
    sent, raised = _serve(McpLane(_elsewhere, _faulty), "POST", "/mcp")
    assert isinstance(raised, Boom)
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"]) == json.loads(http_error("/mcp", Internal())[1])
    assert "secret" not in sent[1]["body"].decode()
    assert dict(sent[0]["headers"])[b"content-length"] == b"%d" % len(sent[1]["body"])


@pytest.mark.parametrize(("method", "path"), [("PUT", "/mcp"), ("POST", "/agents")])
def test_other_methods_and_paths_go_to_the_app(method: str, path: str) -> None:
    sent, raised = _serve(McpLane(_elsewhere, _faulty), method, path)
    assert raised is None
    assert sent[0]["status"] == 204


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(rate_per_minute=0)
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


def _modern_call(rid: int) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": "echo.echo", "arguments": {"text": "hi"}, "_meta": meta}
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


def test_a_foreign_host_is_refused_after_an_allowed_one_and_the_allowed_one_still_passes(
    gateway: str,
) -> None:
    accept = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "echo.echo",
    }
    with httpx.Client(headers=accept) as http:
        first = http.post(f"{gateway}/mcp", json=_modern_call(1))
        foreign = http.post(
            f"{gateway}/mcp", json=_modern_call(2), headers={"host": "evil.example"}
        )
        again = http.post(f"{gateway}/mcp", json=_modern_call(3))
    assert first.status_code == 200
    assert first.json()["result"]["content"][0]["text"] == "hi"
    assert foreign.status_code == 421  # the SDK's own answer to a host it does not serve
    assert again.status_code == 200
    assert again.json()["id"] == 3


def test_a_put_to_mcp_still_gets_starlettes_405_in_mcp_form(gateway: str) -> None:
    r = httpx.put(f"{gateway}/mcp", json={})
    assert r.status_code == 405
    assert "error" in r.json()


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True], "b": {"c": "é ☃"}},
        {"big": 2**70},
        {1: "a key that is not a string"},
        {"lone": "\ud800"},
        [],
    ],
)
def test_the_utf8_writer_writes_the_same_json_value(value: Any) -> None:
    assert json.loads(_json.dumps_utf8(value)) == json.loads(_json.dumps(value))


def test_the_utf8_writer_refuses_what_the_ascii_writer_refuses() -> None:
    with pytest.raises(TypeError):
        _json.dumps_utf8({"raw": b"bytes"})


def test_a_store_prunes_at_most_once_an_interval() -> None:
    clock = PruneClock(every_ns=1_000)
    start = clock._next - 1_000
    assert not clock.due(start + 999)
    assert clock.due(start + 1_000)
    assert not clock.due(start + 1_500)
    assert clock.due(start + 2_000)


class _Recorded:
    """A transport that records what is written to it, and when it is closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_head_and_a_body_of_one_step_go_out_in_one_write() -> None:
    async def run() -> list[list[bytes]]:
        raw = _Recorded()
        joined = OneWrite(raw, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(b"{}")
        seen = [list(raw.writes)]  # nothing yet: the step has not ended
        await asyncio.sleep(0)
        seen.append(list(raw.writes))
        joined.write(b"late")
        joined.close()  # what is pending goes out before the connection closes
        seen.append(list(raw.writes))
        return seen

    assert asyncio.run(run()) == [
        [],
        [b"HTTP/1.1 200 OK\r\n\r\n{}"],
        [b"HTTP/1.1 200 OK\r\n\r\n{}", b"late"],
    ]


def test_a_large_body_goes_out_without_waiting_for_the_end_of_the_step() -> None:
    async def run() -> int:
        raw = _Recorded()
        joined = OneWrite(raw, asyncio.get_running_loop())
        joined.write(b"x" * (JOIN_LIMIT - 1))
        joined.write(b"y")
        return len(raw.writes)

    assert asyncio.run(run()) == 1
