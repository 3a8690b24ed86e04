"""A 2026-07-28 caller's paused call after the gateway restarts on its store: a 2026-07-28
server's question is carried on (its round is in the store, nothing was open), a
handshake-era server's is refused as expired (its call waited in the process that stopped);
and the round kept with a paused task, read back and checked against the caller's responses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as mt
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from adapters.errors import InvalidParams
from agents.remote import RemoteMCPAgent
from agents.remote.mcp_rounds import Round
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.runtime.sqlite import SQLiteTaskStore
from tests.mcp_fixture import build_fixture
from tests.mcp_modern_fixture import ModernOnly, build_modern
from tests.servers import running

MODERN = "2026-07-28"
ADA = mt.ElicitResult(action="accept", content={"text": "Ada"})
FX_ANSWER = mt.ElicitResult(action="accept", content={"username": "Ada", "email": "a@x"})


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[str, ModernOnly, str]]:
    modern = ModernOnly(build_modern())
    with (
        running(lambda base: modern) as modern_url,
        running(lambda base: build_fixture().streamable_http_app()) as fx_url,
    ):
        yield f"{modern_url}/mcp", modern, f"{fx_url}/mcp"


@contextmanager
def gateway(db: Path, replica: str, modern_url: str, fx_url: str) -> Iterator[str]:
    """A gateway on the store ``db`` under the name ``replica``, with fresh agent objects."""
    registry = Registry()
    for name, url in (("modern", modern_url), ("fx", fx_url)):
        agent = RemoteMCPAgent(name, url, timeout=30)
        asyncio.run(agent.connect())
        registry.add(agent)
    runtime = Runtime(SQLiteTaskStore(db, replica=replica))
    with running(lambda base: create_app(registry, base_url=base, runtime=runtime)) as url:
        yield url


async def answer(context: ClientRequestContext, params: mt.ElicitRequestParams) -> mt.ElicitResult:
    return ADA


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        Client(  # type: ignore[call-overload]
            streamable_http_client(f"{url}/mcp", http_client=http),
            mode=MODERN,
            elicitation_callback=answer,
        ) as mcp,
    ):
        yield mcp


async def pause(url: str, tool: str, arguments: dict[str, Any]) -> mt.InputRequiredResult:
    async with client(url) as mcp:
        asked = await mcp.session.call_tool(tool, arguments, allow_input_required=True)
    assert isinstance(asked, mt.InputRequiredResult)
    return asked


async def carry_on(
    url: str, tool: str, arguments: dict[str, Any], asked: mt.InputRequiredResult, reply: Any
) -> Any:
    (key,) = asked.input_requests or {}
    async with client(url) as mcp:
        try:
            return await mcp.session.call_tool(
                tool, arguments, input_responses={key: reply}, request_state=asked.request_state
            )
        except MCPError as exc:
            return exc.error.code


def test_a_2026_upstreams_question_is_carried_on_after_a_restart(
    upstreams: tuple[str, ModernOnly, str], tmp_path: Path
) -> None:
    modern_url, modern, fx_url = upstreams
    db = tmp_path / "tasks.sqlite3"
    with gateway(db, "first", modern_url, fx_url) as url:
        asked = asyncio.run(pause(url, "modern.greet", {}))
    calls = [s["method"] for s in modern.seen].count("tools/call")
    with gateway(db, "second", modern_url, fx_url) as url:
        done = asyncio.run(carry_on(url, "modern.greet", {}, asked, ADA))
    assert isinstance(done, mt.CallToolResult)
    assert [c.text for c in done.content if isinstance(c, mt.TextContent)] == ["hello Ada"]
    # Sent to the server once, by the second gateway.
    assert [s["method"] for s in modern.seen].count("tools/call") == calls + 1


def test_a_handshake_upstreams_question_is_expired_after_a_restart(
    upstreams: tuple[str, ModernOnly, str], tmp_path: Path
) -> None:
    modern_url, _, fx_url = upstreams
    db = tmp_path / "tasks.sqlite3"
    tool, arguments = "fx.test_elicitation", {"message": "who are you"}
    with gateway(db, "first", modern_url, fx_url) as url:
        asked = asyncio.run(pause(url, tool, arguments))
    with gateway(db, "second", modern_url, fx_url) as url:
        code = asyncio.run(carry_on(url, tool, arguments, asked, FX_ANSWER))
    assert code == mt.INVALID_PARAMS


KEPT = Round(
    "greet",
    {"a": 1},
    {"progressToken": "p"},
    "server-state",
    ("name", "poem"),
    {"roots": {"roots": []}},
)
POEM = {"role": "assistant", "content": {"type": "text", "text": "x"}, "model": "m"}


def test_a_kept_round_reads_back_as_it_was_kept() -> None:
    assert Round.of_note(KEPT.note()) == KEPT
    assert KEPT.params() == {
        "name": "greet",
        "arguments": {"a": 1},
        "_meta": {"progressToken": "p"},
    }


@pytest.mark.parametrize(
    "note",
    [None, {}, {"mcp.round": {"name": 3}}, {"mcp.round": {"name": "x", "asked": "name"}}],
)
def test_a_malformed_note_is_no_round(note: Any) -> None:
    assert Round.of_note(note) is None


def test_the_callers_responses_are_sent_with_the_gateways_own() -> None:
    given = {"name": {"action": "accept", "content": {"text": "Ada"}}, "poem": POEM}
    assert KEPT.responses(given) == {**given, "roots": {"roots": []}}


@pytest.mark.parametrize(
    "given",
    [
        None,
        {"name": {"action": "accept"}},
        {"name": {"action": "accept"}, "poem": POEM, "roots": {"roots": []}},
        {"name": {"action": "maybe"}, "poem": POEM},
        {"name": {"action": "accept"}, "poem": {"role": "assistant"}},
    ],
    ids=["none", "one-missing", "one-extra", "bad-action", "bad-sample"],
)
def test_responses_that_do_not_answer_what_was_asked_are_refused(given: Any) -> None:
    with pytest.raises(InvalidParams):
        KEPT.responses(given)
