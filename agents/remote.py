"""Agents that live elsewhere and speak MCP, A2A or ACP: each one an ``Agent`` like any other.

Every call goes out through the protocol's adapter (canonical -> wire) and the official SDK
client where one works here (MCP, A2A); ACP is plain REST + SSE over httpx. A remote error
comes back as the canonical error its wire form names, and asyncio cancellation of a call is
forwarded as the protocol's own cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx
import httpx2
from a2a.client import Client as A2AClient
from a2a.client import ClientConfig, ClientFactory
from a2a.client.errors import A2AClientTimeoutError, AgentCardResolutionError
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP, A2AError
from google.protobuf import json_format
from mcp import Client as MCPClient
from mcp import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from adapters import _json, a2a, acp, jsonrpc, mcp
from adapters.a2a import calls as a2a_calls
from adapters.errors import EffmeshError, InvalidParams, Timeout, UpstreamUnavailable
from adapters.model import AgentDescriptor, Invocation, Mode, ProgressEvent, StreamItem
from agents import outbound
from agents.a2a_jsonrpc import JsonRpcA2A
from agents.base import Agent
from agents.pool import LoopPool

Headers = dict[str, str]


class _Remote(Agent):
    healthy: bool = False
    """Down until ``connect`` reaches the agent."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Headers | None = None,
        policy: outbound.Policy = outbound.OPEN,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.policy = policy
        """Where this agent's connections may go: checked at every connect."""
        self._descriptor = AgentDescriptor(name, ())

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    def _new_http(self) -> httpx.AsyncClient:
        """A client whose connections the outbound guard checks (redirects included)."""
        return outbound.httpx_client(self.policy, headers=self.headers, timeout=self.timeout)

    def _mcp_http(self) -> httpx2.AsyncClient:
        """The same, in the MCP SDK's HTTP client."""
        return outbound.httpx2_client(self.policy, headers=self.headers, timeout=self.timeout)

    def _adopt(self, found: AgentDescriptor) -> None:
        self._descriptor = replace(found, name=self.name, url=self.url)
        self.healthy = True


class RemoteMCPAgent(_Remote):
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


class RemoteA2AAgent(_Remote):
    """An A2A agent, by the URL its card is served under; each card skill is one skill.

    A card with a JSON-RPC interface for A2A 1.x is called over that binding directly
    (``agents.a2a_jsonrpc``); any other card through the a2a-sdk client, which negotiates the
    binding. Either way one connection pool serves every call made on an event loop.
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
        self._card = pb.AgentCard()
        self._clients: dict[bool, A2AClient] = {}
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rpc: JsonRpcA2A | None = None

    async def connect(self) -> None:
        card_url = f"{self.url}/.well-known/agent-card.json"
        try:
            async with outbound.httpx_client(
                self.policy, headers=self.headers, timeout=self.timeout
            ) as http:
                r = await http.get(card_url)
                r.raise_for_status()
                card = _json.loads(r.content)
            fresh = pb.AgentCard()
            json_format.ParseDict(card, fresh, ignore_unknown_fields=True)
            self._adopt(a2a.decode_agent(card))
            if fresh != self._card:
                self._card = fresh
                self._loop = None  # the next call builds its clients on the new card
                rpc_url = a2a.jsonrpc_url(card)
                if self._rpc is not None:
                    await self._rpc.close()
                self._rpc = (
                    JsonRpcA2A(
                        self.name,
                        rpc_url,
                        timeout=self.timeout,
                        headers=self.headers,
                        policy=self.policy,
                    )
                    if rpc_url
                    else None
                )
        except (httpx.HTTPError, EffmeshError, json_format.ParseError) as exc:
            self.healthy = False
            raise UpstreamUnavailable(f"A2A agent {self.name!r} is unreachable") from exc

    async def _cancel_context(self, client: A2AClient, context_id: str) -> None:
        """Cancel the remote tasks of ``context_id`` that are still running (best effort:
        a peer without ListTasks, or one already gone, leaves nothing to do)."""
        with contextlib.suppress(A2AError, httpx.HTTPError):
            listed = await client.list_tasks(pb.ListTasksRequest(context_id=context_id))
            for task in listed.tasks:
                if task.status.state in (pb.TASK_STATE_SUBMITTED, pb.TASK_STATE_WORKING):
                    await client.cancel_task(pb.CancelTaskRequest(id=task.id))

    def _sdk_client(self, streaming: bool) -> A2AClient:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._http = outbound.httpx_client(
                self.policy, headers=self.headers, timeout=self.timeout
            )
            self._clients = {
                mode: ClientFactory(ClientConfig(streaming=mode, httpx_client=self._http)).create(
                    self._card
                )
                for mode in (True, False)
            }
            self._loop = loop
        return self._clients[streaming]

    async def close(self) -> None:
        if self._rpc is not None:
            await self._rpc.close()
        if self._http is not None:
            await self._http.aclose()
        self._clients = {}
        self._http = self._loop = None

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        # The caller's task id is this gateway's; the remote agent makes its own. The context
        # id is ours to choose, so a call that has not reported its task yet can still be
        # found (ListTasks by context) and cancelled.
        context_id = invocation.message.context_id or str(uuid.uuid4())
        message = replace(invocation.message, task_id=None, context_id=context_id)
        # Stream only when someone listens for progress: a plain call is one request/response.
        streaming = invocation.mode == "stream" or invocation.progress_token is not None
        mode: Mode = "stream" if streaming else "sync"
        method, params = a2a.encode_invocation(replace(invocation, message=message, mode=mode))
        if self._rpc is not None:
            async for item in self._run_jsonrpc(self._rpc, method, params, context_id):
                yield item
            return
        request = pb.SendMessageRequest()
        json_format.ParseDict(params, request)
        client = self._sdk_client(streaming)
        try:
            async for response in client.send_message(request):
                yield a2a.decode_stream_item(json_format.MessageToDict(response))
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_context(client, context_id))
            raise
        except A2AClientTimeoutError:
            raise Timeout(f"A2A agent {self.name!r} timed out") from None
        except (httpx.HTTPError, AgentCardResolutionError) as exc:
            raise UpstreamUnavailable(f"A2A agent {self.name!r} is unreachable") from exc
        except A2AError as exc:
            code = JSON_RPC_ERROR_CODE_MAP.get(type(exc), jsonrpc.INTERNAL_ERROR)
            raise a2a.decode_error({"code": code, "message": exc.message}) from None

    async def _run_jsonrpc(
        self, rpc: JsonRpcA2A, method: str, params: dict[str, Any], context_id: str
    ) -> AsyncIterator[StreamItem]:
        try:
            if method == a2a_calls.SEND:
                yield self._decode(a2a.decode_outcome, await rpc.call(method, params))
                return
            async for result in rpc.stream(method, params):
                yield self._decode(a2a.decode_stream_item, result)
        except asyncio.CancelledError:
            await asyncio.shield(rpc.cancel_context(context_id))
            raise

    def _decode(self, decode: Callable[[Any], StreamItem], result: Any) -> StreamItem:
        """A peer's result as canonical; one that does not decode is the peer's fault."""
        try:
            return decode(result)
        except EffmeshError:
            raise UpstreamUnavailable(f"A2A agent {self.name!r} sent a malformed reply") from None


class RemoteACPAgent(_Remote):
    """An ACP server by its base URL; each ACP agent there is one skill. Calls share one
    pooled HTTP client per event loop."""

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
        self._pool = LoopPool(lambda: outbound.httpx_client(self.policy, timeout=self.timeout))

    async def close(self) -> None:
        await self._pool.aclose()

    async def connect(self) -> None:
        try:
            async with outbound.httpx_client(
                self.policy, headers=self.headers, timeout=self.timeout
            ) as http:
                r = await http.get(f"{self.url}/agents")
                r.raise_for_status()
                body = _json.loads(r.content)
        except (httpx.HTTPError, EffmeshError) as exc:
            self.healthy = False
            raise UpstreamUnavailable(f"ACP agent {self.name!r} is unreachable") from exc
        manifests: list[Any] = body.get("agents", []) if isinstance(body, dict) else []
        skills = tuple(s for m in manifests for s in acp.decode_agent(m).skills)
        self._adopt(AgentDescriptor(self.name, skills))

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        body, trace = acp.encode_invocation(replace(invocation, mode="stream", progress_token=None))
        headers = {**self.headers, **trace, "Content-Type": "application/json"}
        run_id: str | None = None
        http = self._pool.get()
        try:
            async with http.stream(
                "POST", f"{self.url}/runs", content=_json.dumps(body), headers=headers
            ) as response:
                if response.status_code >= 400:
                    raw = await response.aread()
                    raise acp.decode_error(response.status_code, _json.loads(raw))
                run_id = response.headers.get("Run-ID")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    for_this = acp.decode_stream_item(_json.loads(line[5:]), run_id=run_id)
                    yield for_this
        except asyncio.CancelledError:
            if run_id:
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(f"{self.url}/runs/{run_id}/cancel", headers=self.headers)
            raise
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"ACP agent {self.name!r} is unreachable") from exc
