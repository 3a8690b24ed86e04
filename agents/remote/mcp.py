"""MCP servers as agents: over streamable HTTP, or launched as a subprocess speaking stdio."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Sequence

import httpx2
from mcp import Client as MCPClient
from mcp import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from adapters import mcp
from adapters.errors import InvalidParams, UpstreamUnavailable
from adapters.model import Invocation, ProgressEvent, StreamItem
from agents import outbound
from agents.pool import LoopPool
from agents.remote.base import Headers, Remote


class RemoteMCPAgent(Remote):
    """An MCP server reached over streamable HTTP; each of its tools is one skill.

    Calls share one pooled HTTP client per event loop (building a client costs milliseconds,
    mostly its TLS context); each call is its own MCP session on it.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Headers | None = None,
        policy: outbound.Policy = outbound.OPEN,
    ) -> None:
        super().__init__(name, url, timeout=timeout, headers=headers, policy=policy)
        self._pool = LoopPool(self._mcp_http)

    async def close(self) -> None:
        await self._pool.aclose()

    @contextlib.asynccontextmanager
    async def _client(self, http: httpx2.AsyncClient | None = None) -> AsyncIterator[MCPClient]:
        # The HTTP client is not the MCP client's to close: it is the pool's, or the caller's.
        transport = streamable_http_client(self.url, http_client=http or self._pool.get())
        async with MCPClient(transport) as client:
            yield client

    async def connect(self) -> None:
        try:
            # Its own client: connect() may run on a loop that ends before calls begin.
            async with (
                outbound.httpx2_client(
                    self.policy, headers=self.headers, timeout=self.timeout
                ) as http,
                self._client(http) as client,
            ):
                listed = await client.list_tools()
        except (OSError, httpx2.HTTPError, MCPError, ExceptionGroup) as exc:
            # The SDK's task group wraps transport failures in an ExceptionGroup.
            self.healthy = False
            raise UpstreamUnavailable(f"MCP agent {self.name!r} is unreachable") from exc
        wire = listed.model_dump(by_alias=True, exclude_none=True, mode="json")
        self._adopt(mcp.decode_agent(wire, name=self.name))

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        params = mcp.encode_invocation(invocation)
        updates: asyncio.Queue[ProgressEvent] = asyncio.Queue()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            await updates.put(ProgressEvent(task_id, progress, total, message))

        try:
            async with self._client() as client:
                call = asyncio.ensure_future(
                    client.call_tool(
                        params["name"],
                        params.get("arguments"),
                        progress_callback=on_progress,
                        meta=params.get("_meta"),
                    )
                )
                try:
                    while not call.done():
                        waiter = asyncio.ensure_future(updates.get())
                        await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
                        if waiter.done():
                            yield waiter.result()
                        else:
                            waiter.cancel()
                    while not updates.empty():
                        yield updates.get_nowait()
                    result = call.result()
                finally:
                    call.cancel()
        except MCPError as exc:
            raise mcp.decode_error(exc.error.model_dump(mode="json")) from None
        except (OSError, httpx2.HTTPError, ExceptionGroup) as exc:
            # The SDK's task group wraps transport failures in an ExceptionGroup.
            raise UpstreamUnavailable(f"MCP agent {self.name!r} is unreachable") from exc
        wire = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        yield mcp.decode_outcome(wire, task_id=task_id)


class RemoteMCPStdioAgent(RemoteMCPAgent):
    """An MCP server launched as a subprocess speaking stdio, as IDEs launch them.

    Each call starts the command afresh (a session per call): simple and isolated, and slower
    than a long-lived server over HTTP by the command's start-up time.
    """

    def __init__(self, name: str, command: Sequence[str], *, timeout: float = 60.0) -> None:
        if not command:
            raise InvalidParams("needs a command", path=f"agents.{name}.command")
        super().__init__(name, "stdio:" + shlex.join(command), timeout=timeout)
        self.command = tuple(command)

    @contextlib.asynccontextmanager
    async def _client(self, http: httpx2.AsyncClient | None = None) -> AsyncIterator[MCPClient]:
        params = StdioServerParameters(command=self.command[0], args=list(self.command[1:]))
        async with MCPClient(params) as client:
            yield client
