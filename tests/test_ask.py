"""``effmesh ask`` and ``effmesh calibrate``.

The renderer is checked on a recorded run (canonical items built by hand, as the router
emits them) in both output modes. The command itself runs as a subprocess against a real
gateway on 127.0.0.1 whose router uses the rules planner (no model): over ACP, in-process
after the gateway is found unreachable, and interrupted with SIGINT mid-run.
"""

from __future__ import annotations

import asyncio
import io
import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from adapters.model import (
    Artifact,
    ArtifactEvent,
    DataPart,
    Message,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.echo import EchoAgent
from agents.tools.calculator import CalculatorAgent
from agents.tools.index import ToolIndex
from gateway import settings
from gateway.app import create_app
from gateway.cli import ask
from gateway.cli import main as cli
from gateway.registry import Registry
from gateway.routing.agent import EVENT_KEY, RUN, RouterAgent, RouterSettings
from gateway.routing.complexity import ComplexityAnalyzer
from gateway.routing.planner import Planner
from tests.routing_agents import GateAgent
from tests.servers import running

ROOT = Path(__file__).resolve().parent.parent
TASK = "1. 2+3\n2. 4*5"
"""Two independent requirements the rules planner gives the calculator as they are."""
WAIT = 30.0
"""Bound on every wait for a subprocess (a loaded CI machine starts Python slowly)."""


# -- a recorded run -----------------------------------------------------------------------------


def status(event: dict[str, Any]) -> StatusEvent:
    message = Message("agent", (TextPart(str(event["event"])), DataPart(event)))
    return StatusEvent("t-1", TaskState.WORKING, None, message, {EVENT_KEY: event["event"]})


def subtask(ident: str, skill: str, text: str, deps: Sequence[str] = ()) -> dict[str, Any]:
    return {"id": ident, "skill": skill, "input": text, "depends_on": list(deps)}


def finished(ident: str, skill: str, output: str, state: str = "completed") -> StatusEvent:
    return status(
        {
            "event": "subtask.finished",
            "id": ident,
            "skill": skill,
            "state": state,
            "output": output,
            "seconds": 0.012,
            "attempts": 1,
        }
    )


def started(ident: str, skill: str) -> StatusEvent:
    return status(
        {"event": "subtask.started", "id": ident, "skill": skill, "input": "x", "attempt": 1}
    )


SUMMARY = {"routing": {"strategy": "hierarchical"}, "plans": [], "subtasks": [], "failed": []}
ANSWER = "2+3\n5\n\nthen echo it\n5 echoed"

RECORDED: list[StreamItem] = [
    status(
        {
            "event": "routing",
            "strategy": "hierarchical",
            "score": 0.71,
            "factors": [{"name": "requirements", "value": 2, "score": 0.5}],
            "reason": "a requirement has parts of its own",
        }
    ),
    status(
        {
            "event": "plan",
            "parent": None,
            "depth": 0,
            "planner": "rules",
            "fallback": "s3 names a skill this gateway does not offer",
            "subtasks": [
                subtask("s1", "calculator.evaluate", "2+3"),
                subtask("s2", "plan", "then echo it", ["s1"]),
            ],
        }
    ),
    started("s1", "calculator.evaluate"),
    finished("s1", "calculator.evaluate", "5"),
    started("s2", "plan"),
    status(
        {
            "event": "plan",
            "parent": "s2",
            "depth": 1,
            "planner": "rules",
            "subtasks": [subtask("s1", "echo.echo", "echo {s1}")],
        }
    ),
    started("s2.s1", "echo.echo"),
    finished("s2.s1", "echo.echo", "5 echoed"),
    finished("s2", "plan", "5 echoed"),
    ArtifactEvent("t-1", Artifact("answer", (TextPart(ANSWER),), "answer"), last_chunk=True),
    ArtifactEvent("t-1", Artifact("run", (DataPart(SUMMARY),), "run"), last_chunk=True),
    Task(
        "t-1",
        TaskState.COMPLETED,
        artifacts=(
            Artifact("answer", (TextPart(ANSWER),), "answer"),
            Artifact("run", (DataPart(SUMMARY),), "run"),
        ),
        metadata={"effmesh.partial": False},
    ),
]


async def replay(items: Sequence[StreamItem]) -> AsyncGenerator[StreamItem, None]:
    for item in items:
        yield item


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def show(renderer: ask.Renderer, items: Sequence[StreamItem]) -> tuple[int, str]:
    err = io.StringIO()
    code = asyncio.run(ask.follow(replay(items), ask.RunView(), renderer, err))
    return code, err.getvalue()


def test_plain_output_prints_one_line_per_event_in_order_then_the_answer() -> None:
    out = io.StringIO()
    code, err = show(ask.LineRenderer(out), RECORDED)
    assert code == 0
    assert err == ""
    lines = out.getvalue().splitlines()
    assert lines[:12] == [
        "routing: hierarchical, score 0.71",
        "  a requirement has parts of its own",
        "  factors: requirements 0.50",
        "plan by rules: s1 calculator.evaluate, s2 plan (after s1)",
        "  model plan refused: s3 names a skill this gateway does not offer",
        "◐ s1 started: calculator.evaluate",
        "✓ s1 calculator.evaluate 0.01s: 5",
        "◐ s2 started: plan",
        "  s2 planned by rules: s2.s1 echo.echo",
        "  ◐ s2.s1 started: echo.echo",
        "  ✓ s2.s1 echo.echo 0.01s: 5 echoed",
        "✓ s2 plan (after s1) 0.01s: 5 echoed",
    ]
    assert "\n".join(lines[12:]) == "\n" + ANSWER + "\n\ntask t-1"


def test_a_terminal_gets_the_tree_redrawn_in_place_until_every_node_is_done() -> None:
    out = Terminal()
    code, _ = show(ask.LiveRenderer(out, size=(100, 40)), RECORDED)
    assert code == 0
    text = out.getvalue()
    frames = text.split("\x1b[J")
    # Each drawing after the first begins by moving the cursor up over the one before it.
    assert len(frames) == 2 + sum(bool(ask.RunView().feed(i)) for i in RECORDED)
    for frame in frames[1:-1]:
        drawing, up = frame.rsplit("\x1b[", 1)
        assert up == f"{drawing.count(chr(10))}A\r"
    last = frames[-1].splitlines()
    assert last[:5] == [
        "routing: hierarchical, score 0.71",
        "  a requirement has parts of its own",
        "  factors: requirements 0.50",
        "plan by rules, 2 subtasks",
        "  model plan refused: s3 names a skill this gateway does not offer",
    ]
    assert last[5:9] == [
        "✓ s1 calculator.evaluate 0.01s: 5",
        "✓ s2 plan (after s1) 0.01s: 5 echoed",
        "  planned by rules",
        "  ✓ s2.s1 echo.echo 0.01s: 5 echoed",
    ]
    assert "\n".join(last[9:]) == "\n" + ANSWER + "\n\ntask t-1"
    # Mid-run, the nested subtask was drawn running before it was drawn done.
    assert any("  ◐ s2.s1 echo.echo" in f for f in frames)


def test_the_drawing_is_cut_to_the_terminal_so_the_redraw_count_holds() -> None:
    out = Terminal()
    show(ask.LiveRenderer(out, size=(30, 5)), RECORDED[:4])
    last = out.getvalue().split("\x1b[J")[-1].splitlines()
    assert len(last) == 4
    assert all(len(line) <= 29 for line in last)
    assert last[-1].startswith("... ")


def test_a_failed_run_exits_1_with_its_reason_on_one_line() -> None:
    why = Message("agent", (TextPart("no subtask finished\n\nNot finished:\n- s1: failed"),))
    items = [*RECORDED[:3], finished("s1", "calculator.evaluate", "", "failed")]
    items.append(Task("t-1", TaskState.FAILED, status_message=why))
    code, err = show(ask.LineRenderer(io.StringIO()), items)
    assert code == 1
    assert err == "effmesh: the run failed: no subtask finished\n"


def test_json_output_is_the_run_summary_and_its_ids() -> None:
    out = io.StringIO()
    view = ask.RunView()
    view.trace_id = "0af7651916cd43dd8448eb211c80319c"
    code = asyncio.run(ask.follow(replay(RECORDED), view, ask.JsonRenderer(out), io.StringIO()))
    assert code == 0
    assert json.loads(out.getvalue()) == {**SUMMARY, "task_id": "t-1", "trace_id": view.trace_id}


# -- the command against a real gateway ------------------------------------------------------


def router_registry(*agents: Any, skills: tuple[str, ...] = ("*",)) -> Registry:
    """A registry like ``effmesh serve`` builds: the agents and the router, rules planner."""
    registry = Registry()
    for agent in agents:
        registry.add(agent)
    router = RouterAgent(
        registry,
        ComplexityAnalyzer(),
        Planner(None, mode="rules"),
        ToolIndex(None, None),
        RouterSettings(skills=skills, retries=0),
    )
    registry.add(router)
    registry.alias(ask.ROUTER, f"{ask.ROUTER}.{RUN.name}")
    return registry


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    registry = router_registry(CalculatorAgent(), EchoAgent())
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url


def effmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_ask_streams_the_plan_from_a_gateway_and_prints_the_answer(gateway: str) -> None:
    done = effmesh("ask", "--url", gateway, TASK)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert "routing: parallel" in out
    assert "s1 calculator.evaluate" in out
    assert "s2 calculator.evaluate" in out
    answer = out.split("\n\n", 1)[1]
    assert set(answer.split()) >= {"5", "20"}


def effmesh_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command run in this process (faster than a subprocess): exit code, out, err."""
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ask_json_prints_a_summary_that_parses(
    gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = effmesh_here(capsys, "ask", "--url", gateway, "--json", TASK)
    assert code == 0, err
    summary = json.loads(out)
    assert [s["output"] for s in summary["subtasks"]] == ["5", "20"]
    assert summary["failed"] == []


def test_ask_passes_the_strategy_and_planner_it_is_given(
    gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--strategy", "sequential", "--planner", "rules")
    code, out, err = effmesh_here(capsys, "ask", "--url", gateway, "--json", *args, "2+3")
    assert code == 0, err
    routing = json.loads(out)["routing"]
    assert routing["strategy"] == "sequential"


def test_an_unreachable_gateway_means_an_in_process_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "effmesh.toml"
    config.write_text(
        f'[gateway]\ndata_dir = "{tmp_path}"\n\n'
        '[[agents]]\nname = "calculator"\nkind = "calculator"\n\n'
        '[routing]\nplanner = "rules"\n'
    )
    nobody = "http://127.0.0.1:9"  # the discard port: nothing listens there
    code, out, err = effmesh_here(capsys, "ask", "--url", nobody, "--config", str(config), TASK)
    assert code == 0, err
    assert err.splitlines() == [f"effmesh: no gateway answers at {nobody}; running in-process"]
    assert "s2 calculator.evaluate" in out
    answer = out.split("\n\n", 1)[1]
    assert set(answer.split()) >= {"5", "20"}


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("--local", "--config", "{config}"), "routing.planner"),
        (("--url", "ftp://example.invalid"), "--url"),
    ],
)
def test_a_run_that_cannot_start_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], path: str
) -> None:
    config = tmp_path / "effmesh.toml"
    config.write_text("[routing]\nplanner = 'oracle'\n")
    filled = [a.format(config=config) for a in args]
    code, out, err = effmesh_here(capsys, "ask", *filled, "2+3")
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert path in err


def test_a_gateway_that_refuses_the_run_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry()
    registry.add(CalculatorAgent())  # no router: the gateway has no agent "effmesh"
    with running(lambda base: create_app(registry, base_url=base)) as url:
        code, out, err = effmesh_here(capsys, "ask", "--url", url, "2+3")
    assert code == 2
    assert out == ""
    assert err.startswith("effmesh: ")
    assert len(err.splitlines()) == 1


INTERRUPTIBLE = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'effmesh'; runpy.run_module('gateway.cli', run_name='__main__')"
)
"""`python -m gateway.cli` with SIGINT raising KeyboardInterrupt, as at a terminal: a shell
without job control starts a background `make test &` with SIGINT ignored, its children
inherit that, and Python then leaves it ignored."""


def test_interrupting_ask_cancels_the_run_on_the_gateway() -> None:
    gate = GateAgent()
    registry = router_registry(gate, skills=("gate.hold",))
    with running(lambda base: create_app(registry, base_url=base)) as url:
        command = [sys.executable, "-c", INTERRUPTIBLE, "ask", "--url", url, "hold the door"]
        with subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            lines: queue.Queue[str] = queue.Queue()
            out, err = process.stdout, process.stderr
            threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True).start()
            # stderr is drained as it comes too, so the command never waits on a full pipe,
            # and what it said is there to show if it does not exit
            said: list[str] = []
            reader = threading.Thread(target=lambda: said.extend(err), daemon=True)
            reader.start()
            try:
                while "s1 started" not in lines.get(timeout=WAIT):
                    pass
                process.send_signal(signal.SIGINT)
                try:
                    code = process.wait(timeout=WAIT)
                except subprocess.TimeoutExpired:
                    tail = "".join(said)[-2000:]
                    pytest.fail(f"ask did not exit after SIGINT; it said: {tail!r}")
                assert code == 130
                reader.join(timeout=WAIT)
                assert "".join(said) == "effmesh: canceled\n"
            finally:
                process.kill()
        # The command exits only after the gateway has answered its ACP cancel, and the
        # gateway answers once the run, and the subtask's call in it, have been canceled.
        assert gate.canceled == ["hold the door"]


# -- effmesh calibrate ------------------------------------------------------------------------

LABELLED = [
    {"task": "What is 2+3?", "strategy": "single"},
    {"task": "Echo hello.", "strategy": "single"},
    {"task": "Compute 2+3; compute 4*5; echo hi.", "strategy": "parallel"},
    {"task": "Add 2 and 3, and separately multiply 4 by 5.", "strategy": "parallel"},
    {"task": "Compute 17*23, then divide the result by 7.", "strategy": "sequential"},
    {"task": "Compute 2+3, then double it, then echo the result.", "strategy": "sequential"},
    {
        "task": "Compute 6*7; then add 1 to it and double it, and add those two up.",
        "strategy": "hierarchical",
    },
]


def test_calibrate_prints_accuracy_and_a_weights_table_the_config_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = tmp_path / "tasks.json"
    labelled.write_text(json.dumps(LABELLED))
    assert cli.main(["calibrate", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"accuracy on {len(LABELLED)} tasks: ")
    block = out[out.index("[routing.weights]") :]
    config = tmp_path / "effmesh.toml"
    config.write_text(block)
    assert settings.load(config).routing.weights


def test_calibrate_reads_the_projects_own_labelled_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # {"about": ..., "tasks": [{"task", "strategy", "lang", "requirements"}, ...]}
    labelled = Path(__file__).parent / "data" / "routing_tasks.json"
    assert cli.main(["calibrate", str(labelled)]) == 0
    total = len(json.loads(labelled.read_text())["tasks"])
    assert capsys.readouterr().out.startswith(f"accuracy on {total} tasks: ")


def test_calibrate_writes_the_table_to_out(tmp_path: Path) -> None:
    labelled = tmp_path / "tasks.json"
    labelled.write_text(json.dumps(LABELLED))
    target = tmp_path / "weights.toml"
    assert cli.main(["calibrate", str(labelled), "--out", str(target)]) == 0
    assert target.read_text().startswith("[routing.weights]\n")
    settings.load(target)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "{}",
        "[]",
        json.dumps([{"task": "x"}]),
        json.dumps([{"task": "What is 2+3?", "strategy": "guess"}]),
        json.dumps([{"task": "", "strategy": "single"}]),
    ],
)
def test_calibrate_refuses_a_malformed_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    labelled = tmp_path / "tasks.json"
    labelled.write_text(content)
    assert cli.main(["calibrate", str(labelled)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("effmesh: ")


def test_calibrate_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["calibrate", str(tmp_path / "absent.json")]) == 2
    assert "absent.json" in capsys.readouterr().err
