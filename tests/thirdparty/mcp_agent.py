"""An MCP server built with the official Python MCP SDK (``MCPServer``), served over
streamable HTTP: the third-party MCP agent of tests/test_thirdparty_matrix.py.

Tools: ``now`` answers at once; ``stream`` reports three progress steps over a second and
returns their text; ``long`` works for a minute unless cancelled; ``ask`` asks the client for
a name (elicitation) and greets it. It appends what it sees (start, cancelled, with the
request id) as JSON lines to the file named by ``RECORD``, and prints the port it listens on.

Run: ``python -m tests.thirdparty.mcp_agent``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

server = MCPServer("demo")


def record(event: str, task: str) -> None:
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({"event": event, "task": task}) + "\n")


class Name(BaseModel):
    text: str


@server.tool(description="Answers at once.")
async def now(text: str, ctx: Context) -> str:
    record("start", ctx.request_id)
    return f"now: {text}"


@server.tool(description="Reports three steps over a second and returns them.")
async def stream(ctx: Context, text: str = "") -> str:
    record("start", ctx.request_id)
    chunks = ["one ", "two ", "three"]
    for i, chunk in enumerate(chunks):
        await asyncio.sleep(0.5)
        await ctx.report_progress(i + 1, len(chunks), chunk)
    return "".join(chunks)


@server.tool(description="Works for a minute unless cancelled.")
async def long(ctx: Context, text: str = "") -> str:
    record("start", ctx.request_id)
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        record("cancelled", ctx.request_id)
        raise
    return "finished"


@server.tool(description="Asks for a name and greets it.")
async def ask(ctx: Context, text: str = "") -> str:
    record("start", ctx.request_id)
    answer = await ctx.elicit("What name?", Name)
    if answer.action != "accept":
        return "no name"
    record("resume", ctx.request_id)
    return f"hello {answer.data.text}"


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    app = server.streamable_http_app()
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
