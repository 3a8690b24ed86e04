"""Limits that hold: rate limits per token and per client address on every request and every
WebSocket frame, client addresses from ``X-Forwarded-For`` only behind a trusted proxy, bodies
over the limit refused (chunked or not), and slow headers and bodies cut off, each answered in
the caller's own protocol."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import websockets
from starlette.types import Message, Receive, Scope, Send

from adapters import a2a as a2a_adapter
from adapters.mcp.errors import RATE_LIMITED
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.security.deadlines import protocol_with_deadline
from gateway.security.guard import BODY_WHOLE, Guard
from gateway.settings import Config
from tests.servers import running

TOKENS = {"token-a": "a", "token-b": "b"}
A = {"Authorization": "Bearer token-a"}
B = {"Authorization": "Bearer token-b"}
MCP_PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@contextmanager
def guarded(**limits: object) -> Iterator[str]:
    """A gateway with the echo agent and two tokens, behind a guard with ``limits``."""
    registry = Registry()
    registry.add(EchoAgent())

    def make(base: str) -> Guard:
        inner = create_app(registry, Config(rate_per_minute=0), base_url=base).app
        options: dict[str, object] = {"max_body": 4096, "rate_per_minute": 0, **limits}
        return Guard(inner, tokens=TOKENS, **options)  # type: ignore[arg-type]

    with running(make) as url:
        yield url


def _statuses(url: str, headers: dict[str, str], n: int, **extra: str) -> list[int]:
    with httpx.Client(headers={**headers, **extra}) as http:
        return [http.get(f"{url}/agents").status_code for _ in range(n)]


def test_one_token_over_its_rate_does_not_limit_another() -> None:
    with guarded(token_rate_per_minute=3) as url:
        assert _statuses(url, A, 5) == [200, 200, 200, 429, 429]
        assert _statuses(url, B, 2) == [200, 200]


def test_one_address_over_its_rate_is_limited_whatever_token_it_uses() -> None:
    with guarded(rate_per_minute=3, token_rate_per_minute=0) as url:
        assert _statuses(url, A, 2) + _statuses(url, B, 2) == [200, 200, 200, 429]


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    with guarded(rate_per_minute=2, token_rate_per_minute=0) as url, httpx.Client() as http:
        rotated = [
            http.get(f"{url}/agents", headers={**A, "X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(4)
        ]
    assert [r.status_code for r in rotated] == [200, 200, 429, 429]

    with (
        guarded(rate_per_minute=2, token_rate_per_minute=0, trusted_proxies=["127.0.0.1"]) as url,
        httpx.Client() as http,
    ):
        # Behind a trusted proxy each forwarded client has its own allowance; the client's
        # own claim (the leftmost hop) is not what counts, the proxy's view is.
        spoofed = "198.51.100.7, 203.0.113.1"
        first = [
            http.get(f"{url}/agents", headers={**A, "X-Forwarded-For": spoofed}).status_code
            for _ in range(3)
        ]
        other = http.get(f"{url}/agents", headers={**A, "X-Forwarded-For": "203.0.113.2"})
    assert first == [200, 200, 429]
    assert other.status_code == 200


async def _frames(url: str, path: str, frames: list[dict[str, object]]) -> list[dict[str, object]]:
    ws_url = url.replace("http://", "ws://") + path
    protocol = path.strip("/").split("/")[0]
    async with websockets.connect(
        ws_url,
        additional_headers=A,
        subprotocols=[websockets.Subprotocol(protocol)],
    ) as ws:
        for frame in frames:
            await ws.send(json.dumps(frame))
        return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in frames]


@pytest.mark.parametrize(
    ("path", "frame", "limited"),
    [
        (
            "/a2a/ws",
            {"method": "GetTask", "params": {"id": "00000000-0000-4000-8000-000000000000"}},
            a2a_adapter.jsonrpc_error,
        ),
        ("/acp/ws", {"method": "agents/list", "params": {}}, None),
        ("/mcp/ws", {"method": "ping"}, None),
    ],
)
def test_websocket_frames_spend_the_same_allowance_as_requests(
    path: str, frame: dict[str, object], limited: object
) -> None:
    frames: list[dict[str, object]] = [{"jsonrpc": "2.0", "id": i, **frame} for i in range(1, 7)]
    # The upgrade itself is one request; four frames fit in what is left of five.
    with guarded(token_rate_per_minute=5) as url:
        if path == "/mcp/ws":
            frames = [
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                },
                *frames[:5],
            ]
        replies = asyncio.run(_frames(url, path, frames))
    by_id = {r["id"]: r for r in replies}
    refused = [i for i, r in by_id.items() if "error" in r and _is_rate_limited(path, r)]
    answered = [i for i, r in by_id.items() if not _is_rate_limited(path, r)]
    assert len(answered) == 4
    assert len(refused) == len(frames) - 4


def _is_rate_limited(path: str, reply: dict[str, object]) -> bool:
    error = reply.get("error")
    if not isinstance(error, dict):
        return False
    if path == "/mcp/ws":
        return error.get("code") == RATE_LIMITED
    data = error.get("data")
    if path == "/acp/ws":
        return isinstance(data, dict) and data.get("status") == 429
    return '"effmesh_code": "rate_limited"' in json.dumps(data)


async def _chunks(size: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b" " * 1024
        sent += 1024


@pytest.mark.parametrize(
    ("path", "check"),
    [
        ("/mcp", lambda body: body["error"]["code"] < 0),
        ("/a2a", lambda body: body["error"]["code"] < 0),
        ("/acp/runs", lambda body: body["code"] == "invalid_input"),
    ],
)
def test_a_chunked_body_over_the_limit_is_413_in_the_callers_protocol(
    path: str, check: object
) -> None:
    with guarded() as url, httpx.Client(headers={**A, "Content-Type": "application/json"}) as http:
        answer = http.post(f"{url}{path}", content=_sync_chunks(64 * 1024))
    assert answer.status_code == 413
    assert check(answer.json())  # type: ignore[operator]


def _sync_chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // 1024):
        yield b" " * 1024


def _raw(url: str, data: bytes, wait: float = 10.0) -> bytes:
    """What the server answers ``data`` with before it closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        return received


def test_a_body_that_stops_arriving_is_answered_408() -> None:
    with guarded(body_timeout=0.5) as url:
        head = (
            "POST /acp/runs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer token-a\r\n"
            "content-type: application/json\r\ncontent-length: 1000\r\n\r\n{"
        )
        answer = _raw(url, head.encode())
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"code":"server_error"' in answer.replace(b" ", b"") or b"408" in answer


@pytest.mark.parametrize("partial", [b"", b"GET /agen", b"GET /agents HTTP/1.1\r\nhost: x\r\n"])
def test_headers_that_do_not_arrive_in_time_are_answered_408_and_closed(partial: bytes) -> None:
    registry = Registry()
    registry.add(EchoAgent())
    with running(
        lambda base: create_app(registry, base_url=base), http=protocol_with_deadline(0.5)
    ) as url:
        answer = _raw(url, partial)
        whole = _raw(url, b"GET /agents HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 408")
    assert whole.startswith(b"HTTP/1.1 200")


def test_a_body_that_came_with_its_headers_is_marked_whole_and_one_still_coming_is_not() -> None:
    started = threading.Event()
    seen: list[tuple[bool, bytes]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        whole = BODY_WHOLE in scope
        started.set()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append((whole, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    head = b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\n"
    with running(lambda base: app, http=protocol_with_deadline(5)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head + b"ping")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            started.clear()
            sock.sendall(head + b"pi")
            assert started.wait(10)  # the app runs before the rest of its body comes
            sock.sendall(b"ng")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert seen == [(True, b"ping"), (False, b"ping")]


class _TimerCounting(asyncio.SelectorEventLoop):
    """An event loop that counts the timers armed on it."""

    armed = 0

    def call_at(self, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        self.armed += 1
        return super().call_at(*args, **kwargs)


@pytest.mark.parametrize("whole", [True, False])
def test_the_guard_reads_a_body_marked_whole_without_arming_a_timer(whole: bool) -> None:
    answered: list[int] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        answered.append(len((await receive())["body"]))

    guard = Guard(inner, tokens=TOKENS, max_body=4096, rate_per_minute=0, body_timeout=30)
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/acp/runs",
        "headers": [(b"authorization", b"Bearer token-a")],
        "client": ("127.0.0.1", 1),
    }
    if whole:
        scope[BODY_WHOLE] = True

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        raise AssertionError(f"the guard answered {message}")

    loop = _TimerCounting()
    try:
        loop.run_until_complete(guard(scope, receive, send))
    finally:
        loop.close()
    assert answered == [2]
    assert loop.armed == (0 if whole else 1)


def test_the_configuration_sets_the_limits() -> None:
    """``[gateway]`` keys reach the guard: a trusted proxy's forwarded clients each get their
    own allowance, and the per-token rate applies beside the per-address one."""
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(rate_per_minute=2, token_rate_per_minute=0, trusted_proxies=("127.0.0.0/8",))
    with (
        running(lambda base: create_app(registry, config, base_url=base)) as url,
        httpx.Client() as http,
    ):
        codes = [
            http.get(f"{url}/agents", headers={"X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(4)
        ]
        same = [
            http.get(f"{url}/agents", headers={"X-Forwarded-For": "198.51.100.1"}) for _ in range(3)
        ]
    assert [c.status_code for c in codes] == [200, 200, 200, 200]
    assert [c.status_code for c in same] == [200, 200, 429]
