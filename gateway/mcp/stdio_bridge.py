"""``effmesh mcp-stdio``: what Claude Desktop or an IDE launches to reach a running gateway.

It relays newline-delimited JSON-RPC between stdin/stdout and the gateway's ``/mcp/ws``
socket, one message per frame, without parsing them: the gateway's MCP server does the
protocol, so the bridge starts in a fraction of a second (no SDK imports).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import websockets

from adapters import _json


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
        while line := await reader.readline():
            out.write(_refusal(line, "the effmesh gateway is unreachable"))
            out.flush()
        return 1

    async def upstream() -> None:
        while line := await reader.readline():
            if line.strip():
                await ws.send(line.decode("utf-8", "replace").rstrip("\n"))
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
