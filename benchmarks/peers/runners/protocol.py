"""The line protocol between the orchestrator and one runner process (standard library only).

The orchestrator starts ``python <runner> '<settings JSON>'``. The runner

1. moves anything the framework prints to stderr: stdout carries protocol lines only;
2. imports its framework's modules (timed: ``import_s``) and builds its agent (timed: ``build_s``),
   then writes ``{"event": "ready", ...}``, or ``{"event": "failed", "error": ...}`` and exits;
3. reads one JSON line per task from stdin, ``{"event": "task", "id", "prompt"}``, runs the
   agent on it and writes ``{"event": "result", "id", "answer", "error", "wall_s", "cpu_s",
   "tool_calls", "tool_outputs", ...}``: one task at a time, so every model request the
   proxy sees between a task line and its result belongs to that task. ``cpu_s`` is the CPU
   time this process (all its threads) spent on the task, which other processes on the
   machine sway far less than wall time;
4. on ``{"event": "quit"}`` (or end of input) writes ``{"event": "bye", ...}`` and exits.

Every reply carries the process's resident memory now (``rss_mb``) and at its peak
(``peak_rss_mb``). A task's own failure is a result with ``error`` set, never an exit.
The per-task timeout is the orchestrator's: it kills a runner that does not answer in time.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TextIO

Solve = Callable[[str], str] | Callable[[str], Awaitable[str]]
"""One task's prompt -> the agent's final answer as text."""

MAX_ANSWER_CHARS = 2000
MAX_ERROR_CHARS = 300
MAX_OUTPUTS = 20


@dataclass(frozen=True, slots=True)
class Settings:
    """What every framework is given alike."""

    base_url: str
    """The recording proxy's root; the OpenAI-compatible API is under ``/v1``."""
    model: str
    system_prompt: str
    max_tokens: int
    max_steps: int
    """Tool-calling rounds; after them a framework may make one more call to answer."""
    timeout: float
    """Seconds per task (also each framework's HTTP timeout)."""
    temperature: float = 0.0
    variant: str = ""
    """Which variant of a framework to build (effmesh: routing and optimizer on or off)."""

    @property
    def api_base(self) -> str:
        return self.base_url.rstrip("/") + "/v1"


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mb() -> float:
    """The most resident memory this process has held, in MiB (``ru_maxrss`` is KiB on Linux;
    it is sampled by the kernel, so it is never reported below the current figure)."""
    return max(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), rss_mb())


def _claim_stdout() -> TextIO:
    """A private handle on stdout for protocol lines; file descriptor 1 then points at stderr,
    so whatever a framework prints cannot corrupt the protocol."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return channel


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:MAX_ERROR_CHARS]


def _versions(packages: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def serve(
    modules: Sequence[str],
    build: Callable[[Settings], Solve],
    *,
    packages: Sequence[str],
    tool_outputs: Sequence[str],
) -> None:
    """Run the protocol: ``modules`` are imported first (timed as ``import_s``), then
    ``build(settings)`` returns the task function (timed as ``build_s``; the modules it
    imports are loaded by then). ``tool_outputs`` is the list the calculator appends each
    run's output to; a task's result reports the runs it made (``tool_calls``) and their
    outputs. ``packages`` are reported with their installed versions."""
    channel = _claim_stdout()

    def send(message: dict[str, Any]) -> None:
        message |= {"rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}
        channel.write(json.dumps(message) + "\n")

    settings = Settings(**json.loads(sys.argv[1]))
    try:
        started = time.perf_counter()
        for name in modules:
            importlib.import_module(name)
        imported = time.perf_counter()
        solve = build(settings)
        built = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - the top level: a peer that cannot start is reported
        send({"event": "failed", "error": _error(exc)})
        sys.exit(1)
    send(
        {
            "event": "ready",
            "import_s": imported - started,
            "build_s": built - imported,
            "versions": _versions(packages),
        }
    )
    runner = asyncio.Runner() if inspect.iscoroutinefunction(solve) else None
    try:
        for line in sys.stdin:
            message = json.loads(line)
            if message.get("event") != "task":
                break
            before = len(tool_outputs)
            answer, error = "", None
            started, cpu = time.perf_counter(), time.process_time()
            try:
                prompt = message["prompt"]
                answer = str(runner.run(solve(prompt)) if runner else solve(prompt))
            except Exception as exc:  # noqa: BLE001 - a task's failure is a result, not an exit
                error = _error(exc)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            send(
                {
                    "event": "result",
                    "id": message["id"],
                    "answer": answer[:MAX_ANSWER_CHARS],
                    "error": error,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "tool_calls": len(tool_outputs) - before,
                    "tool_outputs": [o[:100] for o in tool_outputs[before:][:MAX_OUTPUTS]],
                }
            )
    finally:
        if runner is not None:
            runner.close()
    send({"event": "bye"})
