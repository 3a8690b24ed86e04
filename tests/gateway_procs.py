"""Real ``effmesh serve`` processes for the federation tests, each with its own config file,
port and data folder, started the way an operator starts them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agents.llm.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "federation-secret-for-tests"
HEARTBEAT = 1.0


class GatewayProcess:
    """One gateway: ``start`` / ``kill`` / ``start`` again keeps its name and port."""

    def __init__(self, folder: Path, name: str, agents: str = "", join: tuple[str, ...] = ()):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws"
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.agents = agents
        self.join = join
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        joins = ", ".join(f'"{u}"' for u in self.join)
        agents = self.agents or '[[agents]]\nname = "calculator"\nkind = "calculator"\n'
        return (
            f'[gateway]\nport = {self.port}\ndata_dir = "{self.folder}"\n'
            "rate_per_minute = 0\nhealth_interval_seconds = 0\n"
            f'[federation]\nname = "{self.name}"\njoin = [{joins}]\n'
            f"heartbeat_seconds = {HEARTBEAT}\nreconnect_max_seconds = 0.5\n"
            f"{agents}"
        )

    def start(self) -> None:
        path = self.folder / "effmesh.toml"
        path.write_text(self.config())
        env = {**os.environ, "EFFMESH_FEDERATION_TOKEN": TOKEN}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway {self.name} exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/agents", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway {self.name} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.base}/federation", timeout=5).json()
        return body

    def agents_now(self) -> set[str]:
        listed = httpx.get(f"{self.base}/agents", timeout=5).json()["agents"]
        return {a["name"] for a in listed}


def start_all(*gateways: GatewayProcess) -> None:
    for g in gateways:
        g.start()
    for g in gateways:
        g.wait_up()


def until(check: Callable[[], bool], timeout: float = 15, what: str = "the condition") -> None:
    """Poll ``check`` (processes have no events to wait on) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
