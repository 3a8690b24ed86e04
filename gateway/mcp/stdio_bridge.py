"""``effmesh mcp-stdio``: what Claude Desktop or an IDE launches to reach a running gateway.

It relays newline-delimited JSON-RPC between stdin/stdout and the gateway's ``/mcp/ws``
socket, one message per frame, without parsing them: the gateway's MCP server does the
protocol, so the bridge starts in a fraction of a second (no SDK imports).

A line the bridge cannot deliver (longer than a frame may be, or not UTF-8) is answered with
a JSON-RPC error for that line (``id`` null: an undeliverable line cannot be parsed for its
id) and the bridge carries on with the next one.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import websockets

from adapters import _json, jsonrpc

OVERSIZE: Final = object()
"""A line longer than :data:`adapters._json.MAX_BYTES`, already dropped from the input."""


def websocket_url(url: str) -> str:
    """``http://host:port`` (or a ws URL) -> ``ws://host:port/mcp/ws``."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/mcp/ws"):
        path = path.removesuffix("/mcp") + "/mcp/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _refusal(line: bytes, text: str) -> bytes:
    """A JSON-RPC error for a request the bridge could not deliver (gateway unreachable)."""
    try:
        msg = json.loads(line)
        rid = msg.get("id") if isinstance(msg, dict) else None
    except ValueError:
        return b""
    if rid is None:
        return b""
    body = {"jsonrpc": "2.0", "id": rid, "error": {"code": -32013, "message": text}}
    return _json.dumps(body) + b"\n"


def _line_error(code: int, text: str) -> bytes:
    return _json.dumps(jsonrpc.error(None, code, text)) + b"\n"


async def next_line(reader: asyncio.StreamReader) -> bytes | object | None:
    """The next line (with its newline, if it had one), :data:`OVERSIZE` for a line over the
    reader's limit (dropped whole, so the next line starts clean), or None at the end."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial or None
    except asyncio.LimitOverrunError as exc:
        consumed = exc.consumed
    while True:
        await reader.readexactly(consumed)
        try:
            await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return OVERSIZE
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed
            continue
        return OVERSIZE


async def relay(url: str, headers: Mapping[str, str]) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_json.MAX_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    try:
        ws = await websockets.connect(
            websocket_url(url),
            subprotocols=[websockets.Subprotocol("mcp")],
            additional_headers=dict(headers),
            max_size=_json.MAX_BYTES,
        )
    except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        sys.stderr.write(f"effmesh mcp-stdio: cannot reach {url}: {type(exc).__name__}\n")
        # Answer every request with an error rather than leaving the client waiting.
        while (line := await next_line(reader)) is not None:
            if isinstance(line, bytes):
                out.write(_refusal(line, "the effmesh gateway is unreachable"))
                out.flush()
        return 1

    async def upstream() -> None:
        while (line := await next_line(reader)) is not None:
            if line is OVERSIZE:
                reply = _line_error(
                    jsonrpc.INVALID_REQUEST, f"a message may be at most {_json.MAX_BYTES} bytes"
                )
            elif isinstance(line, bytes) and line.strip():
                try:
                    await ws.send(line.decode("utf-8").rstrip("\r\n"))
                    continue
                except UnicodeDecodeError:
                    reply = _line_error(jsonrpc.PARSE_ERROR, "a message must be UTF-8 text")
            else:
                continue
            out.write(reply)
            out.flush()
        await ws.close()

    async def downstream() -> None:
        async for frame in ws:
            data = frame.encode() if isinstance(frame, str) else frame
            out.write(data.replace(b"\n", b" ") + b"\n")
            out.flush()

    async with ws:
        up = asyncio.create_task(upstream())
        try:
            await downstream()
        except websockets.ConnectionClosedError:
            sys.stderr.write("effmesh mcp-stdio: the gateway closed the connection\n")
            return 1
        finally:
            up.cancel()
    return 0
