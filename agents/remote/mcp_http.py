"""Tool calls to a streamable-HTTP MCP server as plain HTTP/1.1 on kept-alive connections.

The SDK's client opens the session (the handshake, its id) and keeps everything else; a tool
call in that session is one POST written here in one piece, with the headers the SDK would
send (session id, protocol revision, the agent's own headers), and its answer is parsed by
httptools, the C parser uvicorn serves with: a JSON body, or server-sent events (progress,
log lines, requests back to the client, then the response), as the server chooses. With a
2026-07-28 server there is no session: the POST carries the headers the SDK session's stamp
gives the call (:func:`agents.remote.mcp_wire.call_modern`), and a call given up ends its
connection, which is the cancel in that era.

Connections are opened through the outbound guard (:mod:`agents.outbound`): the host is
resolved, every address checked, and the socket connects to the address that was checked;
TLS checks the URL's host name with the trust the SDK's client uses. A connection is kept
for the next call once its answer has been read to the end, so calls one after another
share one connection, and concurrent calls each hold their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, cast
from urllib.parse import urlsplit

import httptools
import httpx2
import orjson
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from agents import outbound
from agents.remote.mcp_wire import (
    PARSE_ERROR,
    Answer,
    Exchange,
    Handlers,
    NotTaken,
    SessionLost,
)

IDLE_CONNECTIONS: Final = 64
"""Kept-alive connections held per server beyond those in use."""
MAX_EVENT: Final = 1024 * 1024
"""Bytes of one server-sent event at most (the SDK's client limit too)."""
DRAIN: Final = 5.0
"""Seconds a connection may take to end an answer already read before it is dropped."""
RESUMPTIONS: Final = 2
"""Times in a row a call's event stream that ended before its answer is asked for again."""
RESUME_DELAY_MS: Final = 1000
"""Milliseconds before asking, when the server named no ``retry``."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: the response being read, fed by httptools. It is in
    ``open`` from when it is made until it is lost."""

    def __init__(self, open_: set[_Connection]) -> None:
        self._open = open_
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._wake: asyncio.Future[None] | None = None
        self.begin()

    def begin(self) -> None:
        """Forget the last response: the next one is read from here on."""
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.head = False
        self.keep_alive = False
        self.done = False
        self.received = False
        self.body = bytearray()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but offer its methods.
        self.transport = cast("asyncio.Transport", transport)
        self._open.add(self)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()
        self._signal()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._open.discard(self)
        self._signal()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # Asked here: the parser's state moves on once the message is complete.
        self.keep_alive = self.parser.should_keep_alive()
        self.head = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True

    def _signal(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def more(self) -> None:
        """Wait for the next bytes (or the end of the connection).

        Raises:
            ConnectionError: the connection ended before the response did.
        """
        if self.closed:
            raise ConnectionError("the server closed the connection")
        self._wake = asyncio.get_running_loop().create_future()
        await self._wake
        self._wake = None

    def take_body(self) -> bytes:
        body = bytes(self.body)
        self.body.clear()
        return body

    def reusable(self) -> bool:
        return self.done and not self.closed and self.keep_alive

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


@dataclass(slots=True)
class _Resumable:
    """What a server-sent event stream said about resuming it: the last event's id, and how
    long to wait before asking for the rest (its ``retry`` field, in milliseconds)."""

    last_id: str | None = None
    retry_ms: int | None = None


def _events(buffer: bytearray, seen: _Resumable) -> list[bytes]:
    """The data of every complete server-sent event at the start of ``buffer`` (taken out of
    it); events of another type than ``message`` and those without data (a priming event)
    are skipped. Event ids and ``retry`` fields are noted in ``seen``."""
    found: list[bytes] = []
    while True:
        end = buffer.find(b"\n\n")
        if end < 0:
            return found
        block = bytes(buffer[:end])
        del buffer[: end + 2]
        data: list[bytes] = []
        kind = b"message"
        for line in block.split(b"\n"):
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                kind = value
            elif field == b"id" and b"\0" not in value:
                seen.last_id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():
                seen.retry_ms = int(value)
        joined = b"\n".join(data)
        if joined and kind == b"message":  # an event with no data is not dispatched
            found.append(joined)


class HttpCalls:
    """Tool calls to the server at ``url``, in the session the SDK's client holds there.

    ``session_id`` is kept current by :meth:`hook`, an httpx2 response hook on that client.
    On the event loop; not thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        policy: outbound.Policy,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.session_id: str | None = None
        parts = urlsplit(url)
        # The name is checked at each connection (outbound.resolve_checked), not here: an
        # agent whose address is refused is made, and refused when it connects.
        self.host, self.port = outbound.split_url(url)
        self.secure = parts.scheme == "https"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default = 443 if self.secure else 80
        authority = self.host if self.port == default else f"{self.host}:{self.port}"
        lines = [f"POST {target} HTTP/1.1", f"host: {authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if any("\r" in line or "\n" in line for line in lines):
            raise ValueError("a header of the agent holds a line break")
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        """Every connection not yet closed: :meth:`close` ends them all."""

    async def hook(self, response: httpx2.Response) -> None:
        """Note the session id the server gave the SDK's client."""
        named = response.headers.get("mcp-session-id")
        if named:
            self.session_id = named

    def forget(self) -> None:
        """A new session opens: the last one's id no longer holds, nor do its connections
        (they may belong to another event loop, one a registry was set up on)."""
        self.session_id = None
        for connection in list(self._open):
            with contextlib.suppress(RuntimeError):  # its loop is closed: nothing to end
                connection.abort()
        self._open.clear()
        self._idle.clear()

    def ready(self, version: str | None) -> bool:
        return version in HANDSHAKE_PROTOCOL_VERSIONS or version in MODERN_PROTOCOL_VERSIONS

    def _request(self, body: bytes, version: str, extra: bytes = b"") -> bytes:
        head = self._head + b"content-type: application/json\r\n"
        head += b"accept: application/json, text/event-stream\r\n"
        head += b"mcp-protocol-version: " + version.encode("latin-1") + b"\r\n"
        # 2026-07-28 has no sessions (a server may still name one: it is not sent back).
        if self.session_id is not None and version in HANDSHAKE_PROTOCOL_VERSIONS:
            head += b"mcp-session-id: " + self.session_id.encode("latin-1") + b"\r\n"
        return head + extra + b"content-length: %d\r\n\r\n" % len(body) + body

    def _resume(self, last_id: str, version: str) -> bytes:
        """The GET that asks for the rest of a call's event stream after ``last_id``."""
        if "\r" in last_id or "\n" in last_id:
            raise ConnectionError("the server's event id holds a line break")
        head = b"GET" + self._head[len(b"POST") :]
        head += b"accept: text/event-stream\r\n"
        head += b"mcp-protocol-version: " + version.encode("latin-1") + b"\r\n"
        if self.session_id is not None:
            head += b"mcp-session-id: " + self.session_id.encode("latin-1") + b"\r\n"
        return head + b"last-event-id: " + last_id.encode("utf-8") + b"\r\n\r\n"

    async def _connect(self) -> _Connection:
        address = await outbound.resolve_checked(self.host, self.port, self.policy)
        loop = asyncio.get_running_loop()
        if self.secure and self._ssl is None:
            self._ssl = httpx2.create_ssl_context()
        _, connection = await loop.create_connection(
            partial(_Connection, self._open),
            address,
            self.port,
            ssl=self._ssl if self.secure else None,
            server_hostname=self.host if self.secure else None,
        )
        return connection

    async def _send(self, request: bytes) -> _Connection:
        """Write ``request`` on a kept connection (a new one if that one turns out closed
        before it answered anything) and wait for the response's head."""
        while self._idle:
            connection = self._idle.pop()
            if connection.closed:
                continue
            connection.begin()
            assert connection.transport is not None
            connection.transport.write(request)
            try:
                await self._await_head(connection)
            except ConnectionError:
                if connection.received:
                    raise
                continue  # the server closed it while idle, before reading this request
            return connection
        async with asyncio.timeout(self.timeout):
            connection = await self._connect()
        assert connection.transport is not None
        connection.transport.write(request)
        await self._await_head(connection)
        return connection

    @staticmethod
    async def _await_head(connection: _Connection) -> None:
        """Wait for the response's head; a call given up meanwhile ends the connection (in
        2026-07-28 that is the cancel, and a server may answer nothing before its result)."""
        try:
            while not connection.head:
                await connection.more()
        except asyncio.CancelledError:
            connection.abort()
            raise

    def _keep(self, connection: _Connection) -> None:
        if connection.reusable() and len(self._idle) < IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            connection.abort()

    async def _drain(self, connection: _Connection) -> None:
        """Read the rest of an answer already taken, then keep the connection."""
        try:
            async with asyncio.timeout(DRAIN):
                while not connection.done:
                    await connection.more()
        except (TimeoutError, ConnectionError):
            connection.abort()
            return
        self._keep(connection)

    async def post(self, body: bytes, version: str) -> None:
        """Send a notification or an answer to the server's request (answered 202)."""
        connection = await self._send(self._request(body, version))
        while not connection.done:
            await connection.more()
        self._keep(connection)

    async def call(
        self,
        params: dict[str, Any],
        version: str,
        handlers: Handlers,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        exchange = Exchange(params, handlers)
        request = self._request(exchange.request, version, _header_lines(headers))
        connection: _Connection | None = None
        try:
            connection = await self._send(request)
            answer = await self._read(connection, exchange, version)
        except asyncio.CancelledError:
            if connection is not None:
                connection.abort()
            notice = exchange.cancelled()
            if version not in HANDSHAKE_PROTOCOL_VERSIONS:
                raise  # in 2026-07-28 the stream's end is the cancel
            # The frame is the cancel in the handshake era: it must reach the server.
            task = asyncio.get_running_loop().create_task(self._tell(notice, version))
            _LATE.add(task)
            task.add_done_callback(_LATE.discard)
            raise
        except BaseException:
            if connection is not None:
                connection.abort()
            raise
        finally:
            exchange.finish()
        return answer

    async def _tell(self, notice: bytes, version: str) -> None:
        with contextlib.suppress(OSError, ConnectionError, TimeoutError):
            async with asyncio.timeout(self.timeout):
                await self.post(notice, version)

    async def _read(self, connection: _Connection, exchange: Exchange, version: str) -> Answer:
        status = connection.status
        kind = connection.headers.get(b"content-type", b"").lower()
        if 300 <= status < 400:
            connection.abort()
            raise NotTaken(f"the server answered {status}")
        if status == 404 and self.session_id is not None and version in HANDSHAKE_PROTOCOL_VERSIONS:
            raise SessionLost()
        if status == 202:
            return _error(-32600, "server answered a request with 202 Accepted")

        async def reply(body: bytes) -> None:
            await self.post(body, version)

        if status < 300 and kind.startswith(b"text/event-stream"):
            buffer = bytearray()
            seen = _Resumable()
            attempts = 0
            try:
                while True:
                    buffer += connection.take_body()
                    if b"\r" in buffer:
                        buffer = buffer.replace(b"\r\n", b"\n")
                    if len(buffer) > MAX_EVENT and buffer.find(b"\n\n") < 0:
                        raise ConnectionError("a server-sent event is too large")
                    for data in _events(buffer, seen):
                        attempts = 0  # the stream moves on: a later end may be resumed afresh
                        if await exchange.take(_parsed(data), reply):
                            assert exchange.answer is not None
                            self._settle(connection)
                            return exchange.answer
                    if connection.done:
                        # The server ended the stream before the answer: the rest is asked for
                        # after its retry delay with the last event's id, as MCP's client does.
                        resumable = version in HANDSHAKE_PROTOCOL_VERSIONS  # not in 2026-07-28
                        if seen.last_id is None or attempts >= RESUMPTIONS or not resumable:
                            raise ConnectionError("the stream ended without an answer")
                        attempts += 1
                        self._keep(connection)
                        delay = RESUME_DELAY_MS if seen.retry_ms is None else seen.retry_ms
                        await asyncio.sleep(delay / 1000)
                        connection = await self._send(self._resume(seen.last_id, version))
                        resumed = connection.headers.get(b"content-type", b"").lower()
                        if connection.status >= 300 or not resumed.startswith(b"text/event-stream"):
                            raise ConnectionError("the server did not resume the stream")
                        buffer.clear()
                        continue
                    await connection.more()
            except BaseException:
                connection.abort()  # the one resumed last, when it was not the first
                raise
        while not connection.done:
            await connection.more()
        body = connection.take_body()
        self._keep(connection)
        if kind.startswith(b"application/json"):
            message = _parsed(body)
            if type(message) is dict and (status < 300 or "error" in message):
                # At an error status the server may not have read the id: this is its answer.
                await exchange.take({**message, "id": exchange.id}, reply)
                if exchange.answer is not None:
                    return exchange.answer
            if status < 300:
                return _error(PARSE_ERROR, "the server's answer is not a JSON-RPC response")
        if status < 300:
            return _error(-32600, f"Unexpected content type: {kind.decode('latin-1')[:40]}")
        if status == 404:
            return _error(-32601, "Not Found")
        return _error(-32603, "Server returned an error response")

    def _settle(self, connection: _Connection) -> None:
        if connection.done:
            self._keep(connection)
            return
        task = asyncio.get_running_loop().create_task(self._drain(connection))
        _LATE.add(task)
        task.add_done_callback(_LATE.discard)

    async def close(self) -> None:
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle.clear()


_LATE: set[asyncio.Task[None]] = set()
"""Work a call leaves behind (a cancel notice, reading the end of an answer): held here
until done, as the event loop keeps only weak references to tasks."""


def _parsed(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _header_lines(headers: dict[str, str] | None) -> bytes:
    """``headers`` as request header lines, but the protocol revision, written apart.

    Raises:
        ConnectionError: a header holds a line break (the SDK encodes the values it stamps).
    """
    if not headers:
        return b""
    lines = [f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "mcp-protocol-version"]
    if any("\r" in line[:-2] or "\n" in line[:-2] for line in lines):
        raise ConnectionError("a request header holds a line break")
    return "".join(lines).encode("latin-1")


def _error(code: int, message: str) -> Answer:
    return {"error": {"code": code, "message": message}}
