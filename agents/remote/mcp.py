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
import contextvars
import shlex
from collections.abc import AsyncIterator, Coroutine, Sequence
from functools import partial
from typing import Any, Final

import mcp_types as mt
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client

from adapters import mcp
from adapters.errors import (
    BadInput,
    Internal,
    InvalidParams,
    Unsupported,
    UpstreamUnavailable,
)
from adapters.mcp import INPUT_REQUESTS_KEY, INPUT_RESPONSES_KEY
from adapters.model import (
    JSON,
    DataPart,
    Invocation,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
)
from agents import outbound, upstream_auth
from agents.remote import mcp_rounds
from agents.remote.base import Headers, Remote
from agents.remote.mcp_asking import (
    AskingRelay,
    Parked,
    Question,
    answers_of,
    asked,
    elicitation_answer,
    question_message,
)
from agents.remote.mcp_http import HttpCalls
from agents.remote.mcp_listen import UpstreamListen
from agents.remote.mcp_outputs import OutputChecks
from agents.remote.mcp_relay import CALLER, Relay
from agents.remote.mcp_sampling import Sampler
from agents.remote.mcp_stdio import StdioCalls
from agents.remote.mcp_surface import ServerSurface, wire
from agents.remote.mcp_upstream import Era, Upstream

PERSONAL_SESSIONS: Final = 256
"""Sessions held open with users' own credentials, per agent (older ones close)."""
TOGETHER: Final = 0.05
"""Seconds within which a server's requests in a row are handed to a 2026-07-28 caller in one
``input_required`` (a paused call's answer waits that much longer for them)."""
ROUNDS_KEPT: Final = 10_000
"""Rounds of 2026-07-28 calls waiting for their callers kept in memory (the task store keeps
them all: a retry whose round was dropped here is handed it back from there)."""


class RemoteMCPAgent(ServerSurface, Remote):
    """An MCP server reached over streamable HTTP; each of its tools is one skill."""

    remote = "mcp"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Headers | None = None,
        policy: outbound.Policy = outbound.OPEN,
        sampler: Sampler | None = None,
        era: Era = "auto",
    ) -> None:
        """``sampler``: answers the server's sampling requests that the caller cannot (the
        gateway's own model, :mod:`agents.remote.mcp_sampling`); None: they are refused.
        ``era``: the MCP era to speak to the server; ``auto``: the one it answers in."""
        super().__init__(name, url, timeout=timeout, headers=headers, policy=policy)
        self.upstream = self._upstream(self.headers)
        self.upstream.sampler = sampler
        self.upstream.era = era
        self.upstream.listeners.append(self._on_notification)
        self._personal: collections.OrderedDict[str, Upstream] = collections.OrderedDict()
        """Sessions opened with one user's own credential for this server, by that credential
        (``agents.upstream_auth``): no session carries two users' calls."""
        self._relisting: set[asyncio.Task[None]] = set()
        self._parked: dict[str, Parked] = {}
        """Calls whose upstream asked a question, by the task waiting for its answer."""
        self._rounds: dict[str, mcp_rounds.Round] = {}
        """A 2026-07-28 server's questions handed to their callers, by the task waiting for
        the answers (nothing open upstream: :mod:`agents.remote.mcp_rounds`)."""
        self._listen = UpstreamListen(self.upstream)
        """The listen stream to a 2026-07-28 server, for its callers' subscriptions."""
        self._outputs = OutputChecks(())
        """The output schemas of the tools as last listed, compiled."""

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
            held.sampler = self.upstream.sampler
            held.era = self.upstream.era
            held.mode = self.upstream.mode  # the era found for the same server, if it is
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
        await self._listen.close()
        await self.upstream.close()

    async def connect(self) -> None:
        try:
            listed = await self._session().request(lambda c: c.list_tools())
        except UpstreamUnavailable:
            self.healthy = False
            raise
        self._adopt(mcp.decode_agent(wire(listed), name=self.name))
        self._outputs = OutputChecks(self.descriptor.skills)

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
        session = self._session()
        parked = self._parked.pop(task_id, None)
        kept = self._rounds.pop(task_id, None)
        if parked is not None:
            # The task's next message answers the upstream's question; the call goes on.
            parked.expiry.cancel()
            try:
                answers = answers_of(parked, invocation.message)
            except InvalidParams:
                parked.call.cancel()
                raise
            asking = (parked.answer, *(future for _, _, future in parked.more))
            for future, answer in zip(asking, answers, strict=True):
                future.set_result(answer)
            if parked.relay.caller is not None:
                # The retry is its own request: its log lines go to it.
                parked.relay.caller = CALLER.get() or parked.relay.caller
            call, updates, relay = parked.call, parked.updates, parked.relay
        else:
            # A retry of a round handed to the caller is sent as the call first was.
            params = {} if kept is not None else mcp.encode_invocation(invocation)
            updates = asyncio.Queue()

            async def on_progress(note: dict[str, Any]) -> None:
                try:
                    event = mcp.decode_progress({**note, "progressToken": task_id})
                except BadInput:
                    return  # a malformed note is dropped, as the SDK's session drops it
                await updates.put(event)

            caller = CALLER.get()
            if caller is None or caller.pauses:
                relay = AskingRelay(f"\x00task {task_id}", caller)
            else:
                relay = caller
            level = relay.log_level()
            pauses = caller is None or caller.pauses  # asked through input-required
            if session.mode is None and pauses:
                await session.client()  # opened first: whether it speaks 2026-07-28 is known
            if level is not None and session.modern:
                # A 2026-07-28 server sends log lines only to a request that asks for them.
                params["_meta"] = {**params.get("_meta", {}), mt.LOG_LEVEL_META_KEY: level}
            # The call runs as its own task (the caller's cancel cancels it, and the server is
            # told with notifications/cancelled), seeing this call's relay: a 2026-07-28
            # server's questions are asked inside it.
            context = contextvars.copy_context()
            context.run(CALLER.set, relay)
            request: Coroutine[Any, Any, dict[str, Any]]
            if kept is not None or (pauses and session.modern):
                # The server asks in its result and the caller answers a paused call: the
                # questions go to the caller, and nothing waits here for the answers.
                given = _given(kept, invocation.message)
                request = self._round(
                    session, relay, params, on_progress, task_id=task_id, kept=kept, given=given
                )
            else:
                request = session.call_tool(params, on_progress, relay)
            call = asyncio.get_running_loop().create_task(request, context=context)
            # The call's end is the last item of its queue: the loop below waits on one thing.
            call.add_done_callback(lambda _: updates.put_nowait(None))
        waiting = False
        with session.serving(relay):
            try:
                while not isinstance(relay, AskingRelay):
                    item = await updates.get()
                    if item is None:
                        break
                    yield item
                while not call.done():
                    assert isinstance(relay, AskingRelay)
                    waiter = asyncio.ensure_future(updates.get())
                    question = asyncio.ensure_future(relay.questions.get())
                    await asyncio.wait({waiter, question}, return_when=asyncio.FIRST_COMPLETED)
                    if waiter.done():
                        if (update := waiter.result()) is not None:
                            yield update
                    else:
                        waiter.cancel()
                    if question.done():
                        method, wanted, reply = question.result()
                        more: list[Question] = []
                        if relay.caller is not None:
                            more = await _together(relay)
                        expiry = asyncio.get_running_loop().call_later(self.timeout, call.cancel)
                        held = Parked(
                            call, updates, relay, method, wanted, reply, expiry, tuple(more)
                        )
                        self._parked[task_id] = held
                        waiting = True
                        context_id = invocation.message.context_id
                        message = asked(held, context_id)
                        yield StatusEvent(task_id, TaskState.INPUT_REQUIRED, context_id, message)
                        return
                    question.cancel()
                while not updates.empty():
                    if (update := updates.get_nowait()) is not None:
                        yield update
                result = call.result()
            finally:
                if not waiting:
                    call.cancel()
        yield self._settled_by(result, invocation.skill, task_id, invocation.message.context_id)

    def _settled_by(
        self, result: dict[str, Any], skill: str, task_id: str, context_id: str | None
    ) -> StatusEvent | Task:
        """The item the server's wire ``result`` of a call of ``skill`` settles task
        ``task_id`` with: its outcome, or its question (a round handed to the caller).

        Raises:
            UpstreamUnavailable: the result does not match the tool's output schema.
            Internal: the server's answer is not a tool result.
        """
        if result.get("resultType") == mcp_rounds.INPUT_REQUIRED:
            handed = self._rounds.get(task_id)
            if handed is not None and handed.form is not None:
                message = question_message(handed.form, context_id)
            else:
                requests = DataPart(result.get("inputRequests"), {INPUT_REQUESTS_KEY: True})
                message = Message("agent", (requests,), context_id=context_id)
            return StatusEvent(task_id, TaskState.INPUT_REQUIRED, context_id, message)
        problem = self._outputs.problem(skill, result)
        if problem is not None:
            # As the SDK's client refuses it: an error, not a result to pass on.
            raise UpstreamUnavailable(f"MCP agent {self.name!r}: tool {skill!r:.60} {problem}")
        try:
            return mcp.decode_outcome(result, task_id=task_id)
        except BadInput:
            # The server's answer is not a tool result: its fault, not the caller's.
            raise Internal() from None

    def passes(self) -> Relay | None:
        """The relay a call passed through by :meth:`pass_call` would ask its caller by, if
        the call may go that way: its caller is an MCP one (its relay is set), and a caller
        that ``pauses`` calls a server known to speak 2026-07-28, which asks in its result
        (None: the call goes through :meth:`run`)."""
        caller = CALLER.get()
        if caller is None or not caller.pauses:
            return caller
        session = self._session()
        if session.mode is None or not session.modern:
            return None
        return _Unasked(caller)

    async def pass_call(
        self, params: dict[str, Any], relay: Relay, *, task_id: str
    ) -> tuple[dict[str, Any], StatusEvent | Task]:
        """A ``tools/call`` with wire ``params`` (as :func:`adapters.mcp.encode_invocation`
        gives them) sent as :meth:`run` sends it, for a caller of its own protocol, with
        ``relay`` from :meth:`passes`: the server's wire result and the item it settles the
        task with. No progress reaches the caller (it asked for none).

        Raises:
            EffmeshError: as :meth:`run`.
        """
        session = self._session()
        level = relay.log_level()
        if level is not None and session.modern:
            params["_meta"] = {**params.get("_meta", {}), mt.LOG_LEVEL_META_KEY: level}
        with session.serving(relay):
            if not relay.pauses:
                result = await session.call_tool(params, _unheard, relay)
            else:
                # As in run: the round's relay is the caller's in this context. A result
                # that asks is handed to the caller as the round would hand it on.
                caller = CALLER.set(relay)
                try:
                    found = await session.call_round(params, _unheard, relay)
                    if found is None or found.get("resultType") == mcp_rounds.INPUT_REQUIRED:
                        found = await self._round(
                            session, relay, params, _unheard, task_id=task_id, first=found
                        )
                    result = found
                finally:
                    CALLER.reset(caller)
        return result, self._settled_by(result, params["name"], task_id, None)

    async def _round(
        self,
        session: Upstream,
        relay: Relay,
        params: dict[str, Any],
        noted: mcp_rounds.Progress,
        *,
        task_id: str,
        kept: mcp_rounds.Round | None = None,
        given: Any = None,
        first: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The call (or a kept round's retry) until answered or handed to the caller; a
        round handed on is kept for ``task_id``'s retry. ``first``: the result of the call's
        first round, sent already."""
        in_words = isinstance(relay, AskingRelay) and relay.caller is None
        result, handed = await mcp_rounds.call(
            session, relay, params, noted, kept=kept, given=given, in_words=in_words, first=first
        )
        if handed is not None:
            self._rounds[task_id] = handed
            while len(self._rounds) > ROUNDS_KEPT:
                del self._rounds[next(iter(self._rounds))]
        return result

    def waiting(self, task_id: str) -> JSON | None:
        """The round the caller's answer to ``task_id``'s question is sent to the server
        with (a 2026-07-28 server's, which holds nothing open)."""
        kept = self._rounds.get(task_id)
        return None if kept is None else kept.note()

    def carry_on(self, task_id: str, kept: JSON) -> None:
        found = mcp_rounds.Round.of_note(kept)
        if found is not None:
            self._rounds[task_id] = found

    def holds(self, task_id: str) -> bool:
        """Whether ``task_id``'s call is parked here, its server's request open on this
        process's session."""
        return task_id in self._parked


class _Unasked:
    """A 2026-07-28 caller's relay for a call to a 2026-07-28 server, which asks in its
    result and never in the middle of a call: a request there is refused, not parked; log
    lines and what the caller can answer are the caller's own relay's."""

    pauses = True

    def __init__(self, caller: Relay) -> None:
        self.principal: str | None = f"\x00call {id(self)}"
        """Unique to the call, as :class:`AskingRelay`'s."""
        self.caller = caller

    def can_answer(self, method: str) -> bool:
        return self.caller.can_answer(method)

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise Unsupported(f"the caller cannot answer {method} in the middle of a call")

    def log_level(self) -> str | None:
        return self.caller.log_level()

    async def log(self, params: dict[str, Any]) -> None:
        await self.caller.log(params)


async def _unheard(note: dict[str, Any]) -> None:
    """Progress of a call whose caller asked for none."""


async def _together(relay: AskingRelay) -> list[Question]:
    """The server's requests that follow one within :data:`TOGETHER` seconds of each other:
    a handshake-era server sends the requests it asks at once one after another, and they
    are handed on together, as a 2026-07-28 server's come in one result."""
    more: list[Question] = []
    while True:
        try:
            async with asyncio.timeout(TOGETHER):
                more.append(await relay.questions.get())
        except TimeoutError:
            return more


def _given(kept: mcp_rounds.Round | None, message: Message) -> Any:
    """The caller's responses to ``kept`` in its reply ``message``: an MCP caller's
    ``inputResponses`` as it sent them; the answer an A2A or ACP caller's message gives to
    the one question it was asked (None: no round kept).

    Raises:
        InvalidParams: the message cannot fill the question's form.
    """
    if kept is None:
        return None
    if kept.form is not None:
        return {kept.asked[0]: elicitation_answer(kept.form, message)}
    for part in message.parts:
        if isinstance(part, DataPart) and part.metadata.get(INPUT_RESPONSES_KEY):
            return part.data
    return None


class RemoteMCPStdioAgent(RemoteMCPAgent):
    """An MCP server launched as a subprocess speaking stdio, as IDEs launch them: one
    process, started on first use, restarted when it exits, stopped with the agent; its
    tool calls multiplexed on the process by JSON-RPC id (:mod:`agents.remote.mcp_stdio`)."""

    remote = "mcp-stdio"

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        timeout: float = 60.0,
        sampler: Sampler | None = None,
        era: Era = "auto",
    ) -> None:
        if not command:
            raise InvalidParams("needs a command", path=f"agents.{name}.command")
        self.command = tuple(command)
        super().__init__(
            name, "stdio:" + shlex.join(command), timeout=timeout, sampler=sampler, era=era
        )

    def _upstream(self, headers: Headers) -> Upstream:
        # A process has no headers: a stdio server has no per-user credentials either.
        process = StdioCalls(self.command)
        upstream = Upstream(self.name, process.transport, timeout=self.timeout)
        upstream.fast = process
        return upstream
