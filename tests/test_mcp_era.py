"""Which MCP era a remote MCP agent speaks to its server, found as MCP 2026-07-28 asks of a
client of both eras: ``server/discover`` first, with the 2026-07-28 headers and ``_meta``; the
``initialize`` handshake when the server does not answer it as a 2026-07-28 server; the era
remembered for the server, and probed afresh when the server stops answering in it; an
agent's ``era`` setting wins.

The server is the official SDK's (``tests/mcp_fixture.py``), which speaks both eras. As a
handshake-only server it sits behind :class:`Refusing`, which answers ``server/discover`` as
the SDK's 1.x servers do (a 400 naming a missing session, no 2026-07-28 error); as a server
that has dropped the handshake, it answers ``initialize`` as a 2026-07-28-only server should
(a 400 naming the versions it speaks). Every POST that reaches it is noted."""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters import model as c
from adapters.errors import UpstreamUnavailable
from agents.remote import RemoteMCPAgent, RemoteMCPStdioAgent
from gateway.bodies import replay
from tests.mcp_fixture import build_fixture
from tests.servers import running

TEXT = "This is a simple text response for testing."
MODERN = "2026-07-28"
LEGACY_REFUSAL = {"code": -32600, "message": "Bad Request: Missing session ID"}
"""What the SDK's 1.x servers answer a request without a session (``server/discover``)."""
MODERN_REFUSAL = {
    "code": -32022,
    "message": "Unsupported protocol version",
    "data": {"supported": [MODERN], "requested": "2025-11-25"},
}
"""What a 2026-07-28-only server answers ``initialize``."""


@dataclass
class Post:
    method: str
    version: str | None
    """The ``MCP-Protocol-Version`` header."""
    named: str | None
    """The ``Mcp-Method`` header."""
    meta_version: str | None
    """The ``io.modelcontextprotocol/protocolVersion`` of the body's ``_meta``."""
    session: str | None
    rid: Any = None
    """The JSON-RPC id: a tool call sent straight on the wire has one of effmesh's own."""


@dataclass
class Refusing:
    """``app``, refusing the methods in ``refused`` as the server's era would, and noting
    every POST."""

    app: ASGIApp
    refused: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            request = json.loads(body)
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            meta = (request.get("params") or {}).get("_meta") or {}
            method = request.get("method", "")
            self.posts.append(
                Post(
                    method,
                    headers.get("mcp-protocol-version"),
                    headers.get("mcp-method"),
                    meta.get("io.modelcontextprotocol/protocolVersion"),
                    headers.get("mcp-session-id"),
                    request.get("id"),
                )
            )
            refusal = self.refused.get(method)
            if refusal is not None:
                out = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": refusal})
                start = {"type": "http.response.start", "status": 400}
                await send({**start, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": out.encode()})
                return
            receive = replay(body, receive)
        await self.app(scope, receive, send)

    def methods(self) -> list[str]:
        return [post.method for post in self.posts]


async def call(agent: RemoteMCPAgent) -> str:
    outcome = None
    invocation = c.Invocation("test_simple_text", c.Message("user", ()))
    async for item in agent.run(invocation, task_id="t"):
        outcome = item
    assert isinstance(outcome, c.Task)
    assert outcome.state is c.TaskState.COMPLETED
    part = outcome.artifacts[0].parts[0]
    assert isinstance(part, c.TextPart)
    return part.text


def call_once(url: str, **settings: Any) -> tuple[str, bool]:
    """One tool call through a fresh agent of the server at ``url``: its text, and whether the
    agent spoke 2026-07-28 to it."""

    async def scenario() -> tuple[str, bool]:
        agent = RemoteMCPAgent("fx", url, timeout=30, **settings)
        try:
            await agent.connect()
            return await call(agent), agent.upstream.modern
        finally:
            await agent.close()

    return asyncio.run(scenario())


async def forget_session(url: str, session: str) -> None:
    """End the server's session, as a server restart would."""
    async with httpx.AsyncClient(timeout=30) as http:
        gone = await http.delete(url, headers={"mcp-session-id": session})
    assert gone.status_code < 300


def test_a_server_of_both_eras_is_asked_server_discover_first_and_spoken_to_in_2026_07_28() -> None:
    server = Refusing(build_fixture().streamable_http_app())
    with running(lambda base: server) as up:
        text, modern = call_once(f"{up}/mcp")
    assert text == TEXT
    assert modern
    first = server.posts[0]
    assert (first.method, first.version, first.named, first.meta_version) == (
        "server/discover",
        MODERN,
        "server/discover",
        MODERN,
    )
    assert "initialize" not in server.methods()
    assert {post.session for post in server.posts} == {None}
    for post in server.posts:  # every request of the exchange carries its era
        assert (post.version, post.named, post.meta_version) == (MODERN, post.method, MODERN)
    (called,) = [post for post in server.posts if post.method == "tools/call"]
    assert str(called.rid).startswith("effmesh-")  # sent straight on the wire, not by the SDK


def test_a_handshake_only_server_is_probed_once_then_spoken_to_in_the_handshake_era() -> None:
    server = Refusing(build_fixture().streamable_http_app(), {"server/discover": LEGACY_REFUSAL})
    with running(lambda base: server) as up:

        async def scenario() -> tuple[list[str], int, bool]:
            agent = RemoteMCPAgent("fx", f"{up}/mcp", timeout=30)
            try:
                await agent.connect()
                texts = [await call(agent)]
                session = server.posts[-1].session
                assert session is not None  # the tool call went in the session
                await forget_session(f"{up}/mcp", session)
                texts.append(await call(agent))  # in a new session
                return texts, agent.upstream.sessions, agent.upstream.modern
            finally:
                await agent.close()

        texts, sessions, modern = asyncio.run(scenario())
    assert texts == [TEXT, TEXT]
    assert sessions == 2
    assert not modern
    methods = server.methods()
    assert methods[:2] == ["server/discover", "initialize"]
    assert methods.count("server/discover") == 1  # remembered: the second session asks not
    assert methods.count("initialize") == 2


def test_a_server_that_stops_speaking_the_remembered_era_is_probed_again() -> None:
    server = Refusing(build_fixture().streamable_http_app(), {"server/discover": LEGACY_REFUSAL})
    with running(lambda base: server) as up:

        async def scenario() -> tuple[str, bool, bool]:
            agent = RemoteMCPAgent("fx", f"{up}/mcp", timeout=30)
            try:
                await agent.connect()
                await call(agent)
                was_modern = agent.upstream.modern
                session = server.posts[-1].session
                assert session is not None
                # The server is upgraded: 2026-07-28 only from now on.
                server.refused = {"initialize": MODERN_REFUSAL}
                await forget_session(f"{up}/mcp", session)
                return await call(agent), was_modern, agent.upstream.modern
            finally:
                await agent.close()

        text, was_modern, modern = asyncio.run(scenario())
    assert text == TEXT
    assert (was_modern, modern) == (False, True)
    assert server.methods().count("server/discover") == 2


def test_the_era_setting_pins_the_handshake_for_a_server_of_both_eras() -> None:
    server = Refusing(build_fixture().streamable_http_app())
    with running(lambda base: server) as up:
        text, modern = call_once(f"{up}/mcp", era="handshake")
    assert text == TEXT
    assert not modern
    assert server.methods()[0] == "initialize"
    assert "server/discover" not in server.methods()


@pytest.mark.parametrize("refused", ["server/discover", None])
def test_the_era_setting_pins_2026_07_28_and_a_handshake_only_server_is_down(
    refused: str | None,
) -> None:
    refusals = {refused: LEGACY_REFUSAL} if refused else {}
    server = Refusing(build_fixture().streamable_http_app(), refusals)
    with running(lambda base: server) as up:

        async def scenario() -> bool:
            agent = RemoteMCPAgent("fx", f"{up}/mcp", timeout=10, era=MODERN)
            try:
                await agent.connect()
                assert await call(agent) == TEXT
                return agent.upstream.modern
            finally:
                await agent.close()

        if refused:
            with pytest.raises(UpstreamUnavailable):
                asyncio.run(scenario())
        else:
            assert asyncio.run(scenario())


async def noted(record: pathlib.Path, word: str) -> None:
    """Wait until the server (perhaps another process) notes ``word`` in ``record``: a file
    is the one channel both kinds of server share, so this polls, with a bound."""
    for _ in range(600):
        if record.exists() and word in record.read_text().split():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the upstream never noted {word!r}")


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_cancelled_2026_07_28_call_is_cancelled_at_the_server(
    transport: str, tmp_path: pathlib.Path
) -> None:
    """Over HTTP the end of the call's stream is the cancel; over stdio,
    ``notifications/cancelled``."""
    record = tmp_path / "record"

    async def scenario(agent: RemoteMCPAgent) -> bool:
        try:
            await agent.connect()
            message = c.Message("user", (c.DataPart({"record": str(record)}),))
            invocation = c.Invocation("test_wait_for_cancel", message)

            async def run() -> None:
                async for _ in agent.run(invocation, task_id="t"):
                    pass

            call = asyncio.ensure_future(run())
            await noted(record, "started")
            call.cancel()
            await noted(record, "cancelled")
            return agent.upstream.modern
        finally:
            await agent.close()

    if transport == "stdio":
        command = (sys.executable, "-m", "tests.mcp_fixture")
        assert asyncio.run(scenario(RemoteMCPStdioAgent("fx", command, timeout=30)))
        return
    with running(lambda base: build_fixture().streamable_http_app()) as up:
        assert asyncio.run(scenario(RemoteMCPAgent("fx", f"{up}/mcp", timeout=30)))
