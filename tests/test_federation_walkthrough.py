"""docs/federation.md, "Federation on one machine", followed as a reader would: two ``effmesh
serve`` processes started with the page's commands and the page's configuration file, the
page's ``effmesh agents`` check, and the page's MCP client code (the official SDK), whose
printed answer must be the one the page states.

Only the ports change (the page's 8640 and 8641 become free ones), so the test never collides
with a gateway someone runs on this machine; each process runs in a fresh folder, as in a
fresh checkout.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agents.llm.embedded import free_port
from tests.gateway_procs import until

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "federation.md"
TITLE = "## Federation on one machine"
WAIT = 60.0
"""Bound on each wait: the first gateway starts the embedded model and the memory."""


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(TITLE)
    end = text.find("\n## ", start + len(TITLE))
    return text[start : end if end != -1 else None]


def blocks(text: str, lang: str) -> list[str]:
    """The page's fenced blocks of ``lang`` ("" for plain ones), unindented."""
    found: list[str] = []
    fence: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None and stripped.startswith("```"):
            fence, body = stripped.removeprefix("```"), []
        elif fence is not None and stripped == "```":
            if fence == lang:
                found.append(textwrap.dedent("\n".join(body)) + "\n")
            fence = None
        elif fence is not None:
            body.append(line)
    return found


def command(block: str, ports: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The block's ``effmesh`` command (run as this checkout's ``python -m gateway.cli``) and
    the variables its ``export`` lines set."""
    env: dict[str, str] = {}
    argv: list[str] = []
    for raw in block.splitlines():
        line = localize(raw.split("#", 1)[0].strip(), ports)
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
        elif line.startswith("effmesh "):
            argv = [sys.executable, "-m", "gateway.cli", *shlex.split(line)[1:]]
    assert argv, f"no effmesh command in {block!r}"
    return argv, env


def localize(text: str, ports: dict[str, str]) -> str:
    for theirs, ours in ports.items():
        text = text.replace(theirs, ours)
    return text


class Gateway:
    """One ``effmesh serve`` process; its stderr lines are read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("EFFMESH_")}
        self.lines: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        stream = self.process.stderr
        assert stream is not None

        def pump() -> None:
            for line in stream:
                self.lines.put(line)

        self.reader = threading.Thread(target=pump)
        self.reader.start()

    def wait_for(self, text: str) -> str:
        """The first stderr line holding ``text``; fails after :data:`WAIT` seconds."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no stderr line with {text!r} within {WAIT} s")
            if text in line:
                return line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.reader.join(10)  # the pipe ends with the process
        assert self.process.stderr is not None
        self.process.stderr.close()


@contextlib.contextmanager
def started(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[Gateway]:
    gateway = Gateway(argv, env, cwd)
    try:
        yield gateway
    finally:
        gateway.stop()


def answers(gateway: Gateway, port: str) -> bool:
    if gateway.process.poll() is not None:
        gateway.reader.join(10)
        said = "".join(list(gateway.lines.queue))[-2000:]
        pytest.fail(f"the gateway exited with {gateway.process.returncode}: {said}")
    try:
        return httpx.get(f"http://127.0.0.1:{port}/agents", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def listed(argv: list[str]) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, check=False)
    return done.stdout.splitlines()


def test_the_one_machine_walkthrough_works_as_written(tmp_path: Path) -> None:
    page = section()
    ports = {"8640": str(free_port()), "8641": str(free_port())}
    first, second, listing = blocks(page, "sh")
    (config,) = blocks(page, "toml")
    plain = blocks(page, "")
    (client_code,) = blocks(page, "python")
    answer = re.search(r"It prints `([^`]+)`", page)
    assert answer is not None

    # Step 1: the first gateway, default configuration.
    argv_a, env_a = command(first, ports)
    with started(argv_a, env_a, tmp_path) as gateway_a:
        until(lambda: answers(gateway_a, ports["8640"]), WAIT, "the first gateway to answer")
        # Steps 2 and 3: the second gateway's file, then the second gateway.
        (tmp_path / "gw-b.toml").write_text(localize(config, ports), encoding="utf-8")
        argv_b, env_b = command(second, ports)
        assert env_b == env_a  # the same token
        with started(argv_b, env_b, tmp_path) as gateway_b:
            shown = localize(plain[0].strip().removeprefix("... "), ports)
            shown = shown.replace("<hostname>", socket.gethostname())
            assert shown in gateway_b.wait_for("linked to gateway")
            # Step 4: the first gateway lists the agent and where it lives.
            argv_agents, _ = command(listing, ports)
            expected = plain[1].split()
            until(
                lambda: expected in [line.split() for line in listed(argv_agents)],
                WAIT,
                f"{expected} in the first gateway's agents",
            )
            # Step 5: the page's client code, as written (but for the port).
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(localize(client_code, ports), str(DOC), "exec"), {})
            assert printed.getvalue().strip() == answer.group(1)


def light(port: int, folder: str, agent: str, federation: str = "") -> str:
    """A gateway configuration with one calculator and no router."""
    return (
        f'[gateway]\nport = {port}\ndata_dir = "{folder}"\n[routing]\nenabled = false\n'
        f'[[agents]]\nname = "{agent}"\nkind = "calculator"\n{federation}'
    )


def test_a_join_refused_for_its_token_says_why_on_both_sides(tmp_path: Path) -> None:
    off, other, joining = free_port(), free_port(), free_port()
    urls = [f"ws://127.0.0.1:{port}/ws" for port in (off, other)]
    joins = ", ".join(f'"{u}"' for u in urls)
    files = {
        "off.toml": light(off, "off", "calc-off"),
        "other.toml": light(other, "other", "calc-other"),
        "b.toml": light(
            joining,
            "b",
            "calc-b",
            f'[federation]\nname = "gw-b"\njoin = [{joins}]\nreconnect_max_seconds = 0.5\n',
        ),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def serve(name: str, token: str | None) -> tuple[list[str], dict[str, str]]:
        env = {"EFFMESH_FEDERATION_TOKEN": token} if token else {}
        return [sys.executable, "-m", "gateway.cli", "serve", "--config", name], env

    # One gateway without federation, one with another token than the joining gateway's.
    with (
        started(*serve("off.toml", None), tmp_path) as gateway_off,
        started(*serve("other.toml", "the-right-token"), tmp_path) as gateway_other,
    ):
        until(lambda: answers(gateway_off, str(off)), WAIT, "the first gateway to answer")
        until(lambda: answers(gateway_other, str(other)), WAIT, "the second gateway to answer")
        with started(*serve("b.toml", "a-wrong-token"), tmp_path) as gateway_b:
            refused = {gateway_b.wait_for("cannot join: refused") for _ in urls}
            assert any(f"{urls[0]}: cannot join: refused: federation is off" in r for r in refused)
            assert any(f"{urls[1]}: cannot join: refused: joining" in r for r in refused)
            assert "federation is off here" in gateway_off.wait_for("refused gateway 'gw-b'")
            line = gateway_other.wait_for("refused gateway 'gw-b'")
            assert "needs the federation token" in line
