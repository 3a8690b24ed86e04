"""One long-lived MCP client session per upstream server, shared by every call to it.

Opening a session costs a handshake (and, for a stdio server, a process start: most of a
second for a Node server); holding one open makes a call one request on it. The SDK's
``ClientSession`` multiplexes concurrent requests by JSON-RPC id, so calls share it freely.

A background task owns the session (the SDK's transports are context managers whose cancel
scopes belong to the task that entered them). When the session ends (the process exits, the
stream breaks, the server forgets the session), the task opens a new one: at once the first
time, then with a growing delay while it keeps failing, and at once again after a session
that lived long enough. ``close`` ends it, and with it a stdio server's process.

The session speaks the handshake era (``initialize``) when the server does: it keeps one
session open, in which the server's requests to the client (sampling, elicitation, roots), its
log level and its resource subscriptions exist. A server that refuses the handshake is spoken
to in 2026-07-28 instead: no session, but the same client kept open (its HTTP connections
reused, the server's ``server/discover`` answer asked once and kept); its questions come as
``input_required`` results, which the SDK's client answers through the same callbacks and
retries, so they reach the caller exactly as a handshake-era server's requests do. The
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
from typing import Any, Final, TypeVar

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
from pydantic import ValidationError

from adapters import mcp
from adapters.errors import EffmeshError, UpstreamUnavailable
from agents.remote.mcp_relay import CALLER, ELICITATION, ROOTS, SAMPLING, Relay
from agents.remote.mcp_sampling import Sampler

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
        self.mode: str | None = None
        """How the server was spoken to once a session opened: ``legacy`` (the handshake
        era) or ``auto`` (2026-07-28, after the server refused the handshake)."""

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
        """The session ``client`` failed: let the holder open a new one."""
        if self.current() is client and self._wake is not None:
            self._wake.set()

    async def _hold(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            if failures:
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
        """Open one session (in the handshake era first, then 2026-07-28 if the server refused
        it and has never answered otherwise), publish it in ``ready``, and hold it until
        ``ended``."""
        if self.mode is not None:
            await self._open(ready, ended, self.mode)
            return
        try:
            await self._open(ready, ended, "legacy")
        except Exception:  # a refused handshake, or a server that is down
            if ready.done():
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

    async def _ask(self, method: str, params: Any) -> dict[str, Any] | mt.ErrorData:
        relay = self._relay()
        if relay is None or not relay.can_answer(method):
            return mt.ErrorData(
                code=mt.INVALID_REQUEST, message=f"the caller cannot answer {method}"
            )
        wire = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            return await relay.ask(method, wire)
        except EffmeshError as exc:
            error = mcp.encode_error(exc)
            return mt.ErrorData(code=error["code"], message=error["message"])

    async def _sampling(
        self, context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult | mt.CreateMessageResultWithTools | mt.ErrorData:
        relay = self._relay()
        if self.sampler is not None and (relay is None or not relay.can_answer(SAMPLING)):
            answer = await self._sample(params)
        else:
            answer = await self._ask(SAMPLING, params)
        if isinstance(answer, mt.ErrorData):
            return answer
        try:
            if isinstance(answer.get("content"), list):
                return mt.CreateMessageResultWithTools.model_validate(answer, by_name=False)
            return mt.CreateMessageResult.model_validate(answer, by_name=False)
        except ValidationError:
            return mt.ErrorData(code=mt.INTERNAL_ERROR, message="the caller's answer is invalid")

    async def _sample(self, params: mt.CreateMessageRequestParams) -> dict[str, Any] | mt.ErrorData:
        """The gateway's model's answer, for a caller that cannot give one."""
        assert self.sampler is not None
        wire = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            return await self.sampler(wire)
        except EffmeshError as exc:
            error = mcp.encode_error(exc)
            return mt.ErrorData(code=error["code"], message=error["message"])

    async def _elicitation(
        self, context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        answer = await self._ask(ELICITATION, params)
        if isinstance(answer, mt.ErrorData):
            return answer
        try:
            return mt.ElicitResult.model_validate(answer, by_name=False)
        except ValidationError:
            return mt.ErrorData(code=mt.INTERNAL_ERROR, message="the caller's answer is invalid")

    async def _roots(self, context: ClientRequestContext) -> mt.ListRootsResult | mt.ErrorData:
        relay = self._relay()
        if relay is None or not relay.can_answer(ROOTS):
            return mt.ErrorData(
                code=mt.INVALID_REQUEST, message=f"the caller cannot answer {ROOTS}"
            )
        try:
            answer = await relay.ask(ROOTS, {})
            return mt.ListRootsResult.model_validate(answer, by_name=False)
        except EffmeshError as exc:
            error = mcp.encode_error(exc)
            return mt.ErrorData(code=error["code"], message=error["message"])
        except ValidationError:
            return mt.ErrorData(code=mt.INTERNAL_ERROR, message="the caller's answer is invalid")

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
