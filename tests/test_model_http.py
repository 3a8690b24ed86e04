"""The model backend's HTTP client (``agents/llm/http.py``) against raw servers on 127.0.0.1
that frame their replies in each way HTTP/1.1 allows, and that misbehave on purpose: a
connection closed while idle, a reply cut mid-body, bytes that are not HTTP.

The servers are a few lines of asyncio each, so a test decides every byte on the wire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agents.llm.http import ConnectionFailed, LeanClient

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return first.encode(), headers, body


class Server:
    """A raw TCP server on a free port; counts the connections it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


def reply(body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


@pytest.fixture
async def client() -> AsyncIterator[LeanClient]:
    http = LeanClient()
    yield http
    await http.aclose()


async def test_a_json_request_is_sent_whole_and_the_connection_kept(client: LeanClient) -> None:
    seen: list[tuple[bytes, dict[str, str], bytes]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            first, headers, body = await read_request(reader)
            seen.append((first, headers, body))
            writer.write(reply(body))
            await writer.drain()

    async with Server(echo) as server:
        payload = {"messages": [{"role": "user", "content": "grüß dich"}], "n": 1}
        for _ in range(3):
            status, body = await client.request(
                "POST",
                server.url + "/v1/chat/completions",
                json_body=payload,
                headers={"traceparent": "00-abc-def-01"},
            )
            assert status == 200
            assert json.loads(body) == payload
        assert server.connections == 1
    first, headers, _ = seen[0]
    assert first == b"POST /v1/chat/completions HTTP/1.1"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"] == "00-abc-def-01"
    assert headers["host"] == server.url.removeprefix("http://")


async def test_a_chunked_event_stream_is_read_line_by_line(client: LeanClient) -> None:
    events = [b'data: {"n":1}\n\n', b'data: {"n":2}\r\n\r\n', b"data: [DONE]\n\n"]

    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        writer.write(b"transfer-encoding: chunked\r\n\r\n")
        for event in events:
            # An event split across two chunks, as a server may send it.
            for piece in (event[:4], event[4:]):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await read_request(reader)  # the connection is reused for the next exchange
        writer.write(reply(b"{}"))
        await writer.drain()

    async with Server(stream) as server:
        async with client.stream("POST", server.url + "/s", json_body={}) as response:
            assert response.headers["content-type"] == "text/event-stream"
            lines = [line async for line in response.lines() if line]
        assert lines == ['data: {"n":1}', 'data: {"n":2}', "data: [DONE]"]
        assert await client.request("GET", server.url + "/again") == (200, b"{}")
        assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced(client: LeanClient) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply(b'{"ok":true}'))
        await writer.drain()  # then the connection closes, unannounced

    async with Server(once) as server:
        for _ in range(3):
            assert await client.request("POST", server.url + "/x", json_body={}) == (
                200,
                b'{"ok":true}',
            )
        assert server.connections == 3


async def test_a_reply_cut_mid_body_is_a_connection_failure(client: LeanClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"choices":')
        await writer.drain()

    async with Server(cut) as server:
        with pytest.raises(ConnectionFailed):
            await client.request("POST", server.url + "/x", json_body={})
        assert server.connections == 1  # a fresh connection's failure is not retried


async def test_bytes_that_are_not_http_are_a_connection_failure(client: LeanClient) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    async with Server(garbage) as server:
        with pytest.raises(ConnectionFailed):
            await client.request("POST", server.url + "/x", json_body={})


async def test_no_server_is_a_connection_failure(client: LeanClient) -> None:
    async with Server(read_request) as server:  # bound, then closed: nothing listens there
        url = server.url
    with pytest.raises(ConnectionFailed):
        await client.request("GET", url + "/health")


async def test_a_cancelled_exchange_does_not_leave_its_reply_on_a_kept_connection(
    client: LeanClient,
) -> None:
    gate = asyncio.Event()

    async def slow_then_fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, _, body = await read_request(reader)
        if body == b'"slow"':
            await gate.wait()
        writer.write(reply(body))
        await writer.drain()
        while True:
            _, _, body = await read_request(reader)
            writer.write(reply(body))
            await writer.drain()

    async with Server(slow_then_fast) as server:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.request("POST", server.url + "/x", json_body="slow")
        gate.set()
        assert await client.request("POST", server.url + "/x", json_body="fast") == (
            200,
            b'"fast"',
        )


async def test_a_line_break_in_a_header_is_refused_before_sending(client: LeanClient) -> None:
    async with Server(read_request) as server:
        with pytest.raises(ValueError, match="line break"):
            await client.request("GET", server.url, headers={"x-a": "1\r\nx-b: 2"})
        assert server.connections == 0
