"""What an MCP gateway adds to one tool call: effmesh beside IBM ContextForge and mcp-proxy.

One upstream MCP server (``benchmarks.peers.upstream``: the official SDK, one ``echo`` tool)
runs in its own process. The official MCP client (mcp 2.3.0) calls that tool directly and
through each gateway, every gateway in its own process, started as its users start it:

- effmesh: ``effmesh serve`` with the upstream as a remote MCP agent (streamable HTTP);
- ContextForge: ``mcpgateway`` in its own venv, the upstream registered through its REST API
  and exposed through a virtual server (streamable HTTP both ways);
- mcp-proxy: it bridges a stdio server to HTTP, so it spawns the upstream over stdio.

Measured: per-call latency in interleaved rounds (the paths take turns, same payload), calls
per second at 1, 8 and 64 concurrent clients (each its own MCP session, spread over load
processes), the CPU each gateway spends per call, and the resident memory of each gateway's
process tree idle and after load. Then the same upstream tool through effmesh from an A2A
client and an ACP client, beside the MCP client's call. A peer that cannot be installed,
started or called is reported with the reason.

    python -m benchmarks.peers.gateways --out benchmarks/results/peers_gateways.json \
        --doc docs/benchmarks.md [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from benchmarks import report
from benchmarks.peers import venvs

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = "ping"
UPSTREAM_MARK = "benchmarks.peers.upstream"
PEERS: dict[str, list[str]] = {
    "contextforge": ["mcp-contextforge-gateway==1.0.7.post20260921"],
    "mcp-proxy": ["mcp-proxy==0.13.0"],
}
# The handshake era (2025-11-25): the one every target serves. ContextForge and mcp-proxy run
# the 1.x SDK, which knows no 2026-07-28; effmesh and the upstream get a modern-era row too.
Mode = Literal["legacy", "auto"]
ERA: Mode = "legacy"
LOAD_PROCESSES = 2


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each measurement to run."""

    calls: int
    """Calls per latency path, in ``rounds`` interleaved rounds."""
    rounds: int
    levels: tuple[int, ...]
    load_seconds: float
    load_rounds: int
    cross_calls: int


FULL = Plan(
    calls=1000, rounds=10, levels=(1, 8, 64), load_seconds=4.0, load_rounds=3, cross_calls=400
)
QUICK = Plan(calls=40, rounds=2, levels=(1, 8, 64), load_seconds=1.0, load_rounds=1, cross_calls=20)


class PeerFailed(Exception):
    """A peer could not be installed, started, configured or called; the message says why."""


@dataclass(slots=True)
class Target:
    """One MCP endpoint the client calls: the upstream itself or a gateway in front of it."""

    key: str
    label: str
    url: str
    tool: str
    to_upstream: str
    """How this path reaches the upstream server."""
    headers: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    """Root of the gateway's process tree (None: no gateway)."""
    stdio: bool = False
    """``url`` is a command line: the client spawns the server and talks over its stdio."""
    version: str = ""


def _reason(exc: BaseException | None) -> str:
    """``Type: message`` of ``exc``, or of the first failure inside an exception group (the
    SDKs' task groups wrap transport errors in them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:400]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- processes -----------------------------------------------------------------------------


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to the child if this benchmark dies without cleaning up.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Service:
    """One server process in its own process group, logging to a file. ``stop`` ends the
    whole group (a gateway's children included) and is safe to call twice."""

    def __init__(self, name: str, argv: list[str], folder: Path, *, cwd: Path, env: dict[str, str]):
        self.name = name
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads run yet
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 12) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(line.strip()[:240] for line in text[-lines:])

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(5)

    def wait_http(self, url: str, ready: Callable[[httpx.Response], bool], timeout: float) -> None:
        """Poll ``url`` until ``ready`` says yes (a process gives no event to wait on).

        Raises:
            PeerFailed: the process exited, or ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerFailed(
                    f"{self.name} exited with {self.process.returncode}: {self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if ready(httpx.get(url, timeout=2)):
                    return
            time.sleep(0.2)
        raise PeerFailed(f"{self.name} not ready after {timeout:.0f} s: {self.tail()}")


def _tree(pid: int) -> list[int]:
    """``pid`` and every live descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if Path(f"/proc/{p}").exists():
            out.append(p)
            todo += children.get(p, [])
    return out


def _is_upstream(pid: int) -> bool:
    """Whether ``pid`` runs ``python -m benchmarks.peers.upstream``."""
    with contextlib.suppress(OSError):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        return argv[1:3] == ["-m", UPSTREAM_MARK]
    return False


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def memory(pid: int, *, spawned_apart: bool = True) -> dict[str, Any]:
    """Resident memory of the process tree under ``pid`` (VmRSS summed, so a page that
    processes share counts once for each). With ``spawned_apart``, an upstream server the
    gateway spawned (mcp-proxy's) is counted apart, so ``gateway_mb`` compares like with like."""
    pids = _tree(pid)
    own = [p for p in pids if not (spawned_apart and _is_upstream(p))]
    mb = 1024.0
    return {
        "gateway_mb": round(sum(_status_kb(p, "VmRSS") for p in own) / mb, 1),
        "gateway_peak_mb": round(sum(_status_kb(p, "VmHWM") for p in own) / mb, 1),
        "spawned_upstream_mb": round(
            sum(_status_kb(p, "VmRSS") for p in pids if p not in own) / mb, 1
        ),
        "processes": len(own),
    }


# --- the peers -------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def start_upstream(stack: contextlib.ExitStack, folder: Path) -> tuple[Target, Service]:
    port = _free_port()
    argv = [sys.executable, "-m", UPSTREAM_MARK, "http", str(port)]
    service = Service("upstream", argv, folder, cwd=ROOT, env=_env())
    stack.callback(service.stop)
    url = f"http://127.0.0.1:{port}/mcp"
    # Any HTTP answer from the MCP path means the server is up (a GET without a session is 4xx).
    service.wait_http(url, lambda r: r.status_code < 500, 30)
    target = Target(
        "direct", "direct (no gateway)", url, "echo", "-", version=metadata.version("mcp")
    )
    return target, service


def start_effmesh(stack: contextlib.ExitStack, folder: Path, upstream: str) -> Target:
    port = _free_port()
    config = folder / "effmesh.toml"
    # rate_per_minute = 0: the per-client limit would throttle the load test (ContextForge's
    # limiter is turned off the same way).
    config.write_text(
        f'[gateway]\nport = {port}\ndata_dir = "{folder / "effmesh-data"}"\n'
        f'rate_per_minute = 0\n[[agents]]\nname = "up"\nkind = "mcp"\nurl = "{upstream}"\n'
    )
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)]
    service = Service("effmesh", argv, folder, cwd=ROOT, env=_env())
    stack.callback(service.stop)

    def ready(r: httpx.Response) -> bool:
        agents = r.json().get("agents", ())
        return any(a["name"] == "up" and a.get("state") == "up" for a in agents)

    service.wait_http(f"http://127.0.0.1:{port}/agents", ready, 60)
    return Target(
        "effmesh",
        "effmesh",
        f"http://127.0.0.1:{port}/mcp",
        "up.echo",
        "streamable HTTP",
        pid=service.pid,
        version=metadata.version("effmesh"),
    )


def _install(name: str) -> Path:
    try:
        return venvs.ensure(name, PEERS[name])
    except subprocess.CalledProcessError as exc:
        lines = [line for line in (exc.stderr or "").splitlines() if line.startswith("ERROR")]
        raise PeerFailed(
            f"pip install {' '.join(PEERS[name])} failed: {' | '.join(lines)}"
        ) from exc
    except FileNotFoundError as exc:
        raise PeerFailed(str(exc)) from exc


def _peer_version(python: Path, *packages: str) -> str:
    code = (
        "import importlib.metadata as m, sys; print(' '.join(m.version(p) for p in sys.argv[1:]))"
    )
    out = subprocess.run(
        [str(python), "-c", code, *packages], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def start_contextforge(stack: contextlib.ExitStack, folder: Path, upstream: str) -> Target:
    """ContextForge as its quick start runs it, with SQLite under ``folder``; the upstream is
    registered as a gateway and its tool exposed through a virtual server."""
    python = _install("contextforge")
    home = folder / "contextforge"
    home.mkdir()  # its own working directory: it reads a .env from there if one exists
    port = _free_port()
    jwt_secret = secrets.token_hex(32)
    env = _env(
        JWT_SECRET_KEY=jwt_secret,
        AUTH_ENCRYPTION_SECRET=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{home / 'mcp.db'}",
        PLATFORM_ADMIN_EMAIL="admin@example.com",
        PLATFORM_ADMIN_PASSWORD=f"Bench-{secrets.token_urlsafe(16)}!",
        LOG_LEVEL="WARNING",
        PLUGINS_ENABLED="false",
        # The upstream listens on loopback, which its SSRF guard refuses by default.
        SSRF_ALLOW_LOCALHOST="true",
        # Its default limit (100 MCP requests a minute per client) would cap the load test.
        RATE_LIMITING_ENABLED="false",
    )
    flags = f"--host 127.0.0.1 --port {port} --log-level warning".split()
    argv = [str(python.parent / "mcpgateway"), *flags]
    service = Service("contextforge", argv, folder, cwd=home, env=env)
    stack.callback(service.stop)
    base = f"http://127.0.0.1:{port}"
    service.wait_http(f"{base}/health", lambda r: r.status_code == 200, 180)
    # As its quick start makes one: a token for the admin, valid for a week.
    make = "-m mcpgateway.utils.create_jwt_token --username admin@example.com --exp 10080"
    made = subprocess.run(
        [str(python), *make.split(), f"--secret={jwt_secret}"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    token = made.stdout.strip().splitlines()[-1] if made.stdout.strip() else ""
    if made.returncode != 0 or not token:
        raise PeerFailed(f"create_jwt_token failed: {made.stderr.strip()[-200:]}")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
        r = http.post(
            "/gateways", json={"name": "upstream", "url": upstream, "transport": "STREAMABLEHTTP"}
        )
        if r.status_code >= 300:
            raise PeerFailed(f"POST /gateways answered {r.status_code}: {r.text[:300]}")
        listed = http.get("/tools").json()
        listed = listed if isinstance(listed, list) else listed.get("items", [])
        tools = [t for t in listed if t.get("originalName") == "echo"]
        if not tools:
            raise PeerFailed("the upstream's echo tool did not appear in GET /tools")
        r = http.post(
            "/servers", json={"server": {"name": "bench", "associated_tools": [tools[0]["id"]]}}
        )
        if r.status_code >= 300:
            raise PeerFailed(f"POST /servers answered {r.status_code}: {r.text[:300]}")
        server_id = r.json()["id"]
    return Target(
        "contextforge",
        "ContextForge",
        f"{base}/servers/{server_id}/mcp",
        tools[0]["name"],
        "streamable HTTP",
        headers=auth,
        pid=service.pid,
        version=_peer_version(python, "mcp-contextforge-gateway", "mcp"),
    )


def start_mcp_proxy(stack: contextlib.ExitStack, folder: Path) -> Target:
    """mcp-proxy serving streamable HTTP (and SSE) for the upstream it spawns over stdio."""
    python = _install("mcp-proxy")
    port = _free_port()
    flags = f"--host 127.0.0.1 --port {port} --log-level WARNING --".split()
    argv = [str(python.parent / "mcp-proxy"), *flags, sys.executable, "-m", UPSTREAM_MARK, "stdio"]
    service = Service("mcp-proxy", argv, folder, cwd=ROOT, env=_env())
    stack.callback(service.stop)
    base = f"http://127.0.0.1:{port}"
    service.wait_http(f"{base}/status", lambda r: r.status_code == 200, 60)
    return Target(
        "mcp-proxy",
        "mcp-proxy",
        f"{base}/mcp/",
        "echo",
        "stdio (spawned)",
        pid=service.pid,
        version=_peer_version(python, "mcp-proxy", "mcp"),
    )


# --- MCP calls -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def session(target: Target, mode: Mode = ERA) -> AsyncIterator[Client]:
    """One MCP session of the official client to ``target``."""
    if target.stdio:
        command = target.url.split()
        params = StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))
        async with Client(params, mode=mode) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient(headers=target.headers, timeout=60) as http,
        Client(streamable_http_client(target.url, http_client=http), mode=mode) as client,
    ):
        yield client


async def call(client: Client, tool: str) -> None:
    """One ``tools/call``; a tool error is a failure, so no path is timed on errors.

    Raises:
        PeerFailed: the call came back as an error or without the payload.
    """
    result = await client.call_tool(tool, {"text": PAYLOAD})
    texts = [getattr(c, "text", None) for c in result.content]
    if result.is_error or PAYLOAD not in texts:
        raise PeerFailed(f"{tool} answered {texts!r} (is_error={result.is_error})")


def _stats(ms: list[float]) -> dict[str, Any]:
    ms = sorted(ms)

    def q(p: float) -> float:
        return round(ms[min(len(ms) - 1, max(0, round(p / 100 * len(ms)) - 1))], 3)

    return {
        "calls": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": q(99),
        "mean_ms": round(statistics.fmean(ms), 3),
        "percentiles_ms": [round(ms[0], 3)] + [q(p) for p in range(1, 101)],
    }


Caller = Callable[[], Awaitable[None]]


async def _rounds(
    callers: dict[str, Caller], calls: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Time every caller ``calls`` times in ``rounds`` rounds, rotating who goes first; a
    caller that fails is dropped with its error."""
    samples: dict[str, list[float]] = {k: [] for k in callers}
    errors: dict[str, str] = {}
    for key, caller in callers.items():  # warm up connections, sessions and caches
        try:
            for _ in range(20):
                await caller()
        except Exception as exc:  # noqa: BLE001 - a failing path is reported, not fatal
            errors[key] = _reason(exc)
    order = [k for k in callers if k not in errors]
    per_round = max(1, calls // rounds)
    for r in range(rounds):
        turn = order[r % len(order) :] + order[: r % len(order)] if order else []
        for key in turn:
            if key in errors:
                continue
            out = samples[key]
            try:
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    await callers[key]()
                    out.append((time.perf_counter() - t0) * 1000)
            except Exception as exc:  # noqa: BLE001 - a failing path is reported, not fatal
                errors[key] = _reason(exc)
    return {k: v for k, v in samples.items() if k not in errors and v}, errors


async def latency(paths: dict[str, tuple[Target, Mode]], plan: Plan) -> dict[str, Any]:
    """Per-call latency of every path, interleaved; ``added_*`` is each path's percentile
    less the direct path's of the same protocol era."""
    result: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        callers: dict[str, Caller] = {}
        for key, (target, mode) in paths.items():
            try:
                client = await stack.enter_async_context(session(target, mode))
            except Exception as exc:  # noqa: BLE001 - a failing path is reported, not fatal
                result[key] = {"error": _reason(exc)}
                continue
            result[key] = {"protocol_version": client.protocol_version}

            def caller(c: Client = client, tool: str = target.tool) -> Awaitable[None]:
                return call(c, tool)

            callers[key] = caller
        samples, errors = await _rounds(callers, plan.calls, plan.rounds)
    for key, error in errors.items():
        result[key]["error"] = error
    for key, ms in samples.items():
        result[key] |= _stats(ms)
    for key, entry in result.items():
        base = "direct-2026" if key.endswith("-2026") else "direct"
        if "p50_ms" in entry and key != base and "p50_ms" in result.get(base, {}):
            for q in ("p50", "p99"):
                entry[f"added_{q}_ms"] = round(entry[f"{q}_ms"] - result[base][f"{q}_ms"], 3)
    return result


# --- load ------------------------------------------------------------------------------------


async def _worker() -> None:
    """A load process: reads its spec (one JSON line), opens its sessions at once, prints
    ``ready``, waits for ``go``, calls in a loop on every session until the time is up, and
    prints one JSON line: calls, errors, each call's milliseconds, the wall and CPU seconds
    from ``go`` to the last call's end. Prints ``{"error": ...}`` instead of ``ready`` when a
    session cannot be opened, and exits quietly when its input closes before ``go``.
    """
    spec = json.loads(await asyncio.to_thread(sys.stdin.readline))
    target = Target(**spec["target"])
    n = spec["clients"]
    counts = {"calls": 0, "errors": 0}
    latencies: list[float] = []
    errors: list[str] = []
    # Each session lives in its own task, as the SDK's task groups require.
    opened, finished = asyncio.Barrier(n + 1), asyncio.Barrier(n + 1)
    go, release = asyncio.Event(), asyncio.Event()
    deadline = 0.0

    async def client() -> None:
        try:
            async with session(target) as c:
                await call(c, target.tool)
                await opened.wait()
                await go.wait()
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    try:
                        await call(c, target.tool)
                        latencies.append(round((time.perf_counter() - t) * 1000, 3))
                        counts["calls"] += 1
                    except Exception as exc:  # noqa: BLE001 - every failure is counted
                        counts["errors"] += 1
                        errors.append(_reason(exc))
                await finished.wait()
                await release.wait()  # closing sessions stays out of the window
        except Exception:
            await opened.abort()
            raise

    tasks = [asyncio.create_task(client()) for _ in range(n)]
    try:
        await opened.wait()
    except asyncio.BrokenBarrierError:
        failed = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if r]
        reason = next((r for r in failed if not isinstance(r, asyncio.BrokenBarrierError)), None)
        print(json.dumps({"error": _reason(reason)}), flush=True)
        return
    print("ready", flush=True)
    if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
        release.set()
        deadline = 0.0
        go.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + spec["seconds"]
    go.set()
    await finished.wait()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    first = errors[0] if errors else ""
    out = {"wall_s": wall, "cpu_s": cpu, "first_error": first, "ms": latencies}
    print(json.dumps(counts | out), flush=True)
    release.set()
    await asyncio.gather(*tasks)


async def _readline(proc: asyncio.subprocess.Process, timeout: float) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        raise PeerFailed(f"a load process exited with {await proc.wait()}")
    return line.decode().strip()


async def load(target: Target, upstream_pid: int, clients: int, seconds: float) -> dict[str, Any]:
    """Calls per second with ``clients`` concurrent sessions for ``seconds``, and the CPU
    the gateway, the upstream, the load processes and everything else used meanwhile.

    Raises:
        PeerFailed: a load process could not open its sessions or did not report.
    """
    n = min(clients, LOAD_PROCESSES)
    shares = [clients // n + (1 if i < clients % n else 0) for i in range(n)]
    spec = {
        f: getattr(target, f) for f in ("key", "label", "url", "tool", "to_upstream", "headers")
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.peers.gateways",
            "_load",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in shares
    ]
    try:
        for proc, share in zip(procs, shares, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(
                (json.dumps({"target": spec, "clients": share, "seconds": seconds}) + "\n").encode()
            )
            await proc.stdin.drain()
        for proc in procs:
            line = await _readline(proc, 180)
            if line != "ready":
                raise PeerFailed(f"a load process could not open its sessions: {line}")
        tree = _tree(target.pid) if target.pid is not None else []
        gateway = [p for p in tree if not _is_upstream(p) and p != upstream_pid]
        upstream = _tree(upstream_pid) + [p for p in tree if _is_upstream(p)]
        before = (_cpu_seconds(gateway), _cpu_seconds(upstream), _machine_busy_seconds())
        t0 = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        reports = [json.loads(await _readline(p, seconds + 120)) for p in procs]
        window = time.perf_counter() - t0
        after = (_cpu_seconds(gateway), _cpu_seconds(upstream), _machine_busy_seconds())
        for proc in procs:  # let them close their sessions
            assert proc.stdin is not None
            proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 60)
    finally:
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()
    calls = sum(r["calls"] for r in reports)
    used = [b - a for a, b in zip(before, after, strict=True)]
    load_cpu = sum(r["cpu_s"] for r in reports)
    ms = sorted(v for r in reports for v in r["ms"])
    return {
        # Calls that began before the deadline count, so the time is until the last one ended.
        "calls_per_s": round(calls / max(r["wall_s"] for r in reports), 1),
        "p50_ms": round(statistics.median(ms), 3) if ms else None,
        "p99_ms": ms[max(0, round(0.99 * len(ms)) - 1)] if ms else None,
        "errors": sum(r["errors"] for r in reports),
        "first_error": next((r["first_error"] for r in reports if r["first_error"]), ""),
        "gateway_cpu_ms_per_call": round(used[0] * 1000 / calls, 3) if calls and tree else None,
        "upstream_cpu_ms_per_call": round(used[1] * 1000 / calls, 3) if calls else None,
        "load_processes": n,
        "load_cpu_cores": round(load_cpu / window, 2),
        # A load process near 1.0 is saturated: it, not the server, sets the pace.
        "load_cpu_per_process": round(max(r["cpu_s"] / r["wall_s"] for r in reports), 2),
        "other_cpu_cores": round(max(0.0, used[2] - used[0] - used[1] - load_cpu) / window, 2),
    }


async def throughput(targets: list[Target], upstream_pid: int, plan: Plan) -> dict[str, Any]:
    """Every target at every concurrency, ``load_rounds`` times in rotating order; the run
    with the median rate is kept for each."""
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {t.key: {} for t in targets}
    failed: dict[str, str] = {}
    for r in range(plan.load_rounds):
        for level in plan.levels:
            turn = targets[r % len(targets) :] + targets[: r % len(targets)]
            for target in turn:
                if target.key in failed:
                    continue
                try:
                    run = await load(target, upstream_pid, level, plan.load_seconds)
                except (PeerFailed, TimeoutError, ValueError) as exc:
                    failed[target.key] = f"{level} clients: {_reason(exc)}"
                    continue
                runs[target.key].setdefault(level, []).append(run)
    out: dict[str, Any] = {}
    for key, levels in runs.items():
        out[key] = {"error": failed[key]} if key in failed else {}
        for level, got in levels.items():
            got.sort(key=lambda run: float(run["calls_per_s"]))
            out[key][str(level)] = got[len(got) // 2] | {
                "rounds_calls_per_s": [run["calls_per_s"] for run in got]
            }
    return out


# --- other protocols through effmesh ---------------------------------------------------------


async def cross_protocol(effmesh: Target, direct: Target, plan: Plan) -> dict[str, Any]:
    """The upstream MCP tool called through effmesh by an MCP, an A2A and an ACP client (the
    official SDKs), and directly by the MCP client, interleaved."""
    # Imported here: the load processes, which import this module, need neither SDK.
    from a2a.client import ClientConfig, create_client  # noqa: PLC0415
    from a2a.types import a2a_pb2 as pb  # noqa: PLC0415
    from acp_sdk.client import Client as ACPClient  # noqa: PLC0415
    from acp_sdk.models import Message, MessagePart, RunStatus  # noqa: PLC0415

    base = effmesh.url.removesuffix("/mcp")
    a2a_client = await create_client(
        f"{base}/a2a/up",
        client_config=ClientConfig(streaming=False, supported_protocol_bindings=["JSONRPC"]),
    )

    async def a2a_call() -> None:
        request = pb.SendMessageRequest(
            message=pb.Message(
                message_id=uuid.uuid4().hex, role=pb.ROLE_USER, parts=[pb.Part(text=PAYLOAD)]
            )
        )
        request.metadata.update({"effmesh.skill": "echo"})
        texts, state = [], None
        async for response in a2a_client.send_message(request):
            if response.HasField("task"):
                state = response.task.status.state
                texts += [p.text for a in response.task.artifacts for p in a.parts]
        if state != pb.TASK_STATE_COMPLETED or PAYLOAD not in texts:
            raise PeerFailed(f"A2A answered state {state} with {texts!r}")

    async with (
        a2a_client,
        ACPClient(base_url=f"{base}/acp", headers={"Content-Type": "application/json"}) as acp,
        session(effmesh) as via,
        session(direct) as straight,
    ):

        async def acp_call() -> None:
            run = await acp.run_sync(
                [Message(role="user", parts=[MessagePart(content=PAYLOAD)])], agent="up.echo"
            )
            contents = [p.content for m in run.output for p in m.parts]
            if run.status != RunStatus.COMPLETED or PAYLOAD not in contents:
                raise PeerFailed(f"ACP answered {run.status} with {contents!r}")

        callers: dict[str, Caller] = {
            "mcp_direct": lambda: call(straight, direct.tool),
            "mcp": lambda: call(via, effmesh.tool),
            "a2a": a2a_call,
            "acp": acp_call,
        }
        samples, errors = await _rounds(callers, plan.cross_calls, plan.rounds)
    result: dict[str, Any] = {key: {"error": error} for key, error in errors.items()}
    result |= {key: _stats(ms) for key, ms in samples.items()}
    # added_*: over the direct MCP call; over_mcp_*: over the MCP client's call via effmesh.
    for base, prefix in (("mcp_direct", "added"), ("mcp", "over_mcp")):
        for key in ("mcp", "a2a", "acp") if base == "mcp_direct" else ("a2a", "acp"):
            if "p50_ms" in result.get(key, {}) and "p50_ms" in result.get(base, {}):
                for q in ("p50", "p99"):
                    result[key][f"{prefix}_{q}_ms"] = round(
                        result[key][f"{q}_ms"] - result[base][f"{q}_ms"], 3
                    )
    return result


# --- the run ---------------------------------------------------------------------------------


def _start_peer(name: str, start: Callable[[], Target], failures: dict[str, str]) -> Target | None:
    t0 = time.monotonic()
    try:
        target = start()
    except (
        PeerFailed,
        OSError,
        subprocess.SubprocessError,
        httpx.HTTPError,
        KeyError,
        ValueError,
    ) as exc:
        failures[name] = _reason(exc)
        return None
    print(f"{name}: up in {time.monotonic() - t0:.1f} s at {target.url}", file=sys.stderr)
    return target


@contextlib.contextmanager
def _phase(name: str, seconds: dict[str, float]) -> Iterator[None]:
    print(f"{name} ...", file=sys.stderr)
    t0 = time.monotonic()
    yield
    seconds[name] = round(time.monotonic() - t0, 1)


def measure(plan: Plan) -> dict[str, Any]:
    """Start the upstream and every peer, measure, stop them all (also on errors)."""
    load_start = os.getloadavg()
    failures: dict[str, str] = {}
    phases: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="effmesh-peers-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        folder = Path(tmp)
        with _phase("start", phases):
            direct, upstream = start_upstream(stack, folder)
            up = direct.url
            starters: dict[str, Callable[[], Target]] = {
                "effmesh": lambda: start_effmesh(stack, folder, up),
                "contextforge": lambda: start_contextforge(stack, folder, up),
                "mcp-proxy": lambda: start_mcp_proxy(stack, folder),
            }
            gateways = [t for n, s in starters.items() if (t := _start_peer(n, s, failures))]
        idle = {t.key: memory(t.pid) for t in gateways if t.pid is not None}
        upstream_idle = memory(upstream.pid, spawned_apart=False)
        stdio = Target(
            "direct-stdio",
            "direct over stdio (no gateway)",
            f"{sys.executable} -m {UPSTREAM_MARK} stdio",
            "echo",
            "-",
            stdio=True,
        )
        paths: dict[str, tuple[Target, Mode]] = {"direct": (direct, ERA)}
        paths |= {t.key: (t, ERA) for t in gateways}
        paths["direct-stdio"] = (stdio, ERA)
        modern: Mode = "auto"  # the client's default: 2026-07-28 where the server has it
        paths["direct-2026"] = (direct, modern)
        effmesh = next((t for t in gateways if t.key == "effmesh"), None)
        if effmesh is not None:
            paths["effmesh-2026"] = (effmesh, modern)
        with _phase("latency", phases):
            lat = asyncio.run(latency(paths, plan))
        with _phase("throughput", phases):
            thr = asyncio.run(throughput([direct, *gateways], upstream.pid, plan))
        after = {t.key: memory(t.pid) for t in gateways if t.pid is not None}
        cross: dict[str, Any] = {"error": failures.get("effmesh", "effmesh did not start")}
        if effmesh is not None:
            with _phase("cross-protocol", phases):
                try:
                    cross = asyncio.run(cross_protocol(effmesh, direct, plan))
                except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal
                    cross = {"error": _reason(exc)}
        upstream_after = memory(upstream.pid, spawned_apart=False)
    return {
        "benchmark": "peers-gateways",
        "quick": plan is QUICK,
        "plan": asdict(plan),
        "client": {"sdk": f"mcp {metadata.version('mcp')}", "era": "2025-11-25 (legacy mode)"},
        "versions": {
            "effmesh": metadata.version("effmesh"),
            "mcp": metadata.version("mcp"),
            "a2a-sdk": metadata.version("a2a-sdk"),
            "acp-sdk": metadata.version("acp-sdk"),
            **{t.key: t.version for t in gateways if t.key != "effmesh"},
        },
        "pins": PEERS,
        "targets": {
            t.key: {"label": t.label, "to_upstream": t.to_upstream} for t in [direct, *gateways]
        },
        "failures": failures,
        "latency": lat,
        "throughput": thr,
        "memory": {key: {"idle": idle[key], "after_load": after[key]} for key in idle}
        | {"upstream": {"idle": upstream_idle, "after_load": upstream_after}},
        "cross_protocol": cross,
        "phase_seconds": phases,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
    }


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _short(text: Any, limit: int = 200) -> str:
    """``text`` fit for one table cell: one line, no pipes, at most ``limit`` characters."""
    flat = " ".join(str(text).replace("|", "/").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def table(result: dict[str, Any]) -> str:
    """The benchmark page's section: latency, throughput and memory per gateway, then
    cross-protocol."""
    lat, thr, mem = result["latency"], result["throughput"], result["memory"]
    labels = {k: v["label"] for k, v in result["targets"].items()}
    labels |= {
        "direct-stdio": "direct over stdio (reference)",
        "direct-2026": "direct, 2026-07-28 era",
        "effmesh-2026": "effmesh, 2026-07-28 era",
    }
    rows = [
        "| path (MCP client, 2025-11-25 era) | to upstream | p50 ms | p99 ms | added p50 ms |"
        " added p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, entry in lat.items():
        to = result["targets"].get(key, {}).get("to_upstream", "stdio" if "stdio" in key else "-")
        if "p50_ms" not in entry:
            rows.append(
                f"| {labels.get(key, key)} | {to} | failed: {_short(entry.get('error'))} | | | |"
            )
            continue
        added = [_cell(entry.get(f"added_{q}_ms")) for q in ("p50", "p99")]
        if key != "direct" and key.startswith("direct"):
            added = ["-", "-"]  # references, not hops
        rows.append(
            f"| {labels.get(key, key)} | {to} | {entry['p50_ms']} | {entry['p99_ms']} |"
            f" **{added[0]}** | {added[1]} |"
        )
    for name, error in result["failures"].items():
        rows.append(f"| {name} | - | did not run: {_short(error)} | | | |")
    levels = [str(n) for n in result["plan"]["levels"]]
    top = levels[-1]
    rows += [
        "",
        "| path | "
        + " | ".join(f"calls/s, {n} client{'' if n == '1' else 's'}" for n in levels)
        + f" | p50 / p99 ms ({top}) | gateway CPU ms/call ({top}) | RSS idle MB"
        " | RSS after load MB |",
        "| --- | " + " | ".join("---:" for _ in levels) + " | ---: | ---: | ---: | ---: |",
    ]
    for key, entry in thr.items():
        rates = []
        for n in levels:
            run = entry.get(n)
            rates.append(
                "-"
                if run is None
                else f"{run['calls_per_s']}"
                + (f" ({run['errors']} errors)" if run["errors"] else "")
            )
        cpu = entry.get(top, {}).get("gateway_cpu_ms_per_call")
        busy = entry.get(top, {})
        under_load = f"{busy['p50_ms']} / {busy['p99_ms']}" if busy.get("p50_ms") else "-"
        m = mem.get(key) or (mem["upstream"] if key == "direct" else None)
        idle = m["idle"]["gateway_mb"] if m else None
        loaded = m["after_load"]["gateway_mb"] if m else None
        failed = f" (failed: {_short(entry['error'])})" if "error" in entry else ""
        rows.append(
            f"| {labels.get(key, key)}{failed} | "
            + " | ".join(rates)
            + f" | {under_load} | {_cell(cpu)} | {_cell(idle)} | {_cell(loaded)} |"
        )
    cross = result["cross_protocol"]
    rows += [
        "",
        "| caller -> effmesh -> upstream MCP tool | p50 ms | p99 ms | added p50 / p99 ms"
        " | p50 / p99 ms more than the MCP client's |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    names = {
        "mcp_direct": "MCP client, direct (no gateway)",
        "mcp": "MCP client",
        "a2a": "A2A client (a2a-sdk, JSON-RPC)",
        "acp": "ACP client (acp-sdk, sync run)",
    }
    if "error" in cross:
        rows.append(f"| all | did not run: {_short(cross['error'])} | | | |")
    for key, name in names.items() if "error" not in cross else ():
        entry = cross.get(key, {})
        if "p50_ms" not in entry:
            rows.append(f"| {name} | failed: {_short(entry.get('error'))} | | | |")
            continue
        plus, over = (
            f"{entry[f'{p}_p50_ms']} / {entry[f'{p}_p99_ms']}" if f"{p}_p50_ms" in entry else "-"
            for p in ("added", "over_mcp")
        )
        rows.append(f"| {name} | {entry['p50_ms']} | {entry['p99_ms']} | {plus} | {over} |")
    v = result["versions"]
    saturated = sorted(
        {
            f"{labels.get(k, k)} at {n}"
            for k, e in thr.items()
            for n in levels
            if n in e and e[n]["load_cpu_per_process"] >= 0.9
        }
    )
    other = [e[n]["other_cpu_cores"] for e in thr.values() for n in levels if n in e]
    busiest = max(
        (
            (e[n]["load_cpu_cores"], f"{labels.get(k, k)} at {n} clients")
            for k, e in thr.items()
            for n in levels
            if n in e
        ),
        default=(0.0, "-"),
    )
    notes = [
        "",
        f"Versions: effmesh {v['effmesh']}, ContextForge {v.get('contextforge', '-')}"
        f" (package, then its mcp SDK), mcp-proxy {v.get('mcp-proxy', '-')}; client mcp"
        f" {v['mcp']}, a2a-sdk {v['a2a-sdk']}, acp-sdk {v['acp-sdk']}."
        f" {result['plan']['calls']} calls per latency path,"
        f" {result['plan']['cross_calls']} per cross-protocol path, load runs of"
        f" {result['plan']['load_seconds']} s x {result['plan']['load_rounds']}"
        f" (median kept), {LOAD_PROCESSES} load processes at most.",
        "Load processes that used a whole core (they set the pace there, not the server): "
        + (", ".join(saturated) if saturated else "none")
        + f"; the load processes used {busiest[0]} cores at most ({busiest[1]}).",
        f"CPU used by other processes during the load runs: up to {max(other, default=0)}"
        f" cores (load average {result['machine']['loadavg_start'][0]} at the start,"
        f" {result['machine']['cpus']} CPUs).",
    ]
    spawned = mem.get("mcp-proxy", {}).get("after_load", {}).get("spawned_upstream_mb")
    if spawned:
        notes.append(
            f"The RSS columns count each gateway's own processes; mcp-proxy's tree also holds"
            f" the stdio upstream it spawned ({spawned} MB after load). The direct row's RSS"
            f" is the upstream server's."
        )
    return "\n".join(rows + notes) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["_load"]:
        asyncio.run(_worker())
        return
    parser = report.arguments()
    parser.add_argument("--quick", action="store_true", help="a short run (about 2 minutes)")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the plots go")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every server started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    result = measure(QUICK if args.quick else FULL)
    result["seconds"] = round(time.monotonic() - started, 1)
    report.publish(args, "peers-gateways", result, table)
    from benchmarks.peers import plots_gateways  # noqa: PLC0415 - matplotlib only when plotting

    for path in plots_gateways.plot(result, args.docs):
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
