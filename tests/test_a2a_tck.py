"""The A2A project's conformance kit (``a2aproject/a2a-tck``, installed by ``make tck`` into a
venv of its own) against the kit's agent (``tests.tck.sut``, on a2a-sdk's own server) directly,
and through the gateway, where that agent is the remote A2A agent ``tck`` addressed at
``/a2a/tck``. Both runs go at once (the kit spends most of its time waiting on streams).

Every test of the kit is run, at every level (MUST, SHOULD, MAY), over every binding the
agent's card lists. The outcomes are pinned in ``tests/data/a2a-tck-expected.txt``: each test
that does not pass directly, and each one that passes directly but not through the gateway,
with its reason. A test that starts passing, or stops, fails this test: the pins are a ratchet.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import xml.etree.ElementTree as ET
from typing import Final

from tests.tck.servers import behind_gateways

ROOT: Final = pathlib.Path(__file__).resolve().parent.parent
KIT: Final = ROOT / ".cache" / "tck" / "kit"
PYTHON: Final = ROOT / ".cache" / "tck" / "venv" / "bin" / "python"
EXPECTED: Final = pathlib.Path(__file__).parent / "data" / "a2a-tck-expected.txt"
TARGETS: Final = ("direct", "gateway")
RUN_TIMEOUT: Final = 600


def expected() -> dict[str, dict[str, str]]:
    """Target -> test -> the outcome pinned for it (each line also gives a reason)."""
    out: dict[str, dict[str, str]] = {t: {} for t in TARGETS}
    for line in EXPECTED.read_text().splitlines():
        if line and not line.startswith("#"):
            target, test, outcome, reason = line.split(maxsplit=3)
            assert reason, f"a pin without a reason: {line}"
            out[target][test] = outcome
    return out


def outcomes(report: pathlib.Path) -> dict[str, str]:
    """Each test of a JUnit report: ``pass``, ``fail`` (an error too), ``xfail`` (a SHOULD the
    agent misses) or ``skip``."""
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = (
            f"{case.get('classname', '').removeprefix('tests.compatibility.')}::{case.get('name')}"
        )
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            out[name] = "fail"
        elif "skipped" in kinds:
            xfail = kinds["skipped"].get("type") == "pytest.xfail"
            out[name] = "xfail" if xfail else "skip"
        else:
            out[name] = "pass"
    return out


def start(target: str, url: str, reports: pathlib.Path) -> subprocess.Popen[bytes]:
    out = reports / target
    out.mkdir(parents=True)
    return subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "pytest",
            "tests/compatibility/",
            f"--sut-host={url}",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={out / 'junit.xml'}",
            f"--compatibility-report={out / 'compatibility'}",
        ],
        cwd=KIT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def levels(report: pathlib.Path) -> dict[str, object]:
    """The kit's own summary per level, as its compatibility report gives it."""
    data = json.loads(report.read_text())
    summary: dict[str, object] = data.get("summary", data)
    return summary


def test_the_kit_passes_through_the_gateway_what_it_passes_directly(
    tmp_path: pathlib.Path,
) -> None:
    installed = PYTHON.exists() and KIT.exists()
    assert installed, "run `make test` (or `make tck`): it installs the kit"
    with behind_gateways(grpc=True) as (direct, front):
        runs = {
            "direct": start("direct", direct, tmp_path),
            "gateway": start("gateway", front, tmp_path),
        }
        try:
            for run in runs.values():
                run.wait(timeout=RUN_TIMEOUT)
        finally:
            for run in runs.values():
                if run.poll() is None:
                    run.kill()
                    run.wait()
    got = {t: outcomes(tmp_path / t / "junit.xml") for t in TARGETS}
    for target in TARGETS:
        print(target, levels(tmp_path / target / "compatibility.json"))
    pins = expected()
    # Directly: every test that does not pass is pinned, with the outcome it has.
    assert {k: v for k, v in got["direct"].items() if v in ("fail", "xfail")} == pins["direct"]
    # Through the gateway: what does not pass although it passes directly, and what fails.
    lost = {
        k: v
        for k, v in got["gateway"].items()
        if v in ("fail", "xfail") or (v != "pass" and got["direct"].get(k) == "pass")
    }
    assert lost == pins["gateway"]
