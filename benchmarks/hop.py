"""Added latency of one gateway hop: MCP client -> effmesh -> A2A echo agent, against the
same A2A call made directly, in the same run; plus MCP over WebSocket against a bare
``websockets`` echo server.

Each gateway runs in its own process (``effmesh serve``), as users run it; the clients run
here. Rounds alternate between the paths so both see the same machine state.

    python -m benchmarks.hop --out benchmarks/results/hop.json --readme README.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from mcp import Client

from gateway.mcp_ws import websocket_client

CALLS = 2000
ROUND = 200
START = "<!-- bench:hop:start -->"
END = "<!-- bench:hop:end -->"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway(config: str) -> Iterator[str]:
    port = _free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(f"[gateway]\nport = {port}\nrate_per_minute = 0\n{config}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", f.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/agents", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the gateway did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        os.unlink(f.name)


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 3),
    }


async def _timed(call: Callable[[], Awaitable[Any]], n: int, out: list[float]) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)


async def hop(upstream: str, through: str) -> dict[str, Any]:
    direct: list[float] = []
    via: list[float] = []
    local: list[float] = []
    request = pb.SendMessageRequest(
        message=pb.Message(message_id="m", role=pb.ROLE_USER, parts=[pb.Part(text="ping")])
    )
    request.metadata.update({"effmesh.skill": "echo"})
    a2a_client = await create_client(
        f"{upstream}/a2a/echo", client_config=ClientConfig(streaming=False)
    )

    async def a2a_call() -> None:
        async for _ in a2a_client.send_message(request):
            pass

    async with a2a_client, Client(f"{through}/mcp") as mcp_client:

        async def via_call() -> None:
            await mcp_client.call_tool("up.echo", {"text": "ping"})

        async def local_call() -> None:
            await mcp_client.call_tool("echo.echo", {"text": "ping"})

        for call in (a2a_call, via_call, local_call):  # warm up connections and caches
            await _timed(call, 20, [])
        for _ in range(CALLS // ROUND):
            await _timed(a2a_call, ROUND, direct)
            await _timed(via_call, ROUND, via)
            await _timed(local_call, ROUND, local)
    d, v, loc = _stats(direct), _stats(via), _stats(local)
    return {
        "calls_per_path": CALLS,
        "direct_a2a": d,
        "mcp_via_gateway_to_a2a": v,
        "mcp_to_gateway_local_echo": loc,
        "added_p50_ms": round(v["p50_ms"] - d["p50_ms"], 3),
        "added_p99_ms": round(v["p99_ms"] - d["p99_ms"], 3),
    }


async def websocket_throughput(through: str, seconds: float = 3.0) -> dict[str, Any]:
    async def echo(ws: Any) -> None:
        async for frame in ws:
            await ws.send(frame)

    frame = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo.echo", "arguments": {"text": "ping"}},
        }
    )
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}") as ws:
            n, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                await ws.send(frame)
                await ws.recv()
                n += 1
    bare = n / seconds
    url = through.replace("http://", "ws://") + "/mcp/ws"
    async with Client(websocket_client(url)) as client:
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            await client.call_tool("echo.echo", {"text": "ping"})
            n += 1
    mcp_ws = n / seconds
    return {
        "bare_echo_msgs_per_s": round(bare),
        "mcp_ws_calls_per_s": round(mcp_ws),
        "ratio": round(mcp_ws / bare, 3),
    }


def table(result: dict[str, Any]) -> str:
    h = result["hop"]
    w = result["websocket"]
    rows = [
        "| path | p50 (ms) | p99 (ms) |",
        "| --- | ---: | ---: |",
        f"| A2A client -> A2A echo agent (direct) | {h['direct_a2a']['p50_ms']} |"
        f" {h['direct_a2a']['p99_ms']} |",
        f"| MCP client -> effmesh -> A2A echo agent | {h['mcp_via_gateway_to_a2a']['p50_ms']} |"
        f" {h['mcp_via_gateway_to_a2a']['p99_ms']} |",
        f"| MCP client -> effmesh (in-process echo) | {h['mcp_to_gateway_local_echo']['p50_ms']} |"
        f" {h['mcp_to_gateway_local_echo']['p99_ms']} |",
        f"| **added by the hop** | **{h['added_p50_ms']}** | **{h['added_p99_ms']}** |",
        "",
        f"MCP over `/mcp/ws`: {w['mcp_ws_calls_per_s']} calls/s against a bare `websockets` echo"
        f" at {w['bare_echo_msgs_per_s']} messages/s (ratio {w['ratio']}); {h['calls_per_path']}"
        " calls per path.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args()
    with gateway('[[agents]]\nname = "echo"\nkind = "echo"\n') as upstream:
        agents = (
            f'[[agents]]\nname = "echo"\nkind = "echo"\n[[agents]]\nname = "up"\n'
            f'kind = "a2a"\nurl = "{upstream}/a2a/echo"\n'
        )
        with gateway(agents) as through:
            result = {
                "benchmark": "hop",
                "hop": asyncio.run(hop(upstream, through)),
                "websocket": asyncio.run(websocket_throughput(through)),
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    md = table(result)
    print(md)
    if args.readme:
        text = args.readme.read_text()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        args.readme.write_text(f"{head}{START}\n{md}{END}{tail}")


if __name__ == "__main__":
    main()
