"""Federation across gateway processes: three ``effmesh serve`` processes on their own loopback
ports, each with its own agents, linked with ``[federation] join``; callers use the official
MCP client and plain ACP requests; the A2A agent behind gateway C is a real A2A server."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from tests.gateway_procs import HEARTBEAT, ROOT, GatewayProcess, start_all, until
from tests.servers import namespaces_work, running
from tests.test_gateway_cancel import Sleeper
from tests.test_gateway_mesh import PeerThread, _a2a_echo

UPSTREAM_UNAVAILABLE = -32013


@pytest.fixture(scope="module")
def a2a_server() -> Iterator[tuple[str, Sleeper]]:
    """A real A2A server (a2a-sdk behind effmesh's A2A endpoints) with two agents:
    ``planner`` (echo) and ``sleeper`` (works until cancelled)."""
    sleeper = Sleeper()
    registry = Registry()
    registry.add(EchoAgent("planner"))
    registry.add(sleeper)
    # A call whose gateway was killed leaves its sleeper running here (A2A tasks outlive
    # their callers): do not wait for it at the end.
    with running(lambda base: create_app(registry, base_url=base), graceful=1) as url:
        yield url, sleeper


def a2a_agents(url: str, *names: str) -> str:
    return "".join(
        f'[[agents]]\nname = "{n}"\nkind = "a2a"\nurl = "{url}/a2a/{n}"\n' for n in names
    )


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def echo_agent(name: str) -> str:
    return f'[[agents]]\nname = "{name}"\nkind = "echo"\n'


def sees(gateway: GatewayProcess, origin: str, agent: str | None = None) -> bool:
    origins = gateway.status()["origins"]
    return origin in origins and (agent is None or agent in origins[origin]["agents"])


async def call_tool(base: str, name: str, text: str) -> Any:
    async with Client(f"{base}/mcp") as client:
        return await client.call_tool(name, {"text": text})


@pytest.fixture(scope="module")
def line(
    tmp_path_factory: pytest.TempPathFactory, a2a_server: tuple[str, Sleeper]
) -> Iterator[tuple[GatewayProcess, GatewayProcess, GatewayProcess]]:
    """A -> B <- C: A and C both join B; the A2A agents live behind C."""
    folder = tmp_path_factory.mktemp("line")
    b = GatewayProcess(folder, "b")
    a = GatewayProcess(folder, "a", join=(b.ws,))
    c = GatewayProcess(folder, "c", a2a_agents(a2a_server[0], "planner", "sleeper"), (b.ws,))
    start_all(a, b, c)
    try:
        until(lambda: sees(a, "c", "planner"), what="A to learn C's agents")
        yield a, b, c
    finally:
        for g in (a, b, c):
            g.stop()


def test_an_mcp_client_on_a_calls_an_a2a_agent_on_c_through_b(
    line: tuple[GatewayProcess, GatewayProcess, GatewayProcess],
    spans: InMemorySpanExporter,
) -> None:
    a, b, c = line
    assert a.status()["origins"]["c"]["path"] == ["c", "b"]
    assert {"planner", "sleeper"} <= a.agents_now()
    result = asyncio.run(call_tool(a.base, "planner.echo", "across two hops"))
    assert result.is_error is False
    assert [block.text for block in result.content] == ["across two hops"]
    # The same agent from A2A (A's card for it) and ACP callers of gateway A.
    assert asyncio.run(_a2a_echo(f"{a.base}/a2a/planner", "a2a too")) == "a2a too"
    run = httpx.post(
        f"{a.base}/acp/runs",
        json={
            "agent_name": "planner.echo",
            "mode": "sync",
            "input": [{"role": "user", "parts": [{"content": "acp too"}]}],
        },
        headers={"traceparent": TRACEPARENT},
        timeout=10,
    ).json()
    assert run["output"][0]["parts"][0]["content"] == "acp too"
    # The caller's trace crossed A, B and C (three processes, two federation links) to the
    # A2A server here, which continued it under C's call span.
    until(
        lambda: any(s.name == "a2a message" for s in spans.get_finished_spans()),
        what="the A2A server's span to end",
    )
    served = [s for s in spans.get_finished_spans() if s.name == "a2a message"]
    assert f"{served[-1].context.trace_id:032x}" == TRACEPARENT[3:35]
    assert served[-1].parent is not None
    assert served[-1].parent.is_remote
    assert b.status()["counters"]["runs_forwarded"] == 3
    assert c.status()["counters"]["runs_served"] == 3


def test_an_acp_cancel_on_a_cancels_the_a2a_agent_behind_c(
    line: tuple[GatewayProcess, GatewayProcess, GatewayProcess],
    a2a_server: tuple[str, Sleeper],
) -> None:
    a, _, _ = line
    sleeper = a2a_server[1]
    sleeper.started.clear()
    sleeper.cancelled.clear()
    run = httpx.post(
        f"{a.base}/acp/runs",
        json={
            "agent_name": "sleeper.sleep",
            "mode": "async",
            "input": [{"role": "user", "parts": [{"content": "zzz"}]}],
        },
        timeout=10,
    ).json()
    assert sleeper.started.wait(10)
    cancel = httpx.post(f"{a.base}/acp/runs/{run['run_id']}/cancel", timeout=10)
    assert cancel.status_code in (200, 202)
    assert sleeper.cancelled.wait(10)


def test_an_unknown_agent_is_a_clear_error_in_the_callers_protocol(
    line: tuple[GatewayProcess, GatewayProcess, GatewayProcess],
) -> None:
    a, _, _ = line

    async def call() -> None:
        async with Client(f"{a.base}/mcp") as client:
            with pytest.raises(MCPError) as caught:
                await client.call_tool("nowhere.echo", {"text": "x"})
        assert caught.value.error.code == -32602  # MCP's unknown tool: invalid params

    asyncio.run(call())


def test_killing_b_mid_call_fails_the_call_and_the_next_call_fails_over_then_b_rejoins(
    tmp_path: Path, a2a_server: tuple[str, Sleeper]
) -> None:
    """A joins B and C; B and C both offer ``planner`` and ``sleeper`` (the same A2A agents,
    registered on two gateways). A prefers B (as near as C, and first by name)."""
    url, sleeper = a2a_server
    b = GatewayProcess(tmp_path, "b", a2a_agents(url, "planner", "sleeper"))
    c = GatewayProcess(tmp_path, "c", a2a_agents(url, "planner", "sleeper"))
    a = GatewayProcess(tmp_path, "a", join=(b.ws, c.ws))
    start_all(a, b, c)
    try:
        until(lambda: sees(a, "b", "sleeper") and sees(a, "c", "sleeper"), what="A to see B, C")
        until(lambda: sees(c, "b", "planner"), what="C to learn B through A")
        sleeper.started.clear()

        async def mid_call() -> tuple[int, float]:
            async with Client(f"{a.base}/mcp") as client:
                call = asyncio.ensure_future(client.call_tool("sleeper.sleep", {"text": "z"}))
                started = await asyncio.to_thread(sleeper.started.wait, 10)
                assert started
                t0 = time.monotonic()
                b.kill()
                with pytest.raises(MCPError) as caught:
                    await asyncio.wait_for(call, 10)
                return caught.value.error.code, time.monotonic() - t0

        code, waited = asyncio.run(mid_call())
        assert code == UPSTREAM_UNAVAILABLE
        assert waited < 5  # the socket closing says it at once; no timeout is waited out
        served = c.status()["counters"].get("runs_served", 0)
        result = asyncio.run(call_tool(a.base, "planner.echo", "failed over"))
        assert [block.text for block in result.content] == ["failed over"]
        assert c.status()["counters"]["runs_served"] == served + 1
        assert "b" not in a.status()["origins"]
        until(lambda: "b" not in c.status()["origins"], what="C to forget B")

        old = a.status()
        b.start()
        b.wait_up()
        until(lambda: sees(a, "b", "planner"), what="A to see B again")
        until(lambda: sees(c, "b", "planner"), what="C to see B again")
        assert a.status()["origins"]["b"]["version"] > [0, 0]
        assert a.status()["origins"]["c"] == old["origins"]["c"]
        assert "planner" in c.agents_now()
    finally:
        for g in (a, b, c):
            g.stop()


def quiet(*gateways: GatewayProcess) -> dict[str, dict[str, int]]:
    """The gateways' counters once one and a half heartbeats pass with none of them changing: the
    tables agree, and nothing more is sent (heartbeats are not counted)."""
    last: dict[str, dict[str, int]] = {}

    def settled() -> bool:
        nonlocal last
        now = {g.name: g.status()["counters"] for g in gateways}
        same = now == last
        last = now
        if not same:
            time.sleep(1.5 * HEARTBEAT)
        return same

    until(settled, timeout=30, what="the counters to settle")
    return last


def test_a_loop_in_the_topology_does_not_multiply_messages(tmp_path: Path) -> None:
    """A -> B -> C -> A. A dial-in agent arriving at C reaches A and B with at most one
    announcement per link, nothing is re-sent once the tables agree, and a call runs once."""
    a = GatewayProcess(tmp_path, "a")
    b = GatewayProcess(tmp_path, "b")
    c = GatewayProcess(tmp_path, "c")
    a.join, b.join, c.join = (b.ws,), (c.ws,), (a.ws,)
    start_all(a, b, c)
    peer: PeerThread | None = None
    try:
        for g in (a, b, c):
            until(lambda g=g: len(g.status()["origins"]) == 2, what=f"{g.name} to see two")
        before = quiet(a, b, c)
        peer = PeerThread(c.ws)
        peer.wait_registered()
        until(lambda: sees(a, "c", "far") and sees(b, "c", "far"), what="far to be announced")
        after = quiet(a, b, c)
        for g in (a, b, c):
            links = len(g.status()["links"])
            got = after[g.name].get("announce_received", 0)
            assert got - before[g.name].get("announce_received", 0) <= links
        result = asyncio.run(call_tool(a.base, "far.echo", "once"))
        assert [block.text for block in result.content] == ["once"]
        counters = {g.name: g.status()["counters"] for g in (a, b, c)}
        assert counters["c"].get("runs_served", 0) == 1
        assert counters["b"].get("runs_forwarded", 0) == 0  # A has its own link to C
        assert all(counters[n].get("loops_refused", 0) == 0 for n in counters)
        peer.stop()
        peer = None
        until(lambda: "far" not in a.agents_now() and "far" not in b.agents_now(), what="removal")
    finally:
        if peer is not None:
            with contextlib.suppress(Exception):
                peer.stop()
        for g in (a, b, c):
            g.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_gateways_link_over_tls_and_a_peer_with_an_unknown_certificate_is_not_trusted(
    tmp_path: Path,
) -> None:
    tls = self_signed(tmp_path)
    b = GatewayProcess(tmp_path, "b", echo_agent("secure"), tls=tls)
    a = GatewayProcess(tmp_path, "a", join=(b.ws,), ca_file=tls[0])
    stranger = GatewayProcess(tmp_path, "s", join=(b.ws,))  # trusts the system CAs only
    assert b.ws.startswith("wss://")
    start_all(a, b, stranger)
    try:
        until(lambda: sees(a, "b", "secure"), what="A to see B over wss://")
        result = asyncio.run(call_tool(a.base, "secure.echo", "over tls"))
        assert [block.text for block in result.content] == ["over tls"]
        until(lambda: "SSLCertVerificationError" in stranger.log(), what="the refusal")
        assert "b" not in stranger.status()["origins"]
    finally:
        for g in (a, b, stranger):
            g.stop()


def test_a_silent_gateway_is_dropped_after_three_heartbeats_and_rejoins_when_it_answers(
    tmp_path: Path,
) -> None:
    b = GatewayProcess(tmp_path, "b", echo_agent("far"))
    a = GatewayProcess(tmp_path, "a", join=(b.ws,), join_flag=True)  # effmesh serve --join
    start_all(a, b)
    assert b.process is not None
    try:
        until(lambda: sees(a, "b", "far"), what="A to see B")
        b.process.send_signal(signal.SIGSTOP)  # a partition: no close, no answer
        t0 = time.monotonic()
        until(lambda: "b" not in a.status()["origins"], what="A to drop B")
        assert time.monotonic() - t0 >= 2 * HEARTBEAT

        async def refused() -> int:
            async with Client(f"{a.base}/mcp") as client:
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("far.echo", {"text": "x"})
            return caught.value.error.code

        assert asyncio.run(refused()) == -32602  # no one offers it now: an unknown tool
        b.process.send_signal(signal.SIGCONT)
        until(lambda: sees(a, "b", "far"), what="A to see B again")
        result = asyncio.run(call_tool(a.base, "far.echo", "healed"))
        assert [block.text for block in result.content] == ["healed"]
    finally:
        if b.process is not None and b.process.poll() is None:
            b.process.send_signal(signal.SIGCONT)
        for g in (a, b):
            g.stop()


@pytest.mark.skipif(
    not namespaces_work("link", "add", "br0", "type", "bridge"),
    reason="no user and network namespaces here",
)
def test_three_gateways_in_their_own_network_namespaces(tmp_path: Path) -> None:
    """The line A -> B <- C again, each gateway in a network namespace of its own on one
    bridge (``tests/netns_lab.py``): a call crosses B, B's death leaves C unreachable from
    A, and when B is back the tables agree again."""
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, "-m", "tests.netns_lab", str(tmp_path)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["path"] == ["c", "b"]
    assert found["through_b"] == {"text": ["across namespaces"]}
    assert found["b_gone"] == {"error": -32602}  # no gateway offers it: an unknown tool
    assert found["b_back"] == {"text": ["converged"]}
