"""effmesh against agent frameworks: one model server, one task set, one instrument.

    python -m benchmarks.peers.frameworks --out benchmarks/results/peers_frameworks.json \\
        --doc docs/benchmarks.md [--quick] [--repeats N] [--task-timeout S] [--budget-minutes M]

Contenders: LangChain (``create_agent``), smolagents (``ToolCallingAgent``), AutoGen agentchat
(``AssistantAgent``), each in its own virtual environment (``venvs.ensure``), and effmesh as a
library in four variants (routing on/off x optimizer on/off). Every contender runs in its own
process (``runners/``, ``effmesh_runner.py``) and drives the same llama.cpp server (the
bundled SmolLM2-135M, 4 slots) through one recording proxy (``proxy.py``), with the same
calculator semantics, system prompt, temperature 0, ``max_tokens``, step limit and per-task
timeout.

Measured per contender: import and build time and resident memory of a fresh process
(start-up probes plus every process the run starts); per task: wall time in the runner, model
time from the proxy (time with at least one request in flight), their difference (the
framework's overhead), model calls, prompt and cached tokens, calculator runs, and whether the
answer holds every expected number. Runs are task-major and interleaved (each task goes to
every contender in turn, the order rotating), so a busy machine slows everyone alike. A
contender that cannot run a task is reported with the reason: install failure, a process that
did not start, an exception, a timeout.

Tasks run in an order that interleaves single and multi-part ones. With ``--budget-minutes``
no task is started once the budget is spent, so every contender ran the same tasks: on a
machine too busy for all of them, the run is the largest such prefix, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from agents.llm.embedded import MODEL_ALIAS, EmbeddedModelServer
from benchmarks import report
from benchmarks.peers import venvs
from benchmarks.peers.effmesh_runner import VARIANTS
from benchmarks.peers.proxy import Record, RecordingProxy, model_seconds

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parents[1]
TASKS: Final = HERE / "tasks.json"
LOGS: Final = venvs.CACHE / "logs"

MAX_TOKENS: Final = 256
MAX_STEPS: Final = 4
TASK_TIMEOUT: Final = 120.0
"""Seconds per task unless ``--task-timeout`` says otherwise."""
START_TIMEOUT: Final = 180.0
SLOTS: Final = 4
CONTEXT: Final = 8192
"""Tokens per llama.cpp slot: smolagents' prompts grow past 2k tokens over four steps."""
WARMUP: Final = "What is 2 + 3?"

_OPENAI = "openai==3.57.0"
PEERS: Final = {
    "langchain": (
        [
            "langchain==1.5.2",
            "langchain-core==1.8.3",
            "langgraph==1.2.24",
            "langchain-openai==1.7.4",
            _OPENAI,
        ],
        "langchain_runner.py",
    ),
    "smolagents": (["smolagents[openai]==1.26.0", _OPENAI], "smolagents_runner.py"),
    "autogen": (
        ["autogen-agentchat==0.7.5", "autogen-core==0.7.5", "autogen-ext[openai]==0.7.5", _OPENAI],
        "autogen_runner.py",
    ),
}
"""Peer -> (pinned requirements, runner script under ``runners/``)."""


@dataclass(slots=True)
class Contender:
    """One framework (or effmesh variant) and how to start its runner."""

    name: str
    variant: str = ""
    requirements: list[str] = field(default_factory=list)
    script: str = ""
    python: str = ""
    down: str | None = None
    """Why it cannot run at all (install failure); None: it can."""
    src: Path = ROOT
    """The source tree an effmesh runner imports (``--baseline-src``: an earlier one)."""

    def command(self, settings: dict[str, Any]) -> list[str]:
        blob = json.dumps(settings | {"variant": self.variant})
        if self.script:
            return [self.python, str(HERE / "runners" / self.script), blob]
        return [self.python, "-m", "benchmarks.peers.effmesh_runner", blob]


def contenders(only: Sequence[str] = (), baseline: Path | None = None) -> list[Contender]:
    """Every contender (or those named in ``only``); with ``baseline``, effmesh's optimized
    variants once more from that source tree, named ``... (before)``."""
    out = [
        Contender(name, requirements=reqs, script=script) for name, (reqs, script) in PEERS.items()
    ]
    for variant, (routing, optimizer) in VARIANTS.items():
        name = "effmesh " + ("routed" if routing else "direct") + ("" if optimizer else " plain")
        out.append(Contender(name, variant=variant, python=sys.executable))
        if baseline is not None and optimizer:
            out.append(
                Contender(f"{name} (before)", variant=variant, python=sys.executable, src=baseline)
            )
    return [c for c in out if not only or c.name in only]


def install(contender: Contender) -> None:
    """Make the peer's venv (reused while its pins hold); a failure marks it down."""
    if not contender.script:
        return
    try:
        contender.python = str(venvs.ensure(contender.name, contender.requirements))
    except subprocess.CalledProcessError as exc:
        tail = " ".join((exc.stderr or "").strip().splitlines()[-3:])
        contender.down = f"install failed: {tail[:300]}"
    except FileNotFoundError as exc:
        contender.down = f"install failed: {exc}"


# --- tasks and answers --------------------------------------------------------------------

_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def numbers(text: str) -> list[float]:
    """Every unsigned number in ``text`` ("1,024" is 1024; "27.30" is 27.3)."""
    return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]


def same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=0.005)


def found(answer: str, expected: Sequence[float]) -> list[float]:
    """The expected numbers the answer contains."""
    present = numbers(answer)
    return [e for e in expected if any(same(e, x) for x in present)]


def load_tasks(quick: bool) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the tasks (``--quick``: the file's quick subset).

    Raises:
        SystemExit: a task's expected number also occurs in its prompt (an answer that only
            repeats the question would count as solved).
    """
    doc = json.loads(TASKS.read_text())
    tasks = doc["tasks"]
    for task in tasks:
        if found(task["prompt"], task["expected"]) or min(task["expected"]) < 0:
            raise SystemExit(f"task {task['id']!r}: an expected number is in its prompt")
    if quick:
        tasks = [t for t in tasks if t["id"] in doc["quick"]]
    return doc["system_prompt"], tasks


# --- runner processes ---------------------------------------------------------------------


class RunnerDown(Exception):
    """The runner process failed to start or died; the message says why."""


class Runner:
    """One live runner process speaking ``runners/protocol.py`` over its pipes."""

    def __init__(self, contender: Contender, settings: dict[str, Any]) -> None:
        self.contender = contender
        self.settings = settings
        self.log = LOGS / f"frameworks-{contender.name.replace(' ', '-')}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}

    async def start(self) -> dict[str, Any]:
        """Start the process and wait for its ``ready`` line, which gains ``spawn_s``.

        Raises:
            RunnerDown: it reported a failure, exited or did not get ready in time.
        """
        LOGS.mkdir(parents=True, exist_ok=True)
        env = os.environ | {"NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
        if not self.contender.script:
            env["PYTHONPATH"] = str(self.contender.src)
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.contender.command(self.settings),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=self.contender.src,
                env=env,
            )
        message = await self._line(START_TIMEOUT)
        if message.get("event") != "ready":
            await self.kill()
            raise RunnerDown(f"did not start: {message.get('error', message)}")
        self.ready = message | {"spawn_s": time.perf_counter() - started}
        return self.ready

    async def _line(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            await self.kill()
            raise RunnerDown(f"exited: {self._log_tail()}")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _log_tail(self) -> str:
        try:
            lines = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            return "no log"
        return " | ".join(lines[-3:])[:300]

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        await self.process.stdin.drain()

    async def ask(self, task_id: str, prompt: str, timeout: float) -> dict[str, Any]:
        """One task's result line.

        Raises:
            TimeoutError: no result in ``timeout`` seconds (the caller kills the runner).
            RunnerDown: the process died.
        """
        await self.send({"event": "task", "id": task_id, "prompt": prompt})
        return await self._line(timeout)

    async def close(self) -> dict[str, Any]:
        """Ask it to quit; its ``bye`` line (memory at the end), or {} when it had died."""
        if self.process is None or self.process.returncode is not None:
            return {}
        bye: dict[str, Any] = {}
        try:
            await self.send({"event": "quit"})
            bye = await self._line(30)
            await asyncio.wait_for(self.process.wait(), 30)
        except (TimeoutError, RunnerDown, ConnectionError):
            await self.kill()
        return bye

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


# --- the run ------------------------------------------------------------------------------


def _startup_row(contender: Contender, ready: dict[str, Any], when: str) -> dict[str, Any]:
    return {
        "framework": contender.name,
        "when": when,
        "import_s": round(ready["import_s"], 4),
        "build_s": round(ready["build_s"], 4),
        "spawn_s": round(ready["spawn_s"], 4),
        "rss_ready_mb": ready["rss_mb"],
    }


def _usage_row(records: Sequence[Record]) -> dict[str, Any]:
    return {
        "model_s": round(model_seconds(records), 4),
        "model_calls": len(records),
        "prompt_tokens": sum(r.prompt_tokens for r in records),
        "cached_tokens": sum(r.cached_tokens for r in records),
        "completion_tokens": sum(r.completion_tokens for r in records),
        "requests_offering_tools": sum(1 for r in records if r.tools_offered),
        "model_tool_calls": sum(r.tool_calls for r in records),
        "http_errors": sum(1 for r in records if r.status >= 400),
    }


class Bench:
    """The whole run: the model server, the proxy, the live runners and every row."""

    def __init__(self, todo: list[Contender], settings: dict[str, Any]) -> None:
        self.todo = todo
        self.settings = settings
        self.proxy: RecordingProxy | None = None
        self.live: dict[str, Runner] = {}
        self.rows: list[dict[str, Any]] = []
        self.warmups: list[dict[str, Any]] = []
        self.startups: list[dict[str, Any]] = []
        self.ends: list[dict[str, Any]] = []
        self.start_failures: Counter[str] = Counter()
        self.versions: dict[str, dict[str, str]] = {}
        self.stopped: int | None = None
        """How many tasks ran when the time budget stopped the run (None: all)."""

    def _settings(self) -> dict[str, Any]:
        assert self.proxy is not None
        return self.settings | {"base_url": self.proxy.url}

    async def probe(self, contender: Contender, when: str) -> None:
        """A fresh process that starts and quits: one start-up sample."""
        runner = Runner(contender, self._settings())
        try:
            ready = await runner.start()
        except (RunnerDown, TimeoutError) as exc:
            self.start_failures[f"{contender.name}: {exc}"[:300]] += 1
            await runner.kill()
            return
        self.startups.append(_startup_row(contender, ready, when))
        self.versions.setdefault(contender.name, ready.get("versions", {}))
        await runner.close()

    async def runner_for(self, contender: Contender) -> Runner:
        """The contender's live runner, started (and sampled) when there is none.

        Raises:
            RunnerDown: it cannot start.
        """
        runner = self.live.get(contender.name)
        if runner is not None:
            return runner
        runner = Runner(contender, self._settings())
        try:
            ready = await runner.start()
        except TimeoutError:
            await runner.kill()
            raise RunnerDown("did not start in time") from None
        self.startups.append(_startup_row(contender, ready, "run"))
        self.versions.setdefault(contender.name, ready.get("versions", {}))
        self.live[contender.name] = runner
        return runner

    async def retire(self, contender: Contender) -> None:
        runner = self.live.pop(contender.name, None)
        if runner is not None:
            bye = await runner.close()
            if bye:
                self.ends.append(
                    {
                        "framework": contender.name,
                        "rss_end_mb": bye["rss_mb"],
                        "peak_rss_mb": bye["peak_rss_mb"],
                    }
                )

    async def one(self, contender: Contender, task: dict[str, Any], repeat: int) -> dict[str, Any]:
        """Run ``task`` on ``contender``: a row, whatever happens."""
        assert self.proxy is not None
        row: dict[str, Any] = {
            "framework": contender.name,
            "task": task["id"],
            "kind": task["kind"],
            "repeat": repeat,
            "expected": task["expected"],
        }
        if contender.down is not None:
            return row | {"ok": False, "error": contender.down}
        try:
            runner = await self.runner_for(contender)
        except RunnerDown as exc:
            self.start_failures[f"{contender.name}: {exc}"[:300]] += 1
            return row | {"ok": False, "error": str(exc)}
        tag = f"{repeat}/{task['id']}/{contender.name}"
        self.proxy.tag = tag
        timed_out = False
        try:
            result = await runner.ask(task["id"], task["prompt"], self.settings["timeout"])
        except TimeoutError:
            timed_out = True
            result = {"error": f"timeout: no answer in {self.settings['timeout']:.0f} s"}
        except RunnerDown as exc:
            result = {"error": f"runner died: {exc}", "answer": ""}
        finally:
            self.proxy.tag = None
        if timed_out or "wall_s" not in result:
            # A request the kill cut short may finish later: its record is not counted.
            await runner.kill()
            self.live.pop(contender.name, None)
        usage = _usage_row(self.proxy.take(tag))
        answer = result.get("answer", "")
        hits = found(answer, task["expected"])
        outputs = result.get("tool_outputs", [])
        row |= {
            "ok": not result.get("error") and len(hits) == len(task["expected"]),
            "found": hits,
            "computed": len(found(" ".join(outputs), task["expected"])) == len(task["expected"]),
            "error": result.get("error"),
            "answer": answer[:500],
            "tool_runs": result.get("tool_calls"),
            "tool_outputs": outputs,
            **usage,
        }
        if "wall_s" in result:
            row["wall_s"] = round(result["wall_s"], 4)
            row["overhead_s"] = round(result["wall_s"] - usage["model_s"], 4)
            row["cpu_s"] = round(result.get("cpu_s", math.nan), 4)
            row["rss_mb"] = result["rss_mb"]
        return row

    async def run(
        self, tasks: list[dict[str, Any]], repeats: int, probes: int, until: float
    ) -> None:
        """Probes, then every task on every contender; no task starts after ``until``
        (``time.perf_counter()``), and ``self.stopped`` then says how many tasks ran."""
        ready = [c for c in self.todo if c.down is None]
        for k in range(probes):
            for contender in rotate(ready, k):
                await self.probe(contender, "probe")
        for repeat in range(repeats):
            warm = {"id": "warmup", "kind": "warmup", "prompt": WARMUP, "expected": [5]}
            for contender in rotate(ready, repeat):
                self.warmups.append(await self.one(contender, warm, repeat))
            for i, task in enumerate(tasks):
                if time.perf_counter() > until:
                    self.stopped = i
                    break
                for contender in rotate(self.todo, i + repeat):
                    row = await self.one(contender, task, repeat)
                    self.rows.append(row)
                    _progress(row)
            for contender in self.todo:
                await self.retire(contender)
            if self.stopped is not None:
                return


def interleaved(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tasks`` with each kind spread evenly over the run (s01, m01, s02, s03, s04, m02, ...),
    so any prefix holds the kinds in about their shares of the whole."""
    place = {}
    for kind in {t["kind"] for t in tasks}:
        mine = [t for t in tasks if t["kind"] == kind]
        place.update({t["id"]: i / len(mine) for i, t in enumerate(mine)})
    return sorted(tasks, key=lambda t: place[t["id"]])


def rotate(items: Sequence[Contender], by: int) -> list[Contender]:
    if not items:
        return []
    k = by % len(items)
    return [*items[k:], *items[:k]]


def _progress(row: dict[str, Any]) -> None:
    state = "ok" if row["ok"] else ("error" if row.get("error") else "wrong")
    wall = f"{row['wall_s']:.2f}s" if "wall_s" in row else "-"
    sys.stderr.write(f"{row['repeat']} {row['task']} {row['framework']:<22} {state:<5} {wall}\n")


async def _warm_server(url: str) -> None:
    """One request straight to the server, so no contender pays for loading the weights."""
    body = {"messages": [{"role": "user", "content": WARMUP}], "max_tokens": 8}
    async with httpx.AsyncClient(timeout=120) as client:
        await client.post(url + "/v1/chat/completions", json=body)


async def run(
    quick: bool,
    repeats: int,
    probes: int,
    only: Sequence[str],
    baseline: Path | None = None,
    *,
    task_timeout: float = TASK_TIMEOUT,
    budget_minutes: float | None = None,
) -> dict[str, Any]:
    system_prompt, tasks = load_tasks(quick)
    tasks = interleaved(tasks)
    todo = contenders(only, baseline)
    started = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(install, c) for c in todo))
    installed = time.perf_counter() - started
    settings = {
        "model": MODEL_ALIAS,
        "system_prompt": system_prompt,
        "max_tokens": MAX_TOKENS,
        "max_steps": MAX_STEPS,
        "timeout": task_timeout,
        "temperature": 0.0,
    }
    until = started + budget_minutes * 60 if budget_minutes else math.inf
    server = EmbeddedModelServer(parallel=SLOTS, context=CONTEXT)
    await server.start()
    bench = Bench(todo, settings)
    try:
        bench.proxy = RecordingProxy(server.url)
        await bench.proxy.start()
        await _warm_server(server.url)
        await bench.run(tasks, repeats, probes, until)
        late = sum(1 for r in bench.proxy.records if r.tag is not None)
        cut_short = bench.proxy.cut_short
    finally:
        for runner in list(bench.live.values()):
            await runner.kill()
        if bench.proxy is not None:
            await bench.proxy.stop()
        await server.stop()
    return {
        "benchmark": "peers-frameworks",
        "model": MODEL_ALIAS,
        "server": f"llama.cpp (xllamacpp), {SLOTS} slots of {CONTEXT} tokens, 2 threads",
        "settings": settings | {"task_timeout_s": task_timeout, "repeats": repeats},
        "quick": quick,
        "tasks": len(tasks),
        "tasks_run": len(tasks) if bench.stopped is None else bench.stopped,
        "budget_minutes": budget_minutes,
        "seconds": {"install": round(installed, 1), "total": round(time.perf_counter() - started)},
        "frameworks": {c.name: summarize(c, bench) for c in todo},
        "late_records": late,
        "cut_short": cut_short,
        "start_failures": dict(bench.start_failures),
        "startups": bench.startups,
        "warmups": bench.warmups,
        "rows": bench.rows,
    }


# --- summaries ----------------------------------------------------------------------------


def spread(values: Sequence[float], digits: int = 4) -> dict[str, float] | None:
    """Median, quartiles and range (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=4, method="inclusive") if len(ordered) > 1 else ordered * 3
    return {
        "p50": round(statistics.median(ordered), digits),
        "p25": round(q[0], digits),
        "p75": round(q[2], digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "n": len(ordered),
    }


def summarize(contender: Contender, bench: Bench) -> dict[str, Any]:
    rows = [r for r in bench.rows if r["framework"] == contender.name]
    measured = [r for r in rows if "wall_s" in r]
    starts = [s for s in bench.startups if s["framework"] == contender.name]
    ends = [e for e in bench.ends if e["framework"] == contender.name]
    by_kind = {}
    for kind in ("single", "multi"):
        mine = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = {"tasks": len(mine), "solved": sum(r["ok"] for r in mine)}
    errors = Counter(_reason(r["error"]) for r in rows if r.get("error"))
    prompt = sum(r.get("prompt_tokens", 0) for r in measured)
    cached = sum(r.get("cached_tokens", 0) for r in measured)
    return {
        "variant": contender.variant or None,
        "requirements": contender.requirements or None,
        "versions": bench.versions.get(contender.name),
        "down": contender.down,
        "tasks": len(rows),
        "solved": sum(r["ok"] for r in rows),
        "solved_share": round(sum(r["ok"] for r in rows) / len(rows), 4) if rows else 0.0,
        "by_kind": by_kind,
        "computed": sum(bool(r.get("computed")) for r in rows),
        "computed_share": round(sum(bool(r.get("computed")) for r in rows) / len(rows), 4)
        if rows
        else 0.0,
        "errors": dict(errors.most_common()),
        "overhead_s": spread([r["overhead_s"] for r in measured]),
        "cpu_s": spread([r["cpu_s"] for r in measured if not math.isnan(r.get("cpu_s", math.nan))]),
        "wall_s": spread([r["wall_s"] for r in measured]),
        "model_s": spread([r["model_s"] for r in measured]),
        "model_calls": spread([r["model_calls"] for r in measured], 2),
        "prompt_tokens": spread([r["prompt_tokens"] for r in measured], 1),
        "cached_share": round(cached / prompt, 4) if prompt else 0.0,
        "completion_tokens": spread([r["completion_tokens"] for r in measured], 1),
        "tool_runs_mean": _mean(
            [r["tool_runs"] for r in measured if r.get("tool_runs") is not None]
        ),
        "requests_offering_tools": sum(r.get("requests_offering_tools", 0) for r in measured),
        "model_tool_calls": sum(r.get("model_tool_calls", 0) for r in measured),
        "import_s": spread([s["import_s"] for s in starts]),
        "build_s": spread([s["build_s"] for s in starts]),
        "startup_s": spread([s["import_s"] + s["build_s"] for s in starts]),
        "spawn_s": spread([s["spawn_s"] for s in starts]),
        "rss_ready_mb": spread([s["rss_ready_mb"] for s in starts], 1),
        "peak_rss_mb": max((e["peak_rss_mb"] for e in ends), default=None),
        "rss_end_mb": spread([e["rss_end_mb"] for e in ends], 1),
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _reason(error: str) -> str:
    """An error without its variable details, so equal causes count together."""
    return re.sub(r"\d+(\.\d+)?", "N", error)[:160]


def _ms(figures: dict[str, float] | None) -> str:
    if not figures:
        return "-"
    return f"{figures['p50'] * 1000:.0f} [{figures['p25'] * 1000:.0f}-{figures['p75'] * 1000:.0f}]"


def _p50(figures: dict[str, float] | None, fmt: str = "{:.0f}") -> str:
    return fmt.format(figures["p50"]) if figures else "-"


def table(result: dict[str, Any]) -> str:
    """The benchmark page's section: one row per contender, then what the numbers rest on."""
    s = result["settings"]
    rows = [
        "| framework | solved (single / multi-part) | calculator produced every expected number"
        " | overhead per task, ms: p50 [p25-p75] | CPU per task, ms: p50 [p25-p75]"
        " | wall per task, s: p50 | model calls per task | prompt tokens per task"
        " | calculator runs per task | start-up, s (import + build) | memory, MB (ready / peak) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for name, f in result["frameworks"].items():
        if f["down"]:
            rows.append(f"| {name} | not run | {f['down'][:80]} | | | | | | | | |")
            continue
        kinds = f["by_kind"]
        solved = (
            f"{f['solved']}/{f['tasks']} ({kinds['single']['solved']}/{kinds['single']['tasks']}"
            f" / {kinds['multi']['solved']}/{kinds['multi']['tasks']})"
        )
        memory = f"{_p50(f['rss_ready_mb'])} / {f['peak_rss_mb'] or '-'}"
        runs = "-" if f["tool_runs_mean"] is None else f"{f['tool_runs_mean']:.1f}"
        rows.append(
            f"| {name} | {solved} | {f['computed']}/{f['tasks']} | {_ms(f['overhead_s'])}"
            f" | {_ms(f.get('cpu_s'))}"
            f" | {_p50(f['wall_s'], '{:.1f}')}"
            f" | {_p50(f['model_calls'], '{:g}')} | {_p50(f['prompt_tokens'])} | {runs}"
            f" | {_p50(f['startup_s'], '{:.2f}')} | {memory} |"
        )
        for reason, count in f["errors"].items():
            notes.append(f"- {name}: {count} x {reason}")
    offered = {n: f for n, f in result["frameworks"].items() if f.get("requests_offering_tools")}
    ran = result.get("tasks_run", result["tasks"])
    count = f"{result['tasks']} tasks"
    if ran < result["tasks"]:
        count = (
            f"The first {ran} of {result['tasks']} tasks (single and multi-part interleaved;"
            f" the time budget of {result['budget_minutes']:g} minutes ended the run)"
        )
    lines = [
        "",
        f"{count} x {s['repeats']} repeat(s), every contender on the same"
        f" {result['server']} serving {result['model']}; temperature 0, max_tokens"
        f" {s['max_tokens']}, {s['max_steps']} tool steps, {s['task_timeout_s']:.0f} s per task."
        " Overhead is a task's wall time in the framework's process minus the time the proxy"
        " saw a model request in flight; CPU is the CPU time that process spent on the task.",
    ]
    if offered:
        parts = ", ".join(
            f"{n} {f['requests_offering_tools']} requests / {f['model_tool_calls']} tool calls"
            for n, f in offered.items()
        )
        lines += [
            "",
            "Requests that offered the calculator as OpenAI `tools`, and the tool calls the server"
            f" returned: {parts}. (With SmolLM2's chat template llama.cpp leaves `tools` out of"
            " the prompt.)",
        ]
    if notes:
        lines += ["", "Failures (counted as unsolved):", *notes]
    if result.get("cut_short"):
        lines += [
            "",
            f"{result['cut_short']} model requests were left by their client before the answer"
            " (a runner killed at its task's timeout, or an agent that cancelled its call); the"
            " proxy closed them at the server too, so it stopped generating.",
        ]
    if result["late_records"]:
        lines += [
            "",
            f"{result['late_records']} model requests finished after their task's figures were"
            " taken (cut short by a timeout) and are not counted.",
        ]
    if result["start_failures"]:
        lines += ["", "Processes that did not start:"]
        lines += [f"- {k} ({v}x)" for k, v in result["start_failures"].items()]
    return "\n".join(rows + lines) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--quick", action="store_true", help="the quick task subset, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--probes", type=int, default=None, help="extra start-up samples")
    parser.add_argument("--only", default="", help="comma-separated contender names")
    parser.add_argument(
        "--baseline-src", type=Path, help="also run effmesh from this earlier source tree"
    )
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the PNGs go")
    parser.add_argument("--task-timeout", type=float, default=TASK_TIMEOUT, help="seconds")
    parser.add_argument(
        "--budget-minutes", type=float, default=None, help="start no task after this long"
    )
    args = parser.parse_args()
    repeats = args.repeats or 1
    probes = args.probes if args.probes is not None else (1 if args.quick else 3)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    result = asyncio.run(
        run(
            args.quick,
            repeats,
            probes,
            only,
            args.baseline_src,
            task_timeout=args.task_timeout,
            budget_minutes=args.budget_minutes,
        )
    )
    if args.baseline_src:
        result["baseline_src"] = str(args.baseline_src)
    report.publish(args, "peers-frameworks", result, table)
    with contextlib.suppress(ImportError):
        from benchmarks.peers import plots_frameworks  # noqa: PLC0415 - matplotlib is optional

        for path in plots_frameworks.draw(result, args.docs):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
