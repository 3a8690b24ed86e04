"""Three gateways, each in its own network namespace, joined over a bridge: the federation
across what are, to the kernel, three machines.

Run inside a fresh user and network namespace (the "lab"), which the test starts with
``unshare -rn``; no privileges are needed on the host:

    unshare -rn python -m tests.netns_lab FOLDER

The lab holds a bridge (10.9.0.1/24) and the A2A agent; each gateway runs in a network
namespace of its own (``unshare -n``), reached through a veth pair on the bridge, and listens
on port 8640 of its own address. The scenario runs here, with the official MCP client, and the
findings are printed as one JSON line for the test to check.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.servers import running

BRIDGE = "10.9.0.1"
CALLER = "caller-token"
HEADERS = {"Authorization": f"Bearer {CALLER}"}
_veths = itertools.count()


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


class NsGateway:
    def __init__(self, folder: Path, name: str, address: str, agents: str, join: str = ""):
        self.name = name
        self.address = address
        self.base = f"http://{address}:8640"
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        joins = f'"ws://{join}:8640/ws"' if join else ""
        (self.folder / "effmesh.toml").write_text(
            f'[gateway]\nhost = "{address}"\nport = 8640\ndata_dir = "{self.folder}"\n'
            "rate_per_minute = 0\nhealth_interval_seconds = 0\n"
            f'[federation]\nname = "{name}"\njoin = [{joins}]\nheartbeat_seconds = 1\n'
            f"reconnect_max_seconds = 0.5\n{agents}"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The child says "ready" once it is in its own namespace (moving the veth in before
        # that would leave it in the lab's); the namespace's side of the veth appears when the
        # lab moves it in; then the gateway starts on its own address.
        log = self.folder / "stderr.log"
        script = (
            "echo ready; "
            "while ! ip link show eth0 >/dev/null 2>&1; do sleep 0.02; done; "
            f"ip link set lo up && ip addr add {self.address}/24 dev eth0 && "
            f"ip link set eth0 up && ip route add default via {BRIDGE} && "
            f'exec "{sys.executable}" -m gateway.cli serve --config '
            f'"{self.folder / "effmesh.toml"}" >>"{log}" 2>&1'
        )
        env = {**os.environ, "EFFMESH_TOKEN": CALLER, "EFFMESH_FEDERATION_TOKEN": "lab-peers"}
        self.process = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", script], env=env, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        self.process.stdout.close()
        if ready.strip() != b"ready":
            raise RuntimeError(f"gateway {self.name} did not enter its namespace")
        veth = f"v{self.name}{next(_veths)}"
        # A fixed address per gateway, as a machine's network card keeps across restarts
        # (a new one would wait out its neighbours' stale ARP entries).
        mac = f"02:00:0a:09:00:{int(self.address.rsplit('.', 1)[1]):02x}"
        ip(
            "link", "add", veth, "type", "veth",
            "peer", "name", "eth0", "address", mac, "netns", str(self.process.pid),
        )  # fmt: skip
        ip("link", "set", veth, "master", "br0")
        ip("link", "set", veth, "up")
        until(lambda: self.get("/agents") is not None, 30)

    def get(self, path: str) -> Any:
        try:
            r = httpx.get(self.base + path, headers=HEADERS, timeout=2)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def origins(self) -> dict[str, Any]:
        status = self.get("/federation")
        return status["origins"] if status else {}

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out")


async def call(base: str, tool: str, text: str) -> dict[str, Any]:
    async with (
        httpx2.AsyncClient(headers=HEADERS, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        try:
            result = await client.call_tool(tool, {"text": text})
        except MCPError as exc:
            return {"error": exc.error.code}
    return {"text": [c.text for c in result.content]}  # type: ignore[union-attr]


def scenario(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    registry = Registry()
    registry.add(EchoAgent("planner"))
    with running(lambda base: create_app(registry, base_url=base), host=BRIDGE) as a2a_url:
        agent = f'[[agents]]\nname = "planner"\nkind = "a2a"\nurl = "{a2a_url}/a2a/planner"\n'
        calc = '[[agents]]\nname = "calculator"\nkind = "calculator"\n'
        b = NsGateway(folder, "b", "10.9.0.12", calc)
        a = NsGateway(folder, "a", "10.9.0.11", calc, join="10.9.0.12")
        c = NsGateway(folder, "c", "10.9.0.13", agent, join="10.9.0.12")
        gateways = (a, b, c)
        try:
            for g in gateways:
                g.start()
            until(lambda: "planner" in a.origins().get("c", {}).get("agents", []))
            out["path"] = a.origins()["c"]["path"]
            out["through_b"] = asyncio.run(call(a.base, "planner.echo", "across namespaces"))
            b.kill()
            until(lambda: "c" not in a.origins())
            out["b_gone"] = asyncio.run(call(a.base, "planner.echo", "no route"))
            b.start()
            until(lambda: "c" in a.origins())
            out["b_back"] = asyncio.run(call(a.base, "planner.echo", "converged"))
        finally:
            for g in gateways:
                g.stop()
    return out


def main() -> None:
    folder = Path(sys.argv[1])
    ip("link", "set", "lo", "up")
    ip("link", "add", "br0", "type", "bridge")
    ip("addr", "add", f"{BRIDGE}/24", "dev", "br0")
    ip("link", "set", "br0", "up")
    print(json.dumps(scenario(folder)), flush=True)


if __name__ == "__main__":
    main()
