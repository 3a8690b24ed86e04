"""MCP servers as agents: over streamable HTTP, or launched as a subprocess speaking stdio.

Each agent holds one long-lived session to its server (:mod:`agents.remote.mcp_upstream`):
a tool call is one request on it, and a stdio server is one process for all calls. Besides
its tools (the agent's skills), the server's resources, prompts, completions and log level
are reached through the agent, in wire JSON, for the gateway's MCP endpoint to pass through.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Final

import mcp_types as mt
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from adapters import mcp
from adapters.errors import BadInput, Internal, InvalidParams, UpstreamUnavailable
from adapters.model import Invocation, ProgressEvent, StatusEvent, StreamItem, TaskState
from agents import outbound, upstream_auth
from agents.remote.base import Headers, Remote
from agents.remote.mcp_asking import AskingRelay, Parked, elicitation_answer, question_message
from agents.remote.mcp_http import HttpCalls
from agents.remote.mcp_relay import CALLER, Relay
from agents.remote.mcp_stdio import StdioCalls
from agents.remote.mcp_upstream import Upstream

MAX_PAGES: Final = 100
PERSONAL_SESSIONS: Final = 256
"""Sessions held open with users' own credentials, per agent (older ones close)."""
"""Pages of one listing followed at most: a server whose cursor never ends cannot hang it."""


def _wire(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


class RemoteMCPAgent(Remote):
    """An MCP server reached over streamable HTTP; each of its tools is one skill."""

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
        self.upstream = self._upstream(self.headers)
        self.upstream.listeners.append(self._on_notification)
        self._personal: collections.OrderedDict[str, Upstream] = collections.OrderedDict()
        """Sessions opened with one user's own credential for this server, by that credential
        (``agents.upstream_auth``): no session carries two users' calls."""
        self._relisting: set[asyncio.Task[None]] = set()
        self._parked: dict[str, Parked] = {}
        """Calls whose upstream asked a question, by the task waiting for its answer."""

    def _upstream(self, headers: Headers) -> Upstream:
        """A session to the server sending ``headers``, whose tool calls go the fast way."""
        fast = HttpCalls(self.url, policy=self.policy, headers=headers, timeout=self.timeout)
        upstream = Upstream(
            self.name, partial(self._transport, headers, fast), timeout=self.timeout
        )
        upstream.fast = fast
        return upstream

    @contextlib.asynccontextmanager
    async def _transport(
        self, headers: Headers, fast: HttpCalls
    ) -> AsyncIterator[TransportStreams]:
        # The session's own HTTP client, guarded like every outbound connection, closed with
        # it; its responses tell ``fast`` the session's id.
        fast.forget()
        async with (
            outbound.httpx2_client(
                self.policy,
                headers=headers,
                timeout=self.timeout,
                event_hooks={"response": [fast.hook]},
            ) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            try:
                yield streams
            finally:
                await fast.close()

    def _session(self) -> Upstream:
        """The session for the current call: the shared one, or, when the call carries a
        user's own credential for this server, that user's (opened on first use, the least
        recently used closed beyond ``PERSONAL_SESSIONS``)."""
        token = upstream_auth.token_for(self.url)
        if token is None:
            return self.upstream
        held = self._personal.get(token)
        if held is None:
            held = self._upstream({**self.headers, "Authorization": f"Bearer {token}"})
            held.listeners = self.upstream.listeners  # the same notifications, the same way
            self._personal[token] = held
            while len(self._personal) > PERSONAL_SESSIONS:
                _, old = self._personal.popitem(last=False)
                task = asyncio.get_running_loop().create_task(old.close())
                self._relisting.add(task)  # held until done, like a re-listing
                task.add_done_callback(self._relisting.discard)
        self._personal.move_to_end(token)
        return held

    async def close(self) -> None:
        for parked in self._parked.values():
            parked.expiry.cancel()
            parked.call.cancel()
        self._parked.clear()
        for personal in self._personal.values():
            await personal.close()
        self._personal.clear()
        await self.upstream.close()

    async def connect(self) -> None:
        try:
            listed = await self._session().request(lambda c: c.list_tools())
        except UpstreamUnavailable:
            self.healthy = False
            raise
        self._adopt(mcp.decode_agent(_wire(listed), name=self.name))

    async def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/tools/list_changed":
            # Re-listed apart from the session's receive loop, which must not wait on itself.
            task = asyncio.get_running_loop().create_task(self._relist())
            self._relisting.add(task)
            task.add_done_callback(self._relisting.discard)

    async def _relist(self) -> None:
        with contextlib.suppress(UpstreamUnavailable):
            await self.connect()

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        relay: Relay
        updates: asyncio.Queue[ProgressEvent | None]
        parked = self._parked.pop(task_id, None)
        if parked is not None:
            # The task's next message answers the upstream's question; the call goes on.
            parked.expiry.cancel()
            parked.answer.set_result(elicitation_answer(parked.question, invocation.message))
            call, updates, relay = parked.call, parked.updates, parked.relay
        else:
            params = mcp.encode_invocation(invocation)
            updates = asyncio.Queue()

            async def on_progress(note: dict[str, Any]) -> None:
                try:
                    event = mcp.decode_progress({**note, "progressToken": task_id})
                except BadInput:
                    return  # a malformed note is dropped, as the SDK's session drops it
                await updates.put(event)

            relay = CALLER.get() or AskingRelay(f"\x00task {task_id}")
            # Cancelling it (the caller's cancel) tells the server (notifications/cancelled).
            call = asyncio.ensure_future(self._session().call_tool(params, on_progress, relay))
            # The call's end is the last item of its queue: the loop below waits on one thing.
            call.add_done_callback(lambda _: updates.put_nowait(None))
        waiting = False
        with self._session().serving(relay):
            try:
                while not isinstance(relay, AskingRelay):
                    item = await updates.get()
                    if item is None:
                        break
                    yield item
                while not call.done():
                    waiter = asyncio.ensure_future(updates.get())
                    assert isinstance(relay, AskingRelay)
                    asked = asyncio.ensure_future(relay.questions.get())
                    await asyncio.wait({waiter, asked}, return_when=asyncio.FIRST_COMPLETED)
                    if waiter.done():
                        if (update := waiter.result()) is not None:
                            yield update
                    else:
                        waiter.cancel()
                    if asked.done():
                        question, answer = asked.result()
                        expiry = asyncio.get_running_loop().call_later(self.timeout, call.cancel)
                        self._parked[task_id] = Parked(
                            call, updates, relay, question, answer, expiry
                        )
                        waiting = True
                        context = invocation.message.context_id
                        message = question_message(question, context)
                        yield StatusEvent(task_id, TaskState.INPUT_REQUIRED, context, message)
                        return
                    asked.cancel()
                while not updates.empty():
                    if (update := updates.get_nowait()) is not None:
                        yield update
                result = call.result()
            finally:
                if not waiting:
                    call.cancel()
        try:
            outcome = mcp.decode_outcome(result, task_id=task_id)
        except BadInput:
            # The server's answer is not a tool result: its fault, not the caller's.
            raise Internal() from None
        yield outcome

    # The rest of the server's surface, in wire JSON. Each raises the canonical error of the
    # server's answer (UpstreamUnavailable when it is down).

    async def server_capabilities(self) -> mt.ServerCapabilities:
        """What the server declared when the session opened (opening one if none is)."""
        client = await self._session().client()
        return client.server_capabilities

    async def _listing(self, key: str, page: Callable[..., Awaitable[Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            got = _wire(await self._session().request(partial(page, cursor=cursor)))
            items.extend(got.get(key, []))
            cursor = got.get("nextCursor")
            if not cursor:
                break
        return items

    async def list_resources(self) -> list[dict[str, Any]]:
        return await self._listing(
            "resources",
            lambda c, cursor: c.session.list_resources(
                params=mt.PaginatedRequestParams(cursor=cursor)
            ),
        )

    async def list_resource_templates(self) -> list[dict[str, Any]]:
        return await self._listing(
            "resourceTemplates",
            lambda c, cursor: c.session.list_resource_templates(
                params=mt.PaginatedRequestParams(cursor=cursor)
            ),
        )

    async def list_prompts(self) -> list[dict[str, Any]]:
        return await self._listing(
            "prompts",
            lambda c, cursor: c.session.list_prompts(
                params=mt.PaginatedRequestParams(cursor=cursor)
            ),
        )

    async def read_resource(self, uri: str) -> dict[str, Any]:
        return _wire(await self._session().request(lambda c: c.read_resource(uri)))

    async def subscribe(self, uri: str) -> None:
        await self._send(mt.SubscribeRequest(params=mt.SubscribeRequestParams(uri=uri)))

    async def unsubscribe(self, uri: str) -> None:
        await self._send(mt.UnsubscribeRequest(params=mt.UnsubscribeRequestParams(uri=uri)))

    async def get_prompt(self, name: str, arguments: dict[str, str] | None) -> dict[str, Any]:
        return _wire(await self._session().request(lambda c: c.get_prompt(name, arguments)))

    async def complete(self, params: mt.CompleteRequestParams) -> dict[str, Any]:
        request = mt.CompleteRequest(params=params)
        return _wire(
            await self._session().request(
                lambda c: c.session.send_request(request, mt.CompleteResult)
            )
        )

    async def set_level(self, level: mt.LoggingLevel) -> None:
        await self._send(mt.SetLevelRequest(params=mt.SetLevelRequestParams(level=level)))

    async def _send(self, request: Any) -> None:
        # Raw requests: the SDK's helpers for these methods warn that 2026-07-28 drops them,
        # and the session here speaks the handshake era, which has them.
        await self._session().request(lambda c: c.session.send_request(request, mt.EmptyResult))


class RemoteMCPStdioAgent(RemoteMCPAgent):
    """An MCP server launched as a subprocess speaking stdio, as IDEs launch them: one
    process, started on first use, restarted when it exits, stopped with the agent; its
    tool calls multiplexed on the process by JSON-RPC id (:mod:`agents.remote.mcp_stdio`)."""

    def __init__(self, name: str, command: Sequence[str], *, timeout: float = 60.0) -> None:
        if not command:
            raise InvalidParams("needs a command", path=f"agents.{name}.command")
        self.command = tuple(command)
        super().__init__(name, "stdio:" + shlex.join(command), timeout=timeout)

    def _upstream(self, headers: Headers) -> Upstream:
        # A process has no headers: a stdio server has no per-user credentials either.
        process = StdioCalls(self.command)
        upstream = Upstream(self.name, process.transport, timeout=self.timeout)
        upstream.fast = process
        return upstream
