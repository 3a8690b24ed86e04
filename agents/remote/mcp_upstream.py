"""One long-lived MCP client session per upstream server, shared by every call to it.

Opening a session costs a handshake (and, for a stdio server, a process start: most of a
second for a Node server); holding one open makes a call one request on it. The SDK's
``ClientSession`` multiplexes concurrent requests by JSON-RPC id, so calls share it freely.
A tool call goes past it, straight on the wire in the same session, when the transport offers
that (``fast``: :mod:`agents.remote.mcp_wire`); the server's requests and log lines during
such a call are answered here as the session's own are.

A background task owns the session (the SDK's transports are context managers whose cancel
scopes belong to the task that entered them). When the session ends (the process exits, the
stream breaks, the server forgets the session), the task opens a new one: at once the first
time, then with a growing delay while it keeps failing, and at once again after a session
that lived long enough. ``close`` ends it, and with it a stdio server's process.

The era is found as MCP 2026-07-28 asks of a client that speaks both: ``server/discover``
first, the handshake when the server does not answer it as a 2026-07-28 server; the era found
is remembered for the server (``era`` configures one instead). A server that answers the probe
is spoken to in 2026-07-28: no session, but the same client kept open (its HTTP connections
reused, the server's ``server/discover`` answer asked once and kept); its questions come as
``input_required`` results, which the SDK's client answers through the same callbacks and
retries, so they reach the caller exactly as a handshake-era server's requests do. A
handshake-era server gets one session, in which the server's requests to the client
(sampling, elicitation, roots), its log level and its resource subscriptions exist. The
server's requests and log lines are relayed to the caller of the call they belong to
(:mod:`agents.remote.mcp_relay`); the notifications that belong to no call (resource updates,
list changes, log lines between calls) go to ``listeners``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Final, Literal, TypeVar

import anyio
import httpx2
import mcp_types as mt
from mcp import Client as MCPClient
from mcp.client._transport import Transport, TransportStreams
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from adapters import mcp
from adapters.errors import EffmeshError, UpstreamUnavailable
from agents.remote.mcp_relay import CALLER, ELICITATION, ROOTS, SAMPLING, Relay
from agents.remote.mcp_sampling import Sampler
from agents.remote.mcp_wire import (
    LOG,
    Answer,
    FastCalls,
    Handlers,
    NotTaken,
    SessionLost,
    call_modern,
)

Listener = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Told of a server notification that belongs to no call: its method and params."""
T = TypeVar("T")

BACKOFF: Final = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before the next session after one that failed or lived briefly, by how many
in a row did."""
STEADY: Final = 5.0
"""A session that lived this long resets the backoff: its end was not a crash loop."""
FORWARDED: Final = frozenset(
    {
        "notifications/resources/updated",
        "notifications/resources/list_changed",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
    }
)
_CLIENT_INFO: Final = mt.Implementation(name="effmesh", version="0.1.0")
_ANSWERS: Final[dict[str, type[BaseModel]]] = {
    SAMPLING: mt.CreateMessageResult,
    ELICITATION: mt.ElicitResult,
    ROOTS: mt.ListRootsResult,
}
"""What a caller's answer to each request of the server must be."""
_ASKED_BY: Final = {"sampling": SAMPLING, "elicitation": ELICITATION, "roots": ROOTS}
"""The client capabilities a server's requests need, by the request each is for."""
Progress = Callable[[dict[str, Any]], Awaitable[None]]
"""Told of each ``notifications/progress`` of a call: its params."""
Era = Literal["auto", "handshake", "2026-07-28"]
"""Which MCP era a server is spoken to in: found (``auto``), or the one configured."""


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def _session_lost(exc: MCPError) -> bool:
    """The session is gone: closed under the call, or forgotten by the server (which the
    SDK reports for a 404 to a request in a session it had)."""
    error = exc.error
    return error.code == mt.CONNECTION_CLOSED or (
        error.code == mt.INVALID_REQUEST and error.message == "Session terminated"
    )


class Upstream:
    """The session to one server, opened on first use. Lives on one event loop: used from
    another (a registry set up before the server starts), it opens a session there and
    abandons the first, whose loop is gone or going."""

    def __init__(
        self, name: str, transport: Callable[[], Transport], *, timeout: float = 60.0
    ) -> None:
        self.name = name
        self._transport = transport
        self.timeout = timeout
        self.listeners: list[Listener] = []
        self.fast: FastCalls | None = None
        """The transport's own way for tool calls on the session (None: the SDK's)."""
        self.sessions = 0
        """How many sessions have been opened (1 for a server that never failed)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[MCPClient] | None = None
        self._wake: asyncio.Event | None = None
        self._ids = itertools.count()
        self._calls: dict[int, Relay] = {}
        self.sampler: Sampler | None = None
        """Answers the server's sampling requests that no caller can (the gateway's model)."""
        self._listed: MCPClient | None = None
        """The last session whose tools were listed for the 2026-07-28 stamp."""
        self.era: Era = "auto"
        """The era configured for the server; ``auto``: the one it answers in."""
        self.mode: str | None = None
        """How the server was spoken to once a session opened: ``legacy`` (the handshake
        era) or ``auto`` (2026-07-28); the SDK's ``mode`` for the next session."""

    @property
    def modern(self) -> bool:
        """The server speaks 2026-07-28 only: no session, log level or subscriptions."""
        return self.mode == "auto"

    def unreachable(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"MCP agent {self.name!r} is unreachable")

    async def client(self) -> MCPClient:
        """The open session, opening one first if there is none.

        Raises:
            UpstreamUnavailable: the server cannot be reached now.
        """
        loop = asyncio.get_running_loop()
        ready, holder = self._ready, self._holder
        if (
            self._loop is loop
            and holder is not None
            and not holder.done()
            and ready is not None
            and ready.done()
            and not ready.cancelled()
            and ready.exception() is None
        ):
            # The session is open: every call after the first comes here, with no timer, no
            # shield and no future of its own.
            return ready.result()
        if self._loop is not loop or self._holder is None or self._holder.done():
            self._loop = loop
            self._ready = loop.create_future()
            self._wake = asyncio.Event()
            # A fresh context: the session's callbacks must not see the first caller's relay.
            self._holder = loop.create_task(self._hold(), context=contextvars.Context())
        assert self._ready is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), self.timeout)
        except (TimeoutError, EffmeshError, OSError, httpx2.HTTPError, MCPError) as exc:
            raise self.unreachable() from exc
        except ExceptionGroup as exc:  # the SDK's task groups wrap transport failures
            raise self.unreachable() from exc

    def current(self) -> MCPClient | None:
        """The open session, if one is (no waiting, no connecting)."""
        ready = self._ready
        if ready is None or not ready.done() or ready.cancelled() or ready.exception():
            return None
        return ready.result()

    async def request(self, send: Callable[[MCPClient], Awaitable[T]]) -> T:
        """``send`` on the open session; once more on a new one if the server had forgotten
        the session before it took the request.

        Raises:
            EffmeshError: the server's error, canonical; UpstreamUnavailable when it is down.
        """
        for attempt in (0, 1):
            client = await self.client()
            try:
                return await send(client)
            except MCPError as exc:
                if not _session_lost(exc):
                    raise mcp.decode_error(exc.error.model_dump(mode="json")) from None
                self._lost(client)
                retry = attempt == 0 and exc.error.code != mt.CONNECTION_CLOSED
                if not retry:
                    raise self.unreachable() from None
            except RuntimeError:
                # The SDK's answer to a request on a session that closed before it was sent.
                self._lost(client)
                if attempt:
                    raise self.unreachable() from None
            except ValidationError:
                # What the server sent is not an MCP answer (the SDK checks it); the session
                # itself may be fine.
                raise UpstreamUnavailable(
                    f"MCP agent {self.name!r} gave an answer that is not valid MCP"
                ) from None
            except (OSError, httpx2.HTTPError, anyio.BrokenResourceError) as exc:
                self._lost(client)
                raise self.unreachable() from exc
            except ExceptionGroup as exc:
                self._lost(client)
                raise self.unreachable() from exc
        raise self.unreachable()

    async def call_tool(
        self, params: dict[str, Any], noted: Progress, relay: Relay | None
    ) -> dict[str, Any]:
        """The wire result of ``tools/call`` with ``params``: through :attr:`fast` when the
        session allows it, else through the SDK's client. The server's requests and log
        lines during the call go to ``relay``'s caller.

        Raises:
            EffmeshError: as :meth:`request`.
        """
        found = await self._on_the_wire(params, noted, relay, hand_on=False)
        if found is not None:
            return found

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            note: dict[str, Any] = {"progress": progress, "total": total, "message": message}
            await noted({k: v for k, v in note.items() if v is not None})

        def send(client: MCPClient) -> Awaitable[mt.CallToolResult]:
            return client.call_tool(
                params["name"],
                params.get("arguments"),
                progress_callback=on_progress,
                meta=params.get("_meta"),
            )

        return _dump(await self.request(send))

    async def call_round(
        self, params: dict[str, Any], noted: Progress, relay: Relay | None
    ) -> dict[str, Any] | None:
        """One round of ``tools/call`` with ``params`` on a 2026-07-28 server, straight on the
        wire: its wire result, an ``input_required`` one included (the caller answers it); None
        when the session cannot send it so (the SDK's client then does).

        Raises:
            EffmeshError: as :meth:`request`.
        """
        return await self._on_the_wire(params, noted, relay, hand_on=True)

    async def _on_the_wire(
        self, params: dict[str, Any], noted: Progress, relay: Relay | None, *, hand_on: bool
    ) -> dict[str, Any] | None:
        """``tools/call`` with ``params`` through :attr:`fast` (a lost session opened again
        once): its wire result, or None when the session cannot send it so. ``hand_on``: in
        2026-07-28 only, and one round (:func:`call_modern`)."""
        fast = self.fast
        for attempt in (0, 1):
            client = await self.client()
            version = client.session.protocol_version
            if fast is None or version is None or not fast.ready(version):
                return None
            if hand_on and version not in MODERN_PROTOCOL_VERSIONS:
                return None
            handlers = Handlers(noted, partial(self._noted, relay), partial(self.answer, relay))
            try:
                answer = await self._fast_call(
                    fast, client, params, version, handlers, hand_on=hand_on, relay=relay
                )
            except NotTaken:
                return None
            except SessionLost:
                self._lost(client)
                if attempt:
                    raise self.unreachable() from None
                continue
            except OSError as exc:
                self._lost(client)
                raise self.unreachable() from exc
            error = answer.get("error")
            if error is not None:
                raise mcp.decode_error(error if isinstance(error, dict) else {})
            result = answer.get("result")
            return result if isinstance(result, dict) else {}
        raise self.unreachable()

    async def _fast_call(
        self,
        fast: FastCalls,
        client: MCPClient,
        params: dict[str, Any],
        version: str,
        handlers: Handlers,
        *,
        hand_on: bool = False,
        relay: Relay | None = None,
    ) -> Answer:
        """One tool call through ``fast``; in 2026-07-28, stamped by the SDK session's own
        stamp (its ``_meta`` and headers), the client capabilities in it narrowed to what
        ``relay``'s caller (or the gateway's model) can answer, and carried through
        ``input_required`` rounds (or, ``hand_on``, its first round's ``input_required``
        returned)."""
        if version not in MODERN_PROTOCOL_VERSIONS:
            return await fast.call(params, version, handlers)
        session_stamp = client.session._stamp  # the SDK's stamp for this session's requests

        def stamp(data: dict[str, Any], options: Any) -> None:
            session_stamp(data, options)
            meta = data["params"]["_meta"]
            declared = meta.get(mt.CLIENT_CAPABILITIES_META_KEY)
            if isinstance(declared, dict):
                # A 2026-07-28 server asks only what the client declared (and refuses, -32021,
                # a call that needs more): it is told what this call's caller can answer.
                meta[mt.CLIENT_CAPABILITIES_META_KEY] = self._answerable(declared, relay)

        async def relist() -> None:
            try:
                async with asyncio.timeout(self.timeout):
                    await client._relist_tool(str(params.get("name")))  # as the SDK's call does
            except MCPError as exc:
                if _session_lost(exc):
                    raise ConnectionError("the session ended") from exc
                # Else the call goes as it is: the server's refusal of it is the answer.
            except (httpx2.HTTPError, anyio.BrokenResourceError) as exc:
                raise ConnectionError("the server cannot be reached") from exc

        if self._listed is not client:
            # The stamp takes the Mcp-Param-* headers from the session's own listing: a
            # session opened for calls (on another event loop, after a failure) has none yet.
            self._listed = client
            await relist()
        return await call_modern(
            fast, params, version, handlers, stamp=stamp, relist=relist, hand_on=hand_on
        )

    def _answerable(self, declared: dict[str, Any], relay: Relay | None) -> dict[str, Any]:
        """The session's client capabilities less those of requests no one in this call
        can answer: neither ``relay``'s caller nor, for sampling, the gateway's model."""
        kept = dict(declared)
        for key, method in _ASKED_BY.items():
            if key in kept and not (
                (relay is not None and relay.can_answer(method))
                or (method == SAMPLING and self.sampler is not None)
            ):
                del kept[key]
        return kept

    async def _noted(self, relay: Relay | None, method: str, params: dict[str, Any]) -> None:
        """A notification the server sent in the course of a call of ``relay``'s caller."""
        if method == LOG:
            if relay is not None:
                await relay.log(params)
        elif method in FORWARDED:
            await self.tell(method, params)

    @contextlib.contextmanager
    def serving(self, relay: Relay | None) -> Iterator[None]:
        """Mark a call in flight for ``relay``'s caller while the block runs."""
        if relay is None:
            yield
            return
        key = next(self._ids)
        self._calls[key] = relay
        try:
            yield
        finally:
            del self._calls[key]

    async def close(self) -> None:
        """End the session (and a stdio server's process); a later call opens a new one."""
        holder, self._holder = self._holder, None
        if holder is None or self._loop is not asyncio.get_running_loop():
            return
        holder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder

    def _lost(self, client: MCPClient) -> None:
        """The session ``client`` failed: let the holder open a new one; calls from now on
        (a retry of the one that failed first of all) wait for it, not the lost one."""
        if self.current() is client and self._wake is not None and self._loop is not None:
            self._ready = self._loop.create_future()
            self._wake.set()

    async def _hold(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            if failures:
                ready = self._ready
                if failures > 1 and ready is not None and not ready.done():
                    # The server keeps dying young: a call meanwhile is told at once that it
                    # is down, not held through the delay (up to its whole timeout).
                    ready.set_exception(self.unreachable())
                    ready.exception()  # retrieved: no caller may be waiting
                await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF)) - 1])
            if self._ready is None or self._ready.done():
                self._ready = loop.create_future()
            assert self._wake is not None
            self._wake.clear()
            opened = time.monotonic()
            try:
                await self._session(self._ready, self._wake)
            except Exception as exc:  # noqa: BLE001 - every failure to connect is "down"
                # Left failed through the delay: a call meanwhile is told at once.
                if not self._ready.done():
                    self._ready.set_exception(exc)
                    self._ready.exception()  # retrieved: no caller may be waiting
            failures = 0 if time.monotonic() - opened >= STEADY else failures + 1

    async def _session(self, ready: asyncio.Future[MCPClient], ended: asyncio.Event) -> None:
        """Open one session, publish it in ``ready``, and hold it until ``ended``: in the
        era configured, else in the one remembered (no probe again for a handshake-era
        server), else found by the SDK's ``auto`` (``server/discover`` first, ``initialize``
        when the answer is not a 2026-07-28 one); a server that no longer answers in its
        remembered era is probed afresh."""
        if self.era == "handshake":
            await self._open(ready, ended, "legacy")
            return
        mode = self.mode or "auto"
        try:
            await self._open(ready, ended, mode)
        except Exception:  # the remembered era refused, or a server that is down
            if ready.done() or mode == "auto" or self.era != "auto":
                raise
            ended.clear()  # the refused attempt's transport ended
            await self._open(ready, ended, "auto")

    async def _open(
        self, ready: asyncio.Future[MCPClient], ended: asyncio.Event, mode: str
    ) -> None:
        async with self._transport() as (read, write), anyio.create_task_group() as tg:
            mine_in, mine_out = anyio.create_memory_object_stream[SessionMessage | Exception](64)

            async def pump() -> None:
                # The transport's read stream ends when the server does (a stdio process
                # exits): that is how the session learns it is gone.
                async with mine_in:
                    async for item in read:
                        await mine_in.send(item)
                ended.set()

            tg.start_soon(pump)
            async with MCPClient(
                _opened((mine_out, write)),
                mode=mode,
                cache=None,
                client_info=_CLIENT_INFO,
                sampling_callback=self._sampling,
                elicitation_callback=self._elicitation,
                list_roots_callback=self._roots,
                logging_callback=self._log,
                message_handler=self._notified,
            ) as client:
                self.sessions += 1
                # What was spoken, not what was tried: ``auto`` falls back to the handshake.
                modern = client.protocol_version in MODERN_PROTOCOL_VERSIONS
                if self.era == "2026-07-28" and not modern:
                    raise UpstreamUnavailable(f"MCP agent {self.name!r} does not speak 2026-07-28")
                self.mode = "auto" if modern else "legacy"
                ready.set_result(client)
                await ended.wait()
                if self._ready is ready:  # calls from now on wait for the next session
                    self._ready = asyncio.get_running_loop().create_future()
            tg.cancel_scope.cancel()

    def _relay(self) -> Relay | None:
        """The caller an upstream request or log line belongs to.

        A 2026-07-28 server's questions are asked inside the call itself (the SDK's driver
        runs in the caller's task), so the caller is known. A handshake-era server's come
        on the session, naming no call: they go to the caller with a call in flight, and
        when calls of several callers are in flight, to none of them, never to the wrong
        one."""
        current = CALLER.get()
        if current is not None:
            return current
        relays = list(self._calls.values())
        if not relays or len({r.principal for r in relays}) != 1:
            return None
        return relays[-1]

    async def answer(self, relay: Relay | None, method: str, params: dict[str, Any]) -> Answer:
        """The answer to the server's request ``method`` (wire params), asked of ``relay``'s
        caller: ``{"result": ...}``, or ``{"error": ...}`` in MCP's words when the caller
        cannot answer, refuses, or answers with something that is not a valid result."""
        if method == "ping":
            return {"result": {}}
        checked = await self._checked(relay, method, params)
        if isinstance(checked, mt.ErrorData):
            return {"error": checked.model_dump(mode="json", exclude_none=True)}
        return {"result": _dump(checked)}

    async def _checked(
        self, relay: Relay | None, method: str, params: dict[str, Any]
    ) -> BaseModel | mt.ErrorData:
        model = _ANSWERS.get(method)
        if model is None:
            return mt.ErrorData(
                code=mt.METHOD_NOT_FOUND, message=f"no client method {method!r:.60}"
            )
        # Sampling no caller can answer may be the gateway's own model's to answer.
        by_model = method == SAMPLING and self.sampler is not None
        if (relay is None or not relay.can_answer(method)) and not by_model:
            return mt.ErrorData(
                code=mt.INVALID_REQUEST, message=f"the caller cannot answer {method}"
            )
        try:
            if relay is not None and relay.can_answer(method):
                answer = await relay.ask(method, params)
            else:
                assert self.sampler is not None
                answer = await self.sampler(params)
            if method == SAMPLING and isinstance(answer.get("content"), list):
                model = mt.CreateMessageResultWithTools
            return model.model_validate(answer, by_name=False)
        except EffmeshError as exc:
            error = mcp.encode_error(exc)
            return mt.ErrorData(code=error["code"], message=error["message"])
        except ValidationError:
            return mt.ErrorData(code=mt.INTERNAL_ERROR, message="the caller's answer is invalid")

    async def _ask(self, method: str, params: BaseModel | None) -> Any:
        """The SDK session's callbacks: the caller of the call in flight answers."""
        wire = {} if params is None else _dump(params)
        return await self._checked(self._relay(), method, wire)

    async def _sampling(
        self, context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult | mt.CreateMessageResultWithTools | mt.ErrorData:
        checked: mt.CreateMessageResult | mt.CreateMessageResultWithTools | mt.ErrorData
        checked = await self._ask(SAMPLING, params)
        return checked

    async def _elicitation(
        self, context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        checked: mt.ElicitResult | mt.ErrorData = await self._ask(ELICITATION, params)
        return checked

    async def _roots(self, context: ClientRequestContext) -> mt.ListRootsResult | mt.ErrorData:
        checked: mt.ListRootsResult | mt.ErrorData = await self._ask(ROOTS, None)
        return checked

    async def _log(self, params: mt.LoggingMessageNotificationParams) -> None:
        wire = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        relay = self._relay()
        if relay is not None:
            await relay.log(wire)
        elif not self._calls:
            await self.tell("notifications/message", wire)
        # Calls of several callers in flight: the line may be any one's; it goes to none.

    async def _notified(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method in FORWARDED:
            params = message.params
            wire = (
                {}
                if params is None
                else params.model_dump(by_alias=True, mode="json", exclude_none=True)
            )
            if SUBSCRIPTION_ID_META_KEY in (wire.get("_meta") or {}):
                return  # an event of a listen stream, which hands on its own events
            await self.tell(method, wire)

    async def tell(self, method: str, params: dict[str, Any]) -> None:
        """Hand a notification that belongs to no call to ``listeners``."""
        for listener in list(self.listeners):
            await listener(method, params)


@contextlib.asynccontextmanager
async def _opened(streams: TransportStreams) -> AsyncIterator[TransportStreams]:
    """Streams already open, as the transport the SDK's ``Client`` takes."""
    yield streams
