"""The outbound guard: every spelling of a forbidden address is refused, at connect time, for
every client the gateway opens; the lab shows it against a real metadata address."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.errors import Forbidden, InvalidParams
from agents import outbound
from gateway.security.outbound import check_agent_url
from tests.servers import echo_gateway, namespaces_work

ROOT = Path(__file__).resolve().parents[1]
CLOSED = outbound.Policy(allow_loopback=False, allow_private=False)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "::a9fe:a9fe",
        "fe80::1",
        "fd00:ec2::254",
        "100.100.100.200",
        "169.254.170.2",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "240.0.0.1",
    ],
)
def test_link_local_metadata_and_non_unicast_addresses_are_always_refused(address: str) -> None:
    assert outbound.refusal(ipaddress.ip_address(address), outbound.OPEN) is not None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "10.1.2.3",
        "fd12::1",
        "100.64.0.1",
    ],
)
def test_loopback_and_private_addresses_follow_the_policy(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert outbound.refusal(ip, outbound.OPEN) is None
    assert outbound.refusal(ip, CLOSED) is not None


def test_public_addresses_pass() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1::1", "::ffff:93.184.216.34"):
        assert outbound.refusal(ipaddress.ip_address(address), CLOSED) is None


def test_link_local_is_allowed_only_when_the_operator_says_so() -> None:
    allowed = outbound.Policy(allow_link_local=True)
    assert outbound.refusal(ipaddress.ip_address("::ffff:169.254.169.254"), allowed) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/mcp",
        "http://metadata.google.internal/computeMetadata",
        "http://2852039166/",
    ],
)
def test_agent_urls_on_metadata_addresses_are_refused_at_start_up(url: str) -> None:
    with pytest.raises(Forbidden):
        check_agent_url(url, outbound.OPEN)
    assert check_agent_url(url, outbound.Policy(allow_link_local=True)) == url


@pytest.mark.parametrize("url", ["ftp://x/y", "file:///etc/passwd", "http:///nohost"])
def test_agent_urls_must_be_http(url: str) -> None:
    with pytest.raises(InvalidParams):
        check_agent_url(url, outbound.OPEN)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost", "2130706433"])
def test_every_client_is_refused_at_connect_time_by_any_spelling(host: str) -> None:
    """Both HTTP client families the gateway uses (httpx for A2A and ACP, httpx2 for MCP)
    check the address they are about to connect to, whatever form the URL gave it in."""

    async def attempt(port: str) -> list[str]:
        outcomes = []
        async with outbound.httpx_client(CLOSED) as http:
            try:
                await http.get(f"http://{host}:{port}/agents")
                outcomes.append("reached")
            except Forbidden:
                outcomes.append("refused")
        async with outbound.httpx2_client(CLOSED) as http2:
            try:
                await http2.get(f"http://{host}:{port}/agents")
                outcomes.append("reached")
            except Forbidden:
                outcomes.append("refused")
        async with outbound.httpx_client(outbound.OPEN) as http:
            outcomes.append(
                "reached" if (await http.get(f"http://{host}:{port}/agents")).is_success else "?"
            )
        return outcomes

    with echo_gateway() as url:
        assert asyncio.run(attempt(url.rsplit(":", 1)[1])) == ["refused", "refused", "reached"]


def test_a_name_that_changes_its_answer_is_checked_again_at_each_connect() -> None:
    answers = ["127.0.0.1"]

    async def resolver(host: str, port: int) -> list[str]:
        return answers

    policy = outbound.Policy(resolver=resolver)

    async def attempt(port: str) -> tuple[int, str]:
        async with outbound.httpx_client(policy) as http:
            first = await http.get(f"http://rebind.test:{port}/agents")
        answers[:] = ["127.0.0.1", "169.254.169.254"]
        async with outbound.httpx_client(policy) as http:
            try:
                await http.get(f"http://rebind.test:{port}/agents")
            except Forbidden:
                return first.status_code, "refused"
        return first.status_code, "reached"

    with echo_gateway() as url:
        assert asyncio.run(attempt(url.rsplit(":", 1)[1])) == (200, "refused")


def test_websocket_targets_are_checked_addresses() -> None:
    async def targets() -> tuple[dict[str, object], str]:
        target = await outbound.websocket_target("ws://localhost:9/ws", outbound.OPEN)
        try:
            await outbound.websocket_target("wss://[::ffff:a9fe:a9fe]/ws", outbound.OPEN)
        except Forbidden:
            return target, "refused"
        return target, "reached"

    target, refused = asyncio.run(targets())
    assert target["port"] == 9
    assert ipaddress.ip_address(str(target["host"])).is_loopback
    assert refused == "refused"


@pytest.mark.skipif(
    not namespaces_work("addr", "add", "169.254.169.254/32", "dev", "lo"),
    reason="no user and network namespaces here",
)
def test_no_way_reaches_a_metadata_server_in_the_lab() -> None:
    """``tests/outbound_lab.py``: a fake metadata server on 169.254.169.254 in a network
    namespace, and remote A2A, MCP and ACP agents pointed at it by every address form, by a
    card's interface URL, by a redirect and by a name that rebinds: it receives nothing, while
    the same agent allowed link-local addresses does reach it."""
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, "-m", "tests.outbound_lab"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(found["forms"].values()) == {"refused"}
    assert len(found["forms"]) == 21
    assert found["card"] == "refused"
    assert found["redirect"]["client"] == "refused"
    assert found["rebinding"] == ["reached", "refused"]
    assert found["metadata_requests_guarded"] == 0
    assert found["control"] == "reached"
    assert found["metadata_requests_control"] > 0
