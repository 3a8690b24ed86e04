"""Real ``effmesh serve`` processes for the federation tests, each with its own config file,
port and data folder, started the way an operator starts them."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from agents.llm.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "federation-secret-for-tests"
HEARTBEAT = 1.0


class GatewayProcess:
    """One gateway: ``start`` / ``kill`` / ``start`` again keeps its name and port."""

    def __init__(
        self,
        folder: Path,
        name: str,
        agents: str = "",
        join: tuple[str, ...] = (),
        *,
        tls: tuple[Path, Path] | None = None,
        ca_file: Path | None = None,
        join_flag: bool = False,
    ):
        """``join_flag``: pass ``join`` as ``serve --join URL`` instead of in the file."""
        self.name = name
        self.port = free_port()
        secure = "s" if tls else ""
        self.base = f"http{secure}://127.0.0.1:{self.port}"
        self.ws = f"ws{secure}://127.0.0.1:{self.port}/ws"
        self.tls = tls
        self.ca_file = ca_file
        self.join_flag = join_flag
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(tls[0])) if tls else True
        )
        self._log: BinaryIO | None = None
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.agents = agents
        self.join = join
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        joins = "" if self.join_flag else ", ".join(f'"{u}"' for u in self.join)
        agents = self.agents or '[[agents]]\nname = "calculator"\nkind = "calculator"\n'
        tls = (
            f'tls_cert_file = "{self.tls[0]}"\ntls_key_file = "{self.tls[1]}"\n' if self.tls else ""
        )
        ca = f'ca_file = "{self.ca_file}"\n' if self.ca_file else ""
        return (
            f'[gateway]\nport = {self.port}\ndata_dir = "{self.folder}"\n'
            f"rate_per_minute = 0\nhealth_interval_seconds = 0\n{tls}"
            f'[federation]\nname = "{self.name}"\njoin = [{joins}]\n'
            f"heartbeat_seconds = {HEARTBEAT}\nreconnect_max_seconds = 0.5\n{ca}"
            f"{agents}"
        )

    def start(self) -> None:
        path = self.folder / "effmesh.toml"
        path.write_text(self.config())
        env = {**os.environ, "EFFMESH_FEDERATION_TOKEN": TOKEN}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
            + [arg for url in self.join if self.join_flag for arg in ("--join", url)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._open_log(),
        )

    def _open_log(self) -> BinaryIO:
        self._close_log()
        self._log = (self.folder / "stderr.log").open("ab")
        return self._log

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway {self.name} exited with {self.process.returncode}")
            try:
                reply = httpx.get(f"{self.base}/agents", timeout=1, verify=self.verify)
                if reply.status_code in (200, 401):  # up (401: a gateway that uses tokens)
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway {self.name} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(
            f"{self.base}/federation", timeout=5, verify=self.verify
        ).json()
        return body

    def log(self) -> str:
        return (self.folder / "stderr.log").read_text(errors="replace")

    def agents_now(self) -> set[str]:
        listed = httpx.get(f"{self.base}/agents", timeout=5, verify=self.verify).json()["agents"]
        return {a["name"] for a in listed}


def start_all(*gateways: GatewayProcess) -> None:
    """Start every gateway and wait for each; if one does not come up, stop them all (a
    fixture that fails here never reaches its own clean-up)."""
    try:
        for g in gateways:
            g.start()
        for g in gateways:
            g.wait_up()
    except BaseException:
        for g in gateways:
            g.stop()
        raise


def until(check: Callable[[], bool], timeout: float = 15, what: str = "the condition") -> None:
    """Poll ``check`` (processes have no events to wait on) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
