"""The gateway's MCP endpoints, driven by the official MCP SDK client over real sockets."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import anyio
import httpx
import mcp_types as mt
import pytest
import websockets
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from adapters import jsonrpc
from gateway.mcp.ws import websocket_client
from tests.servers import echo_gateway

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with echo_gateway() as url:
        yield url


def transports(base: str) -> dict[str, object]:
    return {
        "streamable-http": f"{base}/mcp",
        "websocket": websocket_client(base.replace("http://", "ws://") + "/mcp/ws"),
    }


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_every_skill_is_a_tool_and_a_call_returns_the_agents_answer(
    base_url: str, transport: str
) -> None:
    async with Client(transports(base_url)[transport]) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} == {"echo.echo", "echo.wait", "echo.ask"}
        steps: list[str | None] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            steps.append(message)

        result = await client.call_tool(
            "echo.echo", {"text": "hello"}, progress_callback=on_progress
        )
        assert result.is_error is False
        assert [c.text for c in result.content] == ["hello"]  # type: ignore[union-attr]
        assert steps == ["working"]


async def test_a_2026_tool_list_says_it_is_the_callers_own_and_already_stale(
    base_url: str,
) -> None:
    # The list changes with the registry and with the caller's token.
    async with Client(f"{base_url}/mcp") as client:
        assert client.protocol_version == "2026-07-28"
        tools = await client.list_tools()
    assert (tools.ttl_ms, tools.cache_scope) == (0, "private")


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_an_unknown_tool_is_an_invalid_params_error(base_url: str, transport: str) -> None:
    async with Client(transports(base_url)[transport]) as client:  # type: ignore[arg-type]
        with pytest.raises(MCPError) as info:
            await client.call_tool("nobody.nothing", {})
        assert info.value.error.code == jsonrpc.INVALID_PARAMS


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_a_canceled_call_stops_waiting(base_url: str, transport: str) -> None:
    async with Client(transports(base_url)[transport]) as client:  # type: ignore[arg-type]
        with anyio.move_on_after(0.5) as scope:
            await client.call_tool("echo.wait", {"text": "x"})
        assert scope.cancelled_caught
        # The connection stays usable after the cancellation.
        result = await client.call_tool("echo.echo", {"text": "after"})
        assert [c.text for c in result.content] == ["after"]  # type: ignore[union-attr]


async def test_claude_desktop_style_stdio_bridge_reaches_the_gateway(base_url: str) -> None:
    bridge = StdioServerParameters(
        command=sys.executable, args=["-m", "gateway.cli", "mcp-stdio", "--url", base_url]
    )
    async with Client(bridge) as client:
        tools = await client.list_tools()
        assert "echo.echo" in {t.name for t in tools.tools}
        result = await client.call_tool("echo.echo", {"text": "via stdio"})
        assert [c.text for c in result.content] == ["via stdio"]  # type: ignore[union-attr]


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_agent_asking_for_input_gets_it_from_the_mcp_client(
    base_url: str, mode: str, transport: str
) -> None:
    """2026-07-28 clients get an input_required result and retry with the answer; older
    clients are asked in the middle of the call (elicitation/create). Either way the agent's
    question reaches the user and the answer reaches the agent."""
    asked: list[str] = []

    async def answer(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"text": "the answer"})

    target = transports(base_url)[transport]
    async with Client(target, mode=mode, elicitation_callback=answer) as client:  # type: ignore[call-overload]
        result = await client.call_tool("echo.ask", {"text": "start"})
    assert asked == ["What should I echo?"]
    assert [c.text for c in result.content] == ["the answer"]  # type: ignore[union-attr]


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_a_declined_question_ends_the_call_as_canceled(base_url: str, transport: str) -> None:
    async def decline(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        return mt.ElicitResult(action="decline")

    target = transports(base_url)[transport]
    async with Client(target, mode="legacy", elicitation_callback=decline) as client:  # type: ignore[call-overload]
        with pytest.raises(MCPError) as info:
            await client.call_tool("echo.ask", {"text": "start"})
    assert info.value.error.data["effmesh_code"] == "canceled"


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_a_forged_request_state_is_refused(base_url: str, transport: str) -> None:
    responses = {"input": mt.ElicitResult(action="accept", content={"text": "x"})}
    async with Client(transports(base_url)[transport]) as client:  # type: ignore[arg-type]
        with pytest.raises(MCPError) as info:
            await client.call_tool(
                "echo.ask", {"text": "start"}, request_state="forged", input_responses=responses
            )  # type: ignore[arg-type]
    assert info.value.error.code == jsonrpc.INVALID_PARAMS


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_websocket_and_streamable_http_give_the_same_result(base_url: str, mode: str) -> None:
    """Tool calls over /mcp/ws are answered past the SDK session: the result must be the one
    the SDK path gives, field for field, in both protocol eras."""
    results = []
    for transport in ("streamable-http", "websocket"):
        target = transports(base_url)[transport]
        async with Client(target, mode=mode) as client:  # type: ignore[call-overload]
            result = await client.call_tool("echo.echo", {"text": "same"})
        results.append(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert results[0] == results[1]
    assert results[0]["content"] == [{"type": "text", "text": "same"}]


async def test_websocket_cancellation_notification_stops_the_call_and_keeps_the_socket(
    base_url: str,
) -> None:
    url = base_url.replace("http://", "ws://") + "/mcp/ws"
    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }

    def frame(**fields: object) -> str:
        return json.dumps({"jsonrpc": "2.0", **fields})

    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("mcp")]) as ws:
        await ws.send(frame(id=0, method="initialize", params=init))
        assert json.loads(await ws.recv())["id"] == 0
        await ws.send(frame(method="notifications/initialized"))
        await ws.send(
            frame(
                id=1, method="tools/call", params={"name": "echo.wait", "arguments": {"text": "x"}}
            )
        )
        await ws.send(frame(method="notifications/cancelled", params={"requestId": 1}))
        await ws.send(
            frame(
                id=2, method="tools/call", params={"name": "echo.echo", "arguments": {"text": "y"}}
            )
        )
        reply = json.loads(await ws.recv())
        # The cancelled request gets no answer; the next one does.
        assert reply["id"] == 2
        assert reply["result"]["content"] == [{"type": "text", "text": "y"}]
        await ws.send(frame(id=3, method="tools/call", params={"name": 5}))
        assert json.loads(await ws.recv())["error"]["code"] == jsonrpc.INVALID_PARAMS


def modern_call(text: str, **meta: object) -> dict[str, object]:
    """A 2026-07-28 ``tools/call`` of ``echo.echo``: it carries its revision in ``_meta``."""
    params = {
        "name": "echo.echo",
        "arguments": {"text": text},
        "_meta": {
            mt.PROTOCOL_VERSION_META_KEY: "2026-07-28",
            mt.CLIENT_CAPABILITIES_META_KEY: {},
            **meta,
        },
    }
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}


MODERN_HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "echo.echo",
}
"""The headers a 2026-07-28 client sends with ``modern_call`` (a call without its
``Mcp-Method`` and ``Mcp-Name`` is refused)."""


async def test_a_call_answered_before_anything_else_is_one_json_body_else_events(
    base_url: str,
) -> None:
    accept = MODERN_HEADERS
    async with httpx.AsyncClient(headers=accept, timeout=30) as http:
        plain = await http.post(f"{base_url}/mcp", json=modern_call("plain"))
        # With a progress token, the echo agent's "working" goes first: the answer follows it.
        streamed = await http.post(f"{base_url}/mcp", json=modern_call("x", progressToken="p"))
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["id"] == 7
    assert plain.json()["result"]["content"] == [{"type": "text", "text": "plain"}]
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[5:]) for line in streamed.text.splitlines() if line[:5] == "data:"]
    assert [e.get("method") for e in events] == ["notifications/progress", None]
    assert events[0]["params"]["progressToken"] == "p"
    assert events[-1]["result"]["content"] == [{"type": "text", "text": "x"}]
