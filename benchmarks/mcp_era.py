"""What a remote MCP agent's era costs: connecting, and the agent's CPU per tool call.

Connect: a fresh agent's ``connect()`` (its first session and tool listing) against a
handshake-only server, probing first (``era = "auto"``: ``server/discover`` refused, then
``initialize``) and with the handshake pinned (what a handshake-only server cost before the
probe); and against a server of both eras, spoken to in 2026-07-28 or pinned to the handshake.
The servers are the official SDK's low-level ``Server`` on loopback, in a process of their
own; the handshake-only one refuses ``server/discover`` as the SDK 1.x does (a 400 naming a
missing session).

Calls: the agent's own CPU per tool call (``time.process_time`` of this process, the server
runs apart) in each era, for a tool without an output schema and one with a small schema,
checked against it and not (the check swapped for an empty one), all in interleaved rounds.

    python -m benchmarks.mcp_era --out benchmarks/results/mcp_era.json --doc docs/benchmarks.md
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from benchmarks import report

CONNECTS = 30
ROUNDS = 6
PER_ROUND = 200
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
REFUSAL = {"code": -32600, "message": "Bad Request: Missing session ID"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int, handshake_only: bool) -> None:
    """The server (run in its own process): tools ``plain`` and ``shaped`` (with
    :data:`SCHEMA`), both answering ``{"n": 3}``."""
    import mcp_types as mt  # noqa: PLC0415 - the server's process only
    from mcp.server import Server  # noqa: PLC0415

    tools = [
        mt.Tool(name="plain", input_schema={"type": "object"}),
        mt.Tool(name="shaped", input_schema={"type": "object"}, output_schema=SCHEMA),
    ]

    async def list_tools(ctx: Any, params: Any) -> mt.ListToolsResult:
        return mt.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> mt.CallToolResult:
        text = [mt.TextContent(type="text", text="3")]
        return mt.CallToolResult(content=text, structured_content={"n": 3})

    app = Server("era", on_list_tools=list_tools, on_call_tool=call_tool).streamable_http_app()

    async def refusing(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            message = await receive()
            body = message.get("body", b"")
            request = json.loads(body) if body else {}
            if request.get("method") == "server/discover":
                out = {"jsonrpc": "2.0", "id": request.get("id"), "error": REFUSAL}
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": json.dumps(out).encode()})
                return
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if not sent:
                    sent = True
                    return message
                return await receive()

            await app(scope, replay, send)
            return
        await app(scope, receive, send)

    uvicorn.run(refusing if handshake_only else app, port=port, log_level="warning")


@contextmanager
def server(handshake_only: bool) -> Iterator[str]:
    """The server in its own process; yields its MCP URL once it answers."""
    port = _free_port()
    argv = [sys.executable, "-m", "benchmarks.mcp_era", "serve", str(port)]
    process = subprocess.Popen([*argv, "handshake" if handshake_only else "both"])
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _connect_ms(url: str, era: Any) -> float:
    from agents.remote import RemoteMCPAgent  # noqa: PLC0415 - after the server is up

    agent = RemoteMCPAgent("era", url, timeout=30, era=era)
    started = time.perf_counter()
    await agent.connect()
    took = (time.perf_counter() - started) * 1000
    await agent.close()
    return took


async def connects(url: str) -> dict[str, float]:
    """p50 connect time (ms) probing first and with the handshake pinned, interleaved."""
    times: dict[str, list[float]] = {"auto": [], "handshake": []}
    for era in times:
        await _connect_ms(url, era)  # warm: imports, the server's first session
    for _ in range(CONNECTS):
        for era, seen in times.items():
            seen.append(await _connect_ms(url, era))
    return {era: round(statistics.median(seen), 2) for era, seen in times.items()}


async def calls(url: str) -> dict[str, float]:
    """The agent's CPU per call (ms, median of rounds), by era, tool and check."""
    from adapters import model as c  # noqa: PLC0415
    from agents.remote import RemoteMCPAgent  # noqa: PLC0415
    from agents.remote.mcp_outputs import OutputChecks  # noqa: PLC0415

    agents: dict[str, tuple[Any, str]] = {}
    for era in ("handshake", "2026-07-28"):
        for tool, checked in (("plain", True), ("shaped", True), ("shaped", False)):
            agent = RemoteMCPAgent("era", url, timeout=30, era=era)
            await agent.connect()
            if not checked:
                agent._outputs = OutputChecks(())  # what a call cost before the check
            label = f"{era}, {tool}" + ("" if checked else " (unchecked)")
            agents[label] = (agent, tool)

    async def run(agent: Any, tool: str, n: int) -> None:
        invocation = c.Invocation(tool, c.Message("user", ()))
        for _ in range(n):
            async for _ in agent.run(invocation, task_id="t"):
                pass

    for agent, tool in agents.values():
        await run(agent, tool, 50)
    cpu: dict[str, list[float]] = {label: [] for label in agents}
    for _ in range(ROUNDS):
        for label, (agent, tool) in agents.items():
            started = time.process_time()
            await run(agent, tool, PER_ROUND)
            cpu[label].append((time.process_time() - started) / PER_ROUND * 1000)
    for agent, _ in agents.values():
        await agent.close()
    return {label: round(statistics.median(seen), 3) for label, seen in cpu.items()}


def table(result: dict[str, Any]) -> str:
    connect = result["connect_ms_p50"]
    lines = [
        "| server | connect p50, probing first (ms) | with the handshake pinned (ms) |",
        "| --- | ---: | ---: |",
    ]
    for name, times in connect.items():
        lines.append(f"| {name} | {times['auto']:.1f} | {times['handshake']:.1f} |")
    lines += ["", "| era, tool | agent CPU per call (ms) |", "| --- | ---: |"]
    lines += [f"| {label} | {ms:.3f} |" for label, ms in result["cpu_ms_per_call"].items()]
    lines.append("")
    lines.append(
        f"{CONNECTS} connects of each kind, interleaved; {ROUNDS} interleaved rounds of "
        f"{PER_ROUND} calls per row; servers on loopback in a process of their own."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]), sys.argv[3] == "handshake")
        return
    args = report.arguments().parse_args()
    result: dict[str, Any] = {"benchmark": "mcp_era", "connect_ms_p50": {}}
    with server(handshake_only=True) as url:
        result["connect_ms_p50"]["handshake era only"] = asyncio.run(connects(url))
    with server(handshake_only=False) as url:
        result["connect_ms_p50"]["both eras"] = asyncio.run(connects(url))
        result["cpu_ms_per_call"] = asyncio.run(calls(url))
    report.publish(args, "mcp_era", result, table)


if __name__ == "__main__":
    main()
