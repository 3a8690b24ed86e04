"""Long-lived sessions to upstream MCP servers: one stdio process for many calls, restarted
when it dies and stopped with the agent; one HTTP session for many calls, opened anew when
the server forgets it, whose tool calls one after another share one kept-alive connection.
The upstream is the official SDK's server (``tests/mcp_fixture.py``), which speaks both eras:
the HTTP tests pin the handshake era, whose session they are about (``tests/test_mcp_era.py``
covers how the era is found)."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import sys
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters import model as c
from adapters.errors import UpstreamUnavailable
from agents.remote import RemoteMCPAgent, RemoteMCPStdioAgent
from agents.remote.mcp_http import HttpCalls, _events, _Resumable
from agents.remote.mcp_stdio import StdioCalls
from agents.remote.mcp_wire import Handlers
from gateway.bodies import replay
from tests.mcp_fixture import build_fixture
from tests.servers import running

FIXTURE = (sys.executable, "-m", "tests.mcp_fixture")


def children(marker: str) -> list[int]:
    """This process's live children whose command line contains ``marker`` (Linux /proc)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and marker in cmdline:
            found.append(int(entry.name))
    return found


async def call(agent: RemoteMCPAgent, tool: str = "test_simple_text") -> str:
    invocation = c.Invocation(tool, c.Message("user", ()))
    outcome = None
    async for item in agent.run(invocation, task_id="t"):
        outcome = item
    assert isinstance(outcome, c.Task)
    assert outcome.state is c.TaskState.COMPLETED
    part = outcome.artifacts[0].parts[0]
    assert isinstance(part, c.TextPart)
    return part.text


def test_a_stdio_server_is_one_process_for_many_concurrent_calls() -> None:
    async def scenario() -> tuple[int, list[int], list[str]]:
        agent = RemoteMCPStdioAgent("fx", FIXTURE, timeout=30)
        try:
            await agent.connect()
            texts = await asyncio.gather(*(call(agent) for _ in range(20)))
            return agent.upstream.sessions, children("tests.mcp_fixture"), texts
        finally:
            await agent.close()

    sessions, pids, texts = asyncio.run(scenario())
    assert sessions == 1
    assert len(pids) == 1
    assert set(texts) == {"This is a simple text response for testing."}
    assert children("tests.mcp_fixture") == []  # close() stopped it


def test_a_killed_stdio_server_is_started_again() -> None:
    async def scenario() -> tuple[int, int, int, list[BaseException]]:
        agent = RemoteMCPStdioAgent("fx", FIXTURE, timeout=30)
        try:
            await agent.connect()
            (first,) = children("tests.mcp_fixture")
            os.kill(first, signal.SIGKILL)
            failures: list[BaseException] = []
            # A call that races the death fails as "unreachable"; once the session sees the
            # process gone, calls wait for the new one.
            for _ in range(50):
                try:
                    await call(agent)
                    break
                except UpstreamUnavailable as exc:
                    failures.append(exc)
            (second,) = children("tests.mcp_fixture")
            return first, second, agent.upstream.sessions, failures
        finally:
            await agent.close()

    first, second, sessions, failures = asyncio.run(scenario())
    assert second != first
    assert sessions == 2
    assert len(failures) <= 2


def test_a_server_that_keeps_dying_young_is_reported_down_while_it_is_given_time() -> None:
    # The first death restarts the process at once, and a call waits for it; from the second
    # young death on, restarts back off, and a call in the meantime is told the server is
    # down instead of being held through the delay.
    async def started_again(before: int) -> int:
        for _ in range(600):
            pids = children("tests.mcp_fixture")
            if pids and pids[0] != before:
                return pids[0]
            await asyncio.sleep(0.05)
        raise AssertionError("not started again")

    async def gone(pid: int) -> None:
        for _ in range(600):
            if pid not in children("tests.mcp_fixture"):
                return
            await asyncio.sleep(0.01)

    async def scenario() -> tuple[list[str], str]:
        agent = RemoteMCPStdioAgent("fx", FIXTURE, timeout=30)
        outcomes: list[str] = []
        try:
            await agent.connect()
            (pid,) = children("tests.mcp_fixture")
            for _ in range(4):
                os.kill(pid, signal.SIGKILL)
                await gone(pid)
                await asyncio.sleep(0.1)  # the session has seen the process end
                try:
                    await call(agent)
                    outcomes.append("answered")
                except UpstreamUnavailable:
                    outcomes.append("down")
                pid = await started_again(pid)
            return outcomes, await call(agent)
        finally:
            await agent.close()

    outcomes, last = asyncio.run(scenario())
    # The first restart is waited for; the fourth death's delay (2 s) is reported as down.
    assert outcomes[0] == "answered"
    assert outcomes[-1] == "down"
    assert last == "This is a simple text response for testing."


def test_a_call_to_a_process_whose_output_has_ended_fails_at_once() -> None:
    # A write to a process that has just died can seem to succeed: the pipe's end is noticed
    # a few loop turns after its stdout's. A process that closes stdout and lives on holds
    # that moment open: a call sent then must fail, not wait for an answer that cannot come.
    quiet = "import os, sys, time; sys.stdin.readline(); os.close(1); time.sleep(60)"

    async def scenario() -> list[str]:
        calls = StdioCalls([sys.executable, "-c", quiet])
        outcomes: list[str] = []
        async with calls.transport() as (read, _):
            assert calls._stdin is not None
            calls._stdin.write(b"{}\n")
            async for _ in read:  # until the process's stdout ends
                pass
            handlers = Handlers(_ignore, _ignore, _no_answer)
            for version in ("2025-06-18", "2025-11-25"):
                assert not calls.ready(version)
                try:
                    async with asyncio.timeout(5):
                        await calls.call({"name": "t"}, version, handlers)
                    outcomes.append("answered")
                except ConnectionError:
                    outcomes.append("refused")
                except TimeoutError:
                    outcomes.append("waited")
        return outcomes

    assert asyncio.run(scenario()) == ["refused", "refused"]


def test_a_line_to_a_process_whose_pipe_has_room_is_written_without_a_turn_of_the_loop() -> None:
    # The write of a tool call's request takes no turn of the event loop of its own: the
    # call's next step (waiting for its answer) follows at once.
    reader = "import sys\nfor line in sys.stdin: sys.stdout.write(line); sys.stdout.flush()"

    async def scenario() -> tuple[bool, bytes]:
        calls = StdioCalls([sys.executable, "-c", reader])
        async with calls.transport() as (read, _):
            writing = calls._write(b'{"jsonrpc": "2.0", "method": "x"}\n')
            try:
                writing.send(None)
            except StopIteration:
                finished = True
            else:
                finished = False
                writing.close()
            async with asyncio.timeout(10):
                echoed = await read.receive()
        assert not isinstance(echoed, Exception)
        return finished, echoed.message.model_dump_json(exclude_unset=True).encode()

    finished, echoed = asyncio.run(scenario())
    assert finished
    assert json.loads(echoed) == {"jsonrpc": "2.0", "method": "x"}


def test_lines_written_together_past_a_full_pipe_arrive_whole_and_in_order() -> None:
    reader = "import sys\nfor line in sys.stdin: sys.stdout.write(line); sys.stdout.flush()"
    pads = [c * 300_000 for c in "abc"]  # each line more than a pipe holds

    async def scenario() -> list[str]:
        calls = StdioCalls([sys.executable, "-c", reader])
        got: list[str] = []
        async with calls.transport() as (read, _):
            lines = [
                orjson.dumps({"jsonrpc": "2.0", "method": "x", "params": {"pad": pad}}) + b"\n"
                for pad in pads
            ]
            async with asyncio.timeout(30):
                await asyncio.gather(*(calls._write(line) for line in lines))
                while len(got) < len(pads):
                    echoed = await read.receive()
                    assert not isinstance(echoed, Exception)
                    dumped = echoed.message.model_dump(exclude_unset=True)
                    got.append(dumped["params"]["pad"])
        return got

    assert asyncio.run(scenario()) == pads


async def _ignore(*_: object) -> None:
    return None


async def _no_answer(*_: object) -> dict[str, Any]:
    return {}


def test_an_http_server_serves_many_calls_on_one_session() -> None:
    with running(lambda base: build_fixture().streamable_http_app()) as upstream:

        async def scenario() -> tuple[int, list[str]]:
            agent = RemoteMCPAgent("fx", f"{upstream}/mcp", timeout=30, era="handshake")
            try:
                await agent.connect()
                texts = await asyncio.gather(*(call(agent) for _ in range(20)))
                return agent.upstream.sessions, texts
            finally:
                await agent.close()

        sessions, texts = asyncio.run(scenario())
    assert sessions == 1
    assert len(texts) == 20


def tool_calls_seen(app: ASGIApp, seen: list[tuple[int, bytes | None]]) -> ASGIApp:
    """``app``, noting the client port and session id of every ``tools/call`` POST."""

    async def noting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            body = (await receive()).get("body", b"")
            if b'"tools/call"' in body:
                seen.append((scope["client"][1], dict(scope["headers"]).get(b"mcp-session-id")))
            receive = replay(body, receive)
        await app(scope, receive, send)

    return noting


def test_http_tool_calls_one_after_another_share_kept_alive_connections_in_the_session() -> None:
    seen: list[tuple[int, bytes | None]] = []
    with running(lambda base: tool_calls_seen(build_fixture().streamable_http_app(), seen)) as up:

        async def scenario() -> list[str]:
            agent = RemoteMCPAgent("fx", f"{up}/mcp", timeout=30, era="handshake")
            try:
                await agent.connect()
                return [await call(agent) for _ in range(10)]
            finally:
                await agent.close()

        texts = asyncio.run(scenario())
    assert set(texts) == {"This is a simple text response for testing."}
    assert len(seen) == 10
    ports, sessions = {port for port, _ in seen}, {session for _, session in seen}
    # Kept alive: a connection whose answer's stream is still ending when the next call
    # starts is given back a moment later, so two may take turns, never one per call.
    assert len(ports) <= 2
    assert len(sessions) == 1
    assert None not in sessions


def test_a_call_in_a_session_the_server_forgot_goes_out_again_in_a_new_one() -> None:
    with running(lambda base: build_fixture().streamable_http_app()) as upstream:

        async def scenario() -> tuple[str, int, str | None, str | None]:
            agent = RemoteMCPAgent("fx", f"{upstream}/mcp", timeout=30, era="handshake")
            try:
                await agent.connect()
                await call(agent)
                assert isinstance(agent.upstream.fast, HttpCalls)
                first = agent.upstream.fast.session_id
                assert first is not None
                async with httpx.AsyncClient(timeout=30) as http:
                    gone = await http.delete(f"{upstream}/mcp", headers={"mcp-session-id": first})
                assert gone.status_code < 300
                text = await call(agent)  # answered 404 at first: sent again, in a new session
                return text, agent.upstream.sessions, first, agent.upstream.fast.session_id
            finally:
                await agent.close()

        text, sessions, first, second = asyncio.run(scenario())
    assert text == "This is a simple text response for testing."
    assert sessions == 2
    assert second not in (None, first)


def redirecting_tool_calls(app: ASGIApp, redirected: list[bytes]) -> ASGIApp:
    """``app``, answering the tool calls sent with effmesh's own ids with a redirect to the
    same URL (which the SDK's client follows)."""

    async def redirecting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            body = (await receive()).get("body", b"")
            if b'"tools/call"' in body and b'"effmesh-' in body:
                redirected.append(body)
                location = [(b"location", scope["path"].encode())]
                await send({"type": "http.response.start", "status": 307, "headers": location})
                await send({"type": "http.response.body", "body": b""})
                return
            receive = replay(body, receive)
        await app(scope, receive, send)

    return redirecting


def test_a_tool_call_the_server_redirects_is_sent_by_the_sdks_client_instead() -> None:
    redirected: list[bytes] = []
    app = build_fixture().streamable_http_app()
    with running(lambda base: redirecting_tool_calls(app, redirected)) as upstream:

        async def scenario() -> str:
            agent = RemoteMCPAgent("fx", f"{upstream}/mcp", timeout=30, era="handshake")
            try:
                await agent.connect()
                return await call(agent)
            finally:
                await agent.close()

        text = asyncio.run(scenario())
    assert text == "This is a simple text response for testing."
    assert len(redirected) == 1


def test_server_sent_events_are_read_whole_whatever_their_line_ends() -> None:
    buffer = bytearray(
        b': a comment\n\nevent: message\ndata: {"a":\ndata: 1}\nid: 3\n\n'
        b'event: ping\ndata: x\n\ndata:{}\n\ndata: {"b"'
    )
    seen = _Resumable()
    assert _events(buffer, seen) == [b'{"a":\n1}', b"{}"]
    assert buffer == bytearray(b'data: {"b"')  # an event not yet ended stays
    assert seen == _Resumable(last_id="3")


def test_a_priming_event_is_not_an_answer_but_names_where_to_resume() -> None:
    seen = _Resumable()
    buffer = bytearray(b"id: event-1\nretry: 500\ndata: \n\nid: bad\0id\nretry: soon\n\n")
    assert _events(buffer, seen) == []
    assert seen == _Resumable(last_id="event-1", retry_ms=500)


def test_an_unreachable_http_server_is_reported_as_such() -> None:
    async def scenario() -> None:
        agent = RemoteMCPAgent("gone", "http://127.0.0.1:9/mcp", timeout=5)
        try:
            await agent.connect()
        finally:
            await agent.close()

    with pytest.raises(UpstreamUnavailable):
        asyncio.run(scenario())
