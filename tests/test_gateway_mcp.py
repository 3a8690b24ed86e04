"""The gateway's MCP endpoints, driven by the official MCP SDK client over real sockets."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from adapters import jsonrpc
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.mcp_ws import websocket_client
from gateway.registry import Registry
from tests.servers import running

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    registry = Registry()
    registry.add(EchoAgent())
    with running(lambda base: create_app(registry, base_url=base)) as url:
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


@pytest.mark.parametrize("transport", ["streamable-http", "websocket"])
async def test_an_unknown_tool_is_an_invalid_params_error(base_url: str, transport: str) -> None:
    async with Client(transports(base_url)[transport]) as client:  # type: ignore[arg-type]
        with pytest.raises(MCPError) as info:
            await client.call_tool("nobody.nothing", {})
        assert info.value.error.code == jsonrpc.INVALID_PARAMS


async def test_a_canceled_call_stops_waiting(base_url: str) -> None:
    async with Client(f"{base_url}/mcp") as client:
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
