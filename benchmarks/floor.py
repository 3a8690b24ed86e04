"""Servers that do no work, each run in its own process, as floors for the hop benchmark.

``mcp``: answers every MCP request with a fixed result (one tool that echoes ``ping``), so
an MCP client's round trip to it is what the client and one HTTP exchange cost by themselves.
``ws``: a bare ``websockets`` echo server. ``stdio``: the ``mcp`` server's answers over stdio,
one JSON-RPC message a line, as an MCP server launched by its client.

    python -m benchmarks.floor mcp PORT
    python -m benchmarks.floor ws PORT
    python -m benchmarks.floor stdio
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import uvicorn
import uvloop
import websockets

_INFO = {"name": "floor", "version": "1"}
_RESULTS: dict[str, dict[str, Any]] = {
    "server/discover": {
        "supportedVersions": ["2026-07-28"],
        "capabilities": {"tools": {}},
        "serverInfo": _INFO,
        "resultType": "complete",
    },
    "initialize": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"tools": {}},
        "serverInfo": _INFO,
    },
    "tools/list": {
        "tools": [{"name": "echo", "inputSchema": {"type": "object"}}],
        "resultType": "complete",
        "cacheScope": "private",
        "ttlMs": 0,
    },
}
_CALL = {"content": [{"type": "text", "text": "ping"}], "isError": False, "resultType": "complete"}


async def mcp_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = json.loads(body) if body else {}
    if "id" not in request:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    result = _RESULTS.get(request.get("method"), _CALL)
    out = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})


def stdio_loop() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if "id" in request and "method" in request:
            result = _RESULTS.get(request["method"], _CALL)
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


async def ws_echo(port: int) -> None:
    async def echo(ws: Any) -> None:
        async for frame in ws:
            await ws.send(frame)

    async with websockets.serve(echo, "127.0.0.1", port):
        await asyncio.Future()


def main() -> None:
    kind = sys.argv[1]
    if kind == "stdio":
        stdio_loop()
        return
    port = int(sys.argv[2])
    if kind == "mcp":
        uvicorn.run(mcp_app, host="127.0.0.1", port=port, log_level="warning")
    else:
        # uvloop: the event loop the gateway runs on too.
        uvloop.run(ws_echo(port))


if __name__ == "__main__":
    main()
