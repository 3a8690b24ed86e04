"""A2A agents, by the URL their card is served under."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from typing import Any, Final

import httpx
from a2a.client import Client as A2AClient
from a2a.client import ClientConfig, ClientFactory
from a2a.client.errors import A2AClientTimeoutError, AgentCardResolutionError
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP, A2AError
from google.protobuf import json_format

from adapters import _json, a2a, jsonrpc, lifecycle
from adapters.a2a import calls as a2a_calls
from adapters.errors import EffmeshError, Timeout, UpstreamUnavailable
from adapters.model import JSON, Invocation, Mode, StatusEvent, StreamItem, Task
from agents import outbound
from agents.remote.a2a_jsonrpc import JsonRpcA2A
from agents.remote.base import Headers, Remote

WAITING_KEPT: Final = 10_000
"""Tasks waiting for their callers' input that an agent keeps track of (the oldest go)."""


class RemoteA2AAgent(Remote):
    """An A2A agent, by the URL its card is served under; each card skill is one skill.

    A card with a JSON-RPC interface for A2A 1.x is called over that binding directly
    (``agents.remote.a2a_jsonrpc``); any other card through the a2a-sdk client, which negotiates the
    binding. Either way one connection pool serves every call made on an event loop.
    """

    speaks = "a2a"
    remote = "a2a"

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
        self._waiting: dict[str, tuple[str, str | None]] = {}
        """The caller's task id -> (task id, context id) of this agent's task that waits for
        that caller's input: a follow-up is sent to that task."""

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

    def _note(self, task_id: str, item: StreamItem) -> None:
        """Keep the agent's task that ``item`` shows waiting for its caller, by the caller's
        ``task_id``, so the caller's answer reaches that task."""
        if isinstance(item, Task | StatusEvent) and item.state in lifecycle.INTERRUPTED:
            self._hold(task_id, item.task_id, item.context_id)

    def waiting(self, task_id: str) -> JSON | None:
        """The agent's task and context ids that wait for gateway task ``task_id``'s caller."""
        held = self._waiting.get(task_id)
        return None if held is None else {"taskId": held[0], "contextId": held[1]}

    def carry_on(self, task_id: str, kept: JSON) -> None:
        """Wait again in the agent's task that :meth:`waiting` named for ``task_id``."""
        upstream = kept.get("taskId") if isinstance(kept, dict) else None
        context = kept.get("contextId") if isinstance(kept, dict) else None
        if isinstance(upstream, str) and upstream:
            self._hold(task_id, upstream, context if isinstance(context, str) else None)

    def _hold(self, task_id: str, upstream: str, context: str | None) -> None:
        self._waiting.pop(task_id, None)
        self._waiting[task_id] = (upstream, context)
        while len(self._waiting) > WAITING_KEPT:
            del self._waiting[next(iter(self._waiting))]

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        """Raises CannotCarry for a follow-up (an invocation with history) to a task this
        agent is not known to wait in: A2A keeps a conversation on the agent's side."""
        waiting = self._waiting.pop(task_id, None)
        if waiting is not None:
            # The caller's answer to this agent's question: to the task that asked it.
            upstream_task, context = waiting
            context_id = context or invocation.message.context_id or str(uuid.uuid4())
            message = replace(invocation.message, task_id=upstream_task, context_id=context_id)
            invocation = replace(invocation, history=())
        else:
            # The caller's task id is this gateway's; the remote agent makes its own. The
            # context id is ours to choose, so a call that has not reported its task yet can
            # still be found (ListTasks by context) and cancelled.
            context_id = invocation.message.context_id or str(uuid.uuid4())
            message = replace(invocation.message, task_id=None, context_id=context_id)
        # Stream only when someone listens for progress: a plain call is one request/response.
        # A follow-up streams whenever the agent can: a blocking reply to it may be the task
        # as it stood when the answer came (a2a-sdk's server returns at the first snapshot in
        # input-required, and an agent that hands its waiting task on again makes one).
        streaming = (
            invocation.mode == "stream"
            or invocation.progress_token is not None
            or (waiting is not None and self._card.capabilities.streaming)
        )
        mode: Mode = "stream" if streaming else "sync"
        method, params = a2a.encode_invocation(replace(invocation, message=message, mode=mode))
        items = (
            self._run_jsonrpc(self._rpc, method, params, context_id)
            if self._rpc is not None
            else self._run_sdk(params, context_id, streaming)
        )
        if waiting is not None:
            items = _answered(items)
        async with contextlib.aclosing(items):
            async for item in items:
                self._note(task_id, item)
                yield item

    async def _run_sdk(
        self, params: dict[str, Any], context_id: str, streaming: bool
    ) -> AsyncGenerator[StreamItem]:
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
    ) -> AsyncGenerator[StreamItem]:
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


async def _answered(items: AsyncGenerator[StreamItem]) -> AsyncGenerator[StreamItem]:
    """A follow-up's items without the snapshot that opens its stream still waiting for input:
    that is the task as it stood when the answer came (a2a-sdk's and @a2a-js/sdk's servers
    send it first), not a new question, and the caller's call would settle on it. It is
    handed on only when nothing follows it (the agent took the answer and went on waiting)."""
    opening: StreamItem | None = None
    first = True
    async with contextlib.aclosing(items):
        async for item in items:
            if first and isinstance(item, Task) and item.state in lifecycle.INTERRUPTED:
                opening = item
            else:
                opening = None
                yield item
            first = False
    if opening is not None:
        yield opening
