"""The README's Quick start, followed literally on the default configuration: its MCP script,
its curl calls and its ``effmesh ask`` line are read out of README.md and run against a real
``effmesh serve`` (only the port differs), and the answers are the ones the README shows."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agents.llm.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHOWN_PORT = "127.0.0.1:8640"


def _section() -> str:
    text = README.read_text()
    start = text.index("### A first call in each protocol")
    return text[start : text.index("\n## ", start)]


def _fences() -> list[tuple[str, str]]:
    """The section's fenced blocks, in order: (language, body)."""
    out: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in _section().splitlines():
        if line.startswith("```") and lang is None:
            lang, body = line[3:].strip(), []
        elif line.startswith("```"):
            out.append((lang or "", "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    return out


def _blocks(kind: str) -> list[str]:
    return [body for lang, body in _fences() if lang == kind]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``effmesh serve`` as ``make run`` starts it, on a free port and its own data folder."""
    port = free_port()
    data = tmp_path_factory.mktemp("quickstart")
    command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--data-dir", str(data)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:  # the endpoint list ends with the model server's URL
            if line.startswith("model (llama.cpp)"):
                break
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):  # uvicorn binds right after the list is printed
            try:
                httpx.get(f"{base}/agents", timeout=5)
                break
            except httpx.ConnectError:
                subprocess.run(["sleep", "0.05"], check=True)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_the_mcp_script_prints_the_answer_the_readme_shows(gateway: str, tmp_path: Path) -> None:
    fences = _fences()
    at = next(i for i, (lang, _) in enumerate(fences) if lang == "python")
    script, (_, shown) = fences[at][1], fences[at + 1]  # the script, then what it prints
    path = tmp_path / "quickstart.py"
    path.write_text(script.replace(SHOWN_PORT, gateway))
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "391" in shown
    assert "391" in done.stdout


def test_the_curl_calls_answer_391_over_a2a_and_acp(gateway: str) -> None:
    commands = next(b for b in _blocks("sh") if "curl" in b)
    answers = []
    for command in commands.replace("\\\n", " ").strip().splitlines():
        argv = shlex.split(command.replace(SHOWN_PORT, gateway))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    a2a, acp = answers
    task = a2a["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    texts = [p["text"] for a in task["artifacts"] for p in a["parts"] if "text" in p]
    assert any("391" in t for t in texts), texts
    assert acp["status"] == "completed"
    contents = [p.get("content") or "" for m in acp["output"] for p in m["parts"]]
    assert any("391" in c for c in contents if not c.startswith("{")), contents


def test_effmesh_ask_ends_with_the_answer_then_the_task_and_trace(gateway: str) -> None:
    line = next(b for b in _blocks("sh") if "effmesh ask" in b).strip()
    argv = shlex.split(line)
    assert argv[0] == ".venv/bin/effmesh"
    command = [sys.executable, "-m", "gateway.cli", *argv[1:2], "--url", f"http://{gateway}"]
    done = subprocess.run(
        [*command, *argv[2:]], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    shown = [line for line in _blocks("")[-1].splitlines() if line.strip()]
    assert re.fullmatch(r"task \S+, trace \S+", lines[-1]), lines[-1]
    assert shown[-1].startswith("task ")
    answer = lines[-1 - len(shown[:-1]) : -1]
    assert any("391" in a for a in answer), lines
    assert any("391" in s for s in shown)
