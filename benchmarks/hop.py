"""Added latency of one gateway hop: MCP client -> effmesh -> A2A echo agent, against the
same A2A call made directly, in the same run; plus MCP over WebSocket against a bare
``websockets`` echo server.

Tracing overhead: the same hop through a second gateway that records every span to its
JSON-lines trace file (the default ``[telemetry]``), against the first, which records none
(``exporters = []``), in the same interleaved rounds.

Each server runs in its own process (``effmesh serve``, or ``benchmarks.floor``), as users
run them; the clients run here. Rounds alternate between the paths so all see the same
machine state. The floor is the official MCP client calling a server that does no work at
all: no MCP hop can add less than that.

MCP to MCP: the same client through the gateway to the no-work MCP server over streamable
HTTP (an agent of kind ``mcp``), against the direct call to it; and to the same server's
answers over stdio (an agent with a ``command``), against the client launching it itself.
The gateway's CPU time per call is read from its process while only that path runs.

Before and after in one run: ``--baseline-src DIR`` also runs the hop, and the ``/mcp/ws``
rate, through a gateway started from the source tree DIR, in the same rounds as this tree's.

    python -m benchmarks.hop --out benchmarks/results/hop.json --doc docs/benchmarks.md
    python -m benchmarks.hop --out /tmp/hop.json --baseline-src ../effmesh-before
"""

from __future__ import annotations

import asyncio
import contextlib
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
from typing import Any

import httpx
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from mcp import Client, StdioServerParameters

from benchmarks import report
from gateway.mcp.ws import websocket_client

CALLS = 2000
ROUND = 200
STDIO_CALLS = 400
PIDS: dict[str, int] = {}
"""Each running gateway's process id, by base URL."""
STDIO_FLOOR = (sys.executable, os.path.join(os.path.dirname(__file__), "floor.py"), "stdio")
"""By path, so a gateway from another tree (``--baseline-src``) launches the same server."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


UNTRACED = "[telemetry]\nexporters = []\n"
TRACED = '[telemetry]\nexporters = ["file"]\n'


@contextmanager
def gateway(config: str, telemetry: str = UNTRACED, src: str | None = None) -> Iterator[str]:
    """An ``effmesh serve`` in its own process; yields its base URL. ``src``: a source tree
    to run the gateway from instead of this one."""
    port = _free_port()
    data = tempfile.mkdtemp(prefix="effmesh-bench-")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(
            f'[gateway]\nport = {port}\nrate_per_minute = 0\ndata_dir = "{data}"\n'
            f"{telemetry}{config}"
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", f.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Run inside the tree too: ``-m`` puts the working directory ahead of PYTHONPATH.
        env=None if src is None else {**os.environ, "PYTHONPATH": src},
        cwd=src,
    )
    base = f"http://127.0.0.1:{port}"
    PIDS[base] = proc.pid
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


@contextmanager
def floor(kind: str) -> Iterator[int]:
    """A ``benchmarks.floor`` server in its own process; yields its port."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.floor", kind, str(port)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the {kind} floor server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def _per_second(ms: list[float]) -> float:
    """Calls per second, one at a time, over the time the calls took."""
    return round(len(ms) / (sum(ms) / 1000), 1)


async def hop(
    upstream: str, through: str, traced: str, floor_url: str, baseline: str | None = None
) -> dict[str, Any]:
    direct: list[float] = []
    via: list[float] = []
    via_traced: list[float] = []
    local: list[float] = []
    bare: list[float] = []
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

    async with (
        a2a_client,
        Client(f"{through}/mcp") as mcp_client,
        Client(f"{traced}/mcp") as traced_client,
        Client(floor_url) as floor_client,
        contextlib.AsyncExitStack() as stack,
    ):

        async def via_call() -> None:
            await mcp_client.call_tool("up.echo", {"text": "ping"})

        async def traced_call() -> None:
            await traced_client.call_tool("up.echo", {"text": "ping"})

        async def local_call() -> None:
            await mcp_client.call_tool("echo.echo", {"text": "ping"})

        async def floor_call() -> None:
            await floor_client.call_tool("echo", {"text": "ping"})

        async def via_mcp_call() -> None:
            await mcp_client.call_tool("upm.echo", {"text": "ping"})

        paths = {
            "direct_a2a": (a2a_call, direct),
            "mcp_via_gateway_to_a2a": (via_call, via),
            "mcp_via_traced_gateway_to_a2a": (traced_call, via_traced),
            "mcp_to_gateway_local_echo": (local_call, local),
            "mcp_to_idle_server": (floor_call, bare),
            "mcp_via_gateway_to_mcp": (via_mcp_call, []),
        }
        if baseline is not None:
            baseline_client = await stack.enter_async_context(Client(f"{baseline}/mcp"))

            async def baseline_call() -> None:
                await baseline_client.call_tool("up.echo", {"text": "ping"})

            paths["mcp_via_baseline_gateway_to_a2a"] = (baseline_call, [])

            async def baseline_mcp_call() -> None:
                await baseline_client.call_tool("upm.echo", {"text": "ping"})

            paths["mcp_via_baseline_gateway_to_mcp"] = (baseline_mcp_call, [])
        for call, _ in paths.values():  # warm up connections and caches
            await _timed(call, 20, [])
        cpu = {"mcp_via_gateway_to_mcp": 0.0, "mcp_via_baseline_gateway_to_mcp": 0.0}
        gateways = {"mcp_via_gateway_to_mcp": through, "mcp_via_baseline_gateway_to_mcp": baseline}
        for _ in range(CALLS // ROUND):
            for name, (call, out) in paths.items():
                gw = gateways.get(name)
                before = 0.0 if gw is None else cpu_seconds(PIDS[gw])
                await _timed(call, ROUND, out)
                if gw is not None:
                    cpu[name] += cpu_seconds(PIDS[gw]) - before
    result: dict[str, Any] = {"calls_per_path": CALLS}
    result |= {name: _stats(out) for name, (_, out) in paths.items()}
    d, v, f = result["direct_a2a"], result["mcp_via_gateway_to_a2a"], result["mcp_to_idle_server"]
    for q in ("p50", "p99"):
        result[f"added_{q}_ms"] = round(v[f"{q}_ms"] - d[f"{q}_ms"], 3)
        # What the gateway itself adds: the hop less the MCP client's own round trip.
        result[f"added_beyond_floor_{q}_ms"] = round(result[f"added_{q}_ms"] - f[f"{q}_ms"], 3)
    m = result["mcp_via_gateway_to_mcp"]
    result["mcp_to_mcp"] = {
        "added_p50_ms": round(m["p50_ms"] - f["p50_ms"], 3),
        "added_p99_ms": round(m["p99_ms"] - f["p99_ms"], 3),
        "calls_per_s": _per_second(paths["mcp_via_gateway_to_mcp"][1]),
        "direct_calls_per_s": _per_second(bare),
        "gateway_cpu_ms_per_call": round(cpu["mcp_via_gateway_to_mcp"] * 1000 / CALLS, 3),
    }
    if baseline is not None:
        b = result["mcp_via_baseline_gateway_to_mcp"]
        result["mcp_to_mcp"]["baseline"] = {
            "added_p50_ms": round(b["p50_ms"] - f["p50_ms"], 3),
            "added_p99_ms": round(b["p99_ms"] - f["p99_ms"], 3),
            "calls_per_s": _per_second(paths["mcp_via_baseline_gateway_to_mcp"][1]),
            "gateway_cpu_ms_per_call": round(
                cpu["mcp_via_baseline_gateway_to_mcp"] * 1000 / CALLS, 3
            ),
        }
    t = result["mcp_via_traced_gateway_to_a2a"]
    for q in ("p50", "p99"):
        # Tracing's cost, as a share of the whole traced call and of what the hop adds.
        result[f"tracing_overhead_{q}"] = round(t[f"{q}_ms"] / v[f"{q}_ms"] - 1, 4)
        result[f"tracing_added_{q}_ms"] = round(t[f"{q}_ms"] - v[f"{q}_ms"], 3)
    if baseline is not None:
        result["versus_baseline"] = {
            name: {
                "added_p50_ms": round(result[path]["p50_ms"] - d["p50_ms"], 3),
                "added_p99_ms": round(result[path]["p99_ms"] - d["p99_ms"], 3),
                "calls_per_s": _per_second(paths[path][1]),
            }
            for name, path in (
                ("current", "mcp_via_gateway_to_a2a"),
                ("baseline", "mcp_via_baseline_gateway_to_a2a"),
            )
        }
    return result


async def stdio_hop(through: str, baseline: str | None) -> dict[str, Any]:
    """A call to a stdio MCP server through the gateway (and the baseline gateway), against
    the client's own session with the same server, in the same rounds."""
    server = StdioServerParameters(command=STDIO_FLOOR[0], args=list(STDIO_FLOOR[1:]))
    direct: list[float] = []
    via: list[float] = []
    before: list[float] = []
    async with (
        Client(server) as own,
        Client(f"{through}/mcp") as gw,
        contextlib.AsyncExitStack() as stack,
    ):

        async def direct_call() -> None:
            await own.call_tool("echo", {"text": "ping"})

        async def via_call() -> None:
            await gw.call_tool("ups.echo", {"text": "ping"})

        paths = [(direct_call, direct), (via_call, via)]
        if baseline is not None:
            old = await stack.enter_async_context(Client(f"{baseline}/mcp"))

            async def baseline_call() -> None:
                await old.call_tool("ups.echo", {"text": "ping"})

            paths.append((baseline_call, before))
        for call, _ in paths:
            await _timed(call, 20, [])
        for _ in range(STDIO_CALLS // ROUND):
            for call, out in paths:
                await _timed(call, ROUND, out)
    result: dict[str, Any] = {"direct": _stats(direct), "via_gateway": _stats(via)}
    result["added_p50_ms"] = round(result["via_gateway"]["p50_ms"] - result["direct"]["p50_ms"], 3)
    if baseline is not None:
        result["baseline_via_gateway"] = _stats(before)
        result["baseline_added_p50_ms"] = round(
            result["baseline_via_gateway"]["p50_ms"] - result["direct"]["p50_ms"], 3
        )
    return result


async def _rate(call: Callable[[], Awaitable[Any]], seconds: float) -> float:
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        await call()
        n += 1
    return n / seconds


async def websocket_throughput(
    through: str, echo_port: int, seconds: float = 3.0, baseline: str | None = None
) -> dict[str, Any]:
    """Round trips per second, one at a time, with the same raw ``websockets`` client sending
    the same ``tools/call`` frame to a bare echo server and to ``/mcp/ws`` (and the baseline
    gateway's); and the official MCP client over the WebSocket transport, for scale."""
    frame = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo.echo", "arguments": {"text": "ping"}},
        }
    )
    url = through.replace("http://", "ws://") + "/mcp/ws"
    mcp = [websockets.Subprotocol("mcp")]
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    async with (
        websockets.connect(f"ws://127.0.0.1:{echo_port}") as echo_ws,
        websockets.connect(url, subprotocols=mcp) as mcp_ws,
        Client(websocket_client(url)) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        sockets = [mcp_ws]
        if baseline is not None:
            baseline_url = baseline.replace("http://", "ws://") + "/mcp/ws"
            baseline_ws = await stack.enter_async_context(
                websockets.connect(baseline_url, subprotocols=mcp)
            )
            sockets.append(baseline_ws)
        for ws in sockets:
            await ws.send(json.dumps(init))
            await ws.recv()
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))

        async def bare_call() -> None:
            await echo_ws.send(frame)
            await echo_ws.recv()

        async def mcp_call(ws: websockets.ClientConnection = mcp_ws) -> None:
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            if "result" not in reply:
                raise RuntimeError(f"the gateway answered {reply}")

        async def sdk_call() -> None:
            await client.call_tool("echo.echo", {"text": "ping"})

        calls: dict[str, Callable[[], Awaitable[None]]] = {
            "bare": bare_call,
            "mcp": mcp_call,
            "sdk": sdk_call,
        }
        if baseline is not None:
            calls["baseline"] = lambda: mcp_call(baseline_ws)
        rates: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(3):  # interleaved rounds; the median of each
            for k, call in calls.items():
                rates[k].append(await _rate(call, seconds / 3))
    bare, mcp_ws_rate, sdk = (statistics.median(rates[k]) for k in ("bare", "mcp", "sdk"))
    result = {
        "bare_echo_msgs_per_s": round(bare),
        "mcp_ws_calls_per_s": round(mcp_ws_rate),
        "ratio": round(mcp_ws_rate / bare, 3),
        "mcp_sdk_client_calls_per_s": round(sdk),
    }
    if baseline is not None:
        result["baseline_mcp_ws_calls_per_s"] = round(statistics.median(rates["baseline"]))
    return result


def table(result: dict[str, Any]) -> str:
    h = result["hop"]
    w = result["websocket"]

    def row(label: str, key: str) -> str:
        return f"| {label} | {h[key]['p50_ms']} | {h[key]['p99_ms']} |"

    rows = [
        "| path | p50 (ms) | p99 (ms) |",
        "| --- | ---: | ---: |",
        row("A2A client -> A2A echo agent (direct)", "direct_a2a"),
        row("MCP client -> effmesh -> A2A echo agent", "mcp_via_gateway_to_a2a"),
        row("the same, every span written to the trace file", "mcp_via_traced_gateway_to_a2a"),
        row("MCP client -> effmesh (in-process echo)", "mcp_to_gateway_local_echo"),
        row("MCP client -> a server that does no work (floor)", "mcp_to_idle_server"),
        f"| **added by the hop** (target: 1 / 5) | **{h['added_p50_ms']}** |"
        f" **{h['added_p99_ms']}** |",
        f"| added beyond the MCP client's own floor | {h['added_beyond_floor_p50_ms']} |"
        f" {h['added_beyond_floor_p99_ms']} |",
        f"| **tracing overhead** on the hop (target: 10%) |"
        f" **{h['tracing_overhead_p50']:+.1%}** ({h['tracing_added_p50_ms']:+.3f} ms) |"
        f" {h['tracing_overhead_p99']:+.1%} ({h['tracing_added_p99_ms']:+.3f} ms) |",
        "",
        f"MCP over `/mcp/ws`, one call at a time with a raw `websockets` client:"
        f" {w['mcp_ws_calls_per_s']} tool calls/s against a bare `websockets` echo server in"
        f" its own process at {w['bare_echo_msgs_per_s']} messages/s, same client and frame"
        f" (**ratio {w['ratio']}**, target 0.4); the official MCP client over the same socket:"
        f" {w['mcp_sdk_client_calls_per_s']} calls/s. {h['calls_per_path']} calls per hop path.",
    ]
    m, sd = h["mcp_to_mcp"], result["stdio"]
    rows += [
        "",
        f"MCP to MCP: the official MCP client through effmesh to an MCP server that does no"
        f" work, over streamable HTTP, adds p50 **{m['added_p50_ms']} ms** (p99"
        f" {m['added_p99_ms']} ms) over the direct call (target: 1 ms); {m['calls_per_s']}"
        f" calls/s one at a time against {m['direct_calls_per_s']} direct; the gateway spends"
        f" **{m['gateway_cpu_ms_per_call']} ms of CPU per call** (target: 2). To the same"
        f" server over stdio: p50 {sd['via_gateway']['p50_ms']} ms through effmesh against"
        f" {sd['direct']['p50_ms']} ms from the client's own session with it (added"
        f" **{sd['added_p50_ms']} ms**, target: 2).",
    ]
    if "baseline" in m:
        b = m["baseline"]
        rows += [
            "",
            f"Baseline gateway, same rounds: MCP to MCP adds p50 {b['added_p50_ms']} ms (p99"
            f" {b['added_p99_ms']} ms), {b['calls_per_s']} calls/s, {b['gateway_cpu_ms_per_call']}"
            f" ms CPU per call; to the stdio server p50 {sd['baseline_via_gateway']['p50_ms']} ms"
            f" per call (added {sd['baseline_added_p50_ms']} ms).",
        ]
    if "versus_baseline" in h:
        now, before = h["versus_baseline"]["current"], h["versus_baseline"]["baseline"]
        rows += [
            "",
            f"Against a gateway from `{result['baseline_src']}` in the same rounds: the hop adds"
            f" p50 {now['added_p50_ms']} ms (baseline {before['added_p50_ms']}),"
            f" p99 {now['added_p99_ms']} ms (baseline {before['added_p99_ms']});"
            f" {now['calls_per_s']} hop calls/s (baseline {before['calls_per_s']});"
            f" `/mcp/ws` {w['mcp_ws_calls_per_s']} calls/s"
            f" (baseline {w['baseline_mcp_ws_calls_per_s']}).",
        ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--baseline-src", help="also run the hop through a gateway from this tree")
    args = parser.parse_args()
    with (
        gateway('[[agents]]\nname = "echo"\nkind = "echo"\n') as upstream,
        floor("mcp") as idle,
    ):
        idle_url = f"http://127.0.0.1:{idle}/mcp"
        agents = (
            f'[[agents]]\nname = "echo"\nkind = "echo"\n[[agents]]\nname = "up"\n'
            f'kind = "a2a"\nurl = "{upstream}/a2a/echo"\n'
            f'[[agents]]\nname = "upm"\nkind = "mcp"\nurl = "{idle_url}"\n'
            f'[[agents]]\nname = "ups"\nkind = "mcp"\ncommand = {json.dumps(STDIO_FLOOR)}\n'
        )
        with (
            gateway(agents) as through,
            gateway(agents, TRACED) as traced,
            floor("ws") as echo,
            contextlib.ExitStack() as stack,
        ):
            src = args.baseline_src
            baseline = None if src is None else stack.enter_context(gateway(agents, src=src))
            result = {
                "benchmark": "hop",
                "hop": asyncio.run(hop(upstream, through, traced, idle_url, baseline)),
                "stdio": asyncio.run(stdio_hop(through, baseline)),
                "websocket": asyncio.run(websocket_throughput(through, echo, baseline=baseline)),
            }
            if src is not None:
                result["baseline_src"] = src
    report.publish(args, "hop", result, table)


if __name__ == "__main__":
    main()
