"""An MCP server launched as a subprocess: one process, its lines multiplexed by JSON-RPC id.

The process speaks one JSON-RPC message a line on stdin and stdout. The SDK's client session
runs over it (the handshake, lists, reads, the server's requests back to the client and its
log lines), and tool calls are written straight to stdin beside it: each line the process
writes is parsed once, and the answer to a tool call sent here (or its progress) goes to
that call by its id, never through the session's validation, streams and dispatcher. Every
other line goes to the session as the SDK's own stdio transport would hand it over.

The process starts in a session of its own and, as the SDK's transport does, is stopped by
closing its stdin, then after a grace period its whole process group is terminated. Its pipes
are asyncio's own streams: a line is written to stdin at once, and the writer waits only when
the pipe is full (anyio's stream would yield to the event loop after every write, which for
a tool call is a turn of the loop of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from subprocess import PIPE
from typing import Any, Final, cast

import anyio
import anyio.abc
import mcp_types as mt
import orjson
from mcp.client._transport import TransportStreams
from mcp.client.stdio import get_default_environment
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agents.remote.mcp_wire import PROGRESS, Answer, Exchange, Handlers

GRACE: Final = 2.0
"""Seconds a server has to exit by itself once its stdin is closed."""
CHUNK: Final = 1 << 16
_GONE: Final = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
"""What a pipe or stream of an ending process raises."""


class StdioCalls:
    """The running process of one stdio MCP server, for the SDK's session and for tool
    calls. On the event loop; not thread-safe."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = tuple(command)
        self._stdin: asyncio.StreamWriter | None = None
        self._calls: dict[str, tuple[Exchange, asyncio.Future[None]]] = {}
        self._reading = False
        """The process's stdout is open: an answer can still come. A write to a process that
        has just died may seem to succeed (the pipe's end is noticed a few loop turns later),
        so a call is refused once stdout has ended, not only when a write fails."""

    def ready(self, version: str | None) -> bool:
        known = version in HANDSHAKE_PROTOCOL_VERSIONS or version in MODERN_PROTOCOL_VERSIONS
        return self._stdin is not None and self._reading and known

    async def _write(self, line: bytes) -> None:
        """Write one message's ``line`` (whole: lines never interleave), then wait while the
        pipe is full."""
        stdin = self._stdin
        if stdin is None or stdin.is_closing():  # a closed pipe's write raises RuntimeError
            raise ConnectionError("the server's process has ended")
        stdin.write(line)
        await stdin.drain()

    async def call(
        self,
        params: dict[str, Any],
        version: str,
        handlers: Handlers,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """As :meth:`FastCalls.call`; ``headers`` are HTTP's: a process has none."""
        exchange = Exchange(params, handlers)
        done = asyncio.get_running_loop().create_future()
        self._calls[exchange.id] = (exchange, done)
        try:
            if not self._reading:  # registered after stdout ended: no answer can come
                raise ConnectionError("the server's process has ended")
            await self._write(exchange.request + b"\n")
            await done
        except asyncio.CancelledError:
            with contextlib.suppress(*_GONE):
                await asyncio.shield(self._write(exchange.cancelled() + b"\n"))
            raise
        except _GONE as exc:
            raise ConnectionError("the server's process has ended") from exc
        finally:
            self._calls.pop(exchange.id, None)
            exchange.finish()
        assert exchange.answer is not None
        return exchange.answer

    def _target(self, message: Any) -> tuple[Exchange, asyncio.Future[None]] | None:
        """The tool call sent here that ``message`` belongs to, if any."""
        if type(message) is not dict:
            return None
        method = message.get("method")
        if method is None:
            rid = message.get("id")
            return self._calls.get(rid) if isinstance(rid, str) else None
        if method == PROGRESS:
            params = message.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            return self._calls.get(token) if isinstance(token, str) else None
        return None

    async def _route(self, line: bytes, session: Any) -> None:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            await session.send(exc)
            return
        target = self._target(message)
        if target is None:
            try:
                parsed = mt.jsonrpc_message_adapter.validate_python(message, by_name=False)
            except ValidationError as exc:
                await session.send(exc)
                return
            await session.send(SessionMessage(parsed))
            return
        exchange, done = target
        if await exchange.take(message, self._write) and not done.done():
            done.set_result(None)

    async def _read(self, stdout: asyncio.StreamReader, session: Any) -> None:
        buffer = bytearray()
        try:
            async with session:
                with contextlib.suppress(*_GONE):
                    while chunk := await stdout.read(CHUNK):
                        buffer += chunk
                        start = 0
                        while (end := buffer.find(b"\n", start)) >= 0:
                            line = bytes(buffer[start:end]).strip()
                            start = end + 1
                            if line:
                                await self._route(line, session)
                        del buffer[:start]
        finally:
            # The process is gone (or its reader cancelled): so is every call waiting on it,
            # and a call from now on is refused at once.
            self._reading = False
            for _, done in list(self._calls.values()):
                if not done.done():
                    done.set_exception(ConnectionError("the server's process has ended"))

    async def _feed(self, outgoing: Any) -> None:
        # A broken stdin means the process is ending: its stdout ends next, and the session.
        with contextlib.suppress(*_GONE):
            async for message in outgoing:
                wire = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                await self._write(wire.encode() + b"\n")

    @contextlib.asynccontextmanager
    async def transport(self) -> AsyncIterator[TransportStreams]:
        """Start the process; the SDK session's streams over it while the block runs."""
        process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=PIPE,
            stdout=PIPE,
            stderr=None,
            env=get_default_environment(),
            start_new_session=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        to_session, from_server = anyio.create_memory_object_stream[SessionMessage | Exception](64)
        to_server, outgoing = anyio.create_memory_object_stream[SessionMessage](64)
        self._stdin = process.stdin
        self._reading = True
        try:
            async with (
                to_session,
                from_server,
                to_server,
                outgoing,
                anyio.create_task_group() as tg,
            ):
                tg.start_soon(self._read, process.stdout, to_session)
                tg.start_soon(self._feed, outgoing)
                try:
                    yield from_server, to_server
                finally:
                    self._stdin = None
                    with anyio.CancelScope(shield=True):
                        await _stop(process)
                    tg.cancel_scope.cancel()
        finally:
            self._stdin = None
            self._reading = False


async def _stop(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.close()  # not waited for: a process that reads nothing holds its pipe full
    with anyio.move_on_after(GRACE):
        await process.wait()
    if process.returncode is None:
        # The SDK's own ending of a process tree: it reads the process's pid and returncode,
        # which asyncio's process has as anyio's does.
        await terminate_posix_process_tree(cast("anyio.abc.Process", process), GRACE)
        # Its exit seen by the event loop too: else the loop's process object outlives it
        # as "still running" (and is reported so when collected).
        with anyio.move_on_after(GRACE):
            await process.wait()
