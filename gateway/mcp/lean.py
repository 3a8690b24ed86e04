"""``tools/call`` on ``/mcp`` served straight from the HTTP request, past the SDK's session.

Once a session is set up, a tool call is nearly all of its traffic. The SDK passes each one
through its transport, memory streams, session and dispatcher tasks before the handler runs;
here a call in a session the caller owns is answered from the request itself: the body goes
through the MCP adapter into the canonical model, the agent runs, and the answer (with any
progress, log lines and requests to the client before it) is written as the server-sent
events of that one response, as the SDK would write them. The client's answers to those
requests, and its cancel of the call, come as POSTs of their own and are taken here too.

A 2026-07-28 call carries its protocol revision in its own ``_meta`` and needs no session;
it is taken here too unless it carries ``Mcp-Param-*`` headers, or an argument its tool
mirrors into one (the SDK checks them against the tool's schema), or ``Mcp-Method`` /
``Mcp-Name`` headers that are missing or do not match its body (the SDK refuses it).

Everything else (the handshake, lists, reads, a request this path does not know how to
serve) goes to the SDK, which knows the protocol's envelope rules. The SDK's DNS-rebinding
check runs first, as it does for every request the SDK serves.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import mcp_types as mt
import orjson
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from adapters import _json, mcp
from adapters.errors import Canceled, EffmeshError, Unsupported
from agents.remote.mcp_relay import CALLER
from gateway.mcp.relay import FrameRelay
from gateway.mcp.tools import ToolCalls

PROGRESS: Final = "notifications/progress"
WATCH_AFTER: Final = 0.05
"""Seconds a call runs before its client's connection is watched for its leaving."""
_VERSION_HEADER: Final = b"mcp-protocol-version"
_SESSION_HEADER: Final = b"mcp-session-id"
_METHOD_HEADER: Final = b"mcp-method"
_NAME_HEADER: Final = b"mcp-name"
_PARAM_HEADERS: Final = b"mcp-param-"
_OWS: Final = b" \t"
"""Whitespace around a field value, which is not part of it (RFC 9110, 5.5)."""
_JSON: Final = b"application/json"
_CHECKED_HEADERS: Final = (b"content-type", b"host", b"origin")
"""The headers the SDK's DNS-rebinding check reads: its verdict depends on them alone."""
_VERDICTS: Final = 256
"""Verdicts of that check kept, by those headers' values (a client sends the same ones on
every request)."""


@dataclass
class Facts:
    """What a session's client told the SDK that a call served here needs."""

    capabilities: dict[str, Any] = field(default_factory=dict)
    level: str | None = None


@dataclass(frozen=True, slots=True)
class _Call:
    session: str | None
    rid: str | int
    params: Any
    version: str
    facts: Facts
    who: str | None
    plain: bool
    """The client accepts a plain JSON answer (not only events)."""


def _event(frame: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + _json.dumps_utf8(frame) + b"\n\n"


class LeanCalls:
    """The tool calls of ``/mcp`` sessions. On the event loop; not thread-safe."""

    def __init__(
        self,
        tools: ToolCalls,
        security: TransportSecuritySettings | None,
        server_info: dict[str, Any] | None = None,
    ) -> None:
        """``server_info``: the stamp a 2026-07-28 result carries in ``_meta``."""
        self.tools = tools
        self.server_info = server_info
        self._security = TransportSecurityMiddleware(security)
        self._verdicts: dict[tuple[bytes | None, ...], bool] = {}
        self._mirrors: dict[int, tuple[Mapping[str, Any], frozenset[str]]] = {}
        """By input schema: the arguments it mirrors into headers (the schema kept, so an
        identity is never taken for another schema's)."""
        self.facts: dict[str, Facts] = {}
        """By session id: noted from the session's initialize and setLevel requests."""
        self._running: dict[tuple[str, Any], _Stop] = {}
        self._asked: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.forward: Callable[[str, str | int, bytes], None] | None = None
        """With replicas: hands a client's answer or cancel that nothing here waits for to
        the replica that may (session, the request id it is for, the message)."""
        self.noted_level: Callable[[str, str | None], None] | None = None
        """With replicas: records the logging level a session's client set."""

    def opened(self, session: str, initialize: Any) -> None:
        """Note the client's capabilities from the ``initialize`` request of ``session``."""
        params = initialize.get("params") if isinstance(initialize, dict) else None
        caps = params.get("capabilities") if isinstance(params, dict) else None
        self.facts[session] = Facts(caps if isinstance(caps, dict) else {})

    def closed(self, session: str) -> None:
        self.facts.pop(session, None)

    async def take(
        self,
        scope: Scope,
        body: bytes,
        *,
        session: str | None,
        who: str | None,
        receive: Receive,
        send: Send,
    ) -> bool:
        """Serve the POST with ``body`` in ``session`` (None: outside any, as 2026-07-28
        calls are) if it belongs here; False leaves it to the SDK (nothing was sent)."""
        if session is None:
            return await self._take_modern(scope, body, who, receive, send)
        facts = self.facts.get(session)
        if facts is None:
            return False
        message = _parsed(body)
        if type(message) is not dict:
            return False
        method, rid = message.get("method"), message.get("id")
        params = message.get("params")
        if method == "logging/setLevel":
            level = params.get("level") if isinstance(params, dict) else None
            facts.level = level if isinstance(level, str) else None
            if self.noted_level is not None:
                self.noted_level(session, facts.level)
            return False  # the SDK answers it, and the pass-through passes it on
        key = _awaited(message)
        if key is not None:
            if self.deliver(session, message):
                await _accepted(send)
                return True
            if self.forward is not None:
                # Another replica may wait for it; the SDK here still sees it, for a request
                # of its own.
                self.forward(session, key, body)
            return False
        if method != "tools/call" or not isinstance(rid, str | int) or isinstance(rid, bool):
            return False
        headers = dict(scope.get("headers", []))
        version = headers.get(_VERSION_HEADER, b"").decode("latin-1")
        accept = headers.get(b"accept", b"")
        if (
            version not in HANDSHAKE_PROTOCOL_VERSIONS
            or b"text/event-stream" not in accept
            or (session, rid) in self._running
            or not await self._allowed(scope)
        ):
            return False
        call = _Call(session, rid, params, version, facts, who, _JSON in accept)
        await self._serve(call, receive, send)
        return True

    def waits(self, session: str, key: str | int) -> bool:
        """Whether a call or a request to the client in ``session`` waits here on ``key``
        (its request id)."""
        return (session, key) in self._running or (session, key) in self._asked

    def deliver(self, session: str, message: Any) -> bool:
        """Give the client's answer to a request sent to it, or its cancel of a running call,
        to what waits for it here; whether anything did."""
        if type(message) is not dict:
            return False
        if message.get("method") == "notifications/cancelled":
            params = message.get("params")
            running = self._running.get((session, _key(params)))
            if running is None:
                return False
            running.cancel()
            return True
        asked = self._asked.pop((session, str(message.get("id"))), None)
        if asked is None:
            return False
        if not asked.done():
            asked.set_result(message)
        return True

    async def _allowed(self, scope: Scope) -> bool:
        """Whether the SDK's DNS-rebinding check lets the POST of ``scope`` through, asked
        once for each set of the headers it reads."""
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _CHECKED_HEADERS and name not in found:
                found[name] = value  # the first of a repeated header, as the check reads it
        key = tuple(found.get(name) for name in _CHECKED_HEADERS)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = await self._security.validate_request(Request(scope), is_post=True) is None
            if len(self._verdicts) >= _VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    async def _take_modern(
        self, scope: Scope, body: bytes, who: str | None, receive: Receive, send: Send
    ) -> bool:
        message = _parsed(body)
        if type(message) is not dict or message.get("method") != "tools/call":
            return False
        rid, params = message.get("id"), message.get("params")
        if not isinstance(params, dict):
            return False
        meta = params.get("_meta")
        tool = str(params.get("name")).encode()
        if (
            not isinstance(rid, str | int)
            or isinstance(rid, bool)
            or not isinstance(meta, dict)
            or meta.get(mt.PROTOCOL_VERSION_META_KEY) != mcp.MODERN_VERSION
        ):
            return False
        named: dict[bytes, bytes] = {}
        for header, value in scope.get("headers", ()):
            if header.startswith(_PARAM_HEADERS):
                return False
            named[header] = value
        if (
            named.get(_METHOD_HEADER, b"").strip(_OWS) != b"tools/call"
            or named.get(_NAME_HEADER, b"").strip(_OWS) != tool
            or b"text/event-stream" not in named.get(b"accept", b"")
            or self._mirrored(params, who)
            or not await self._allowed(scope)
        ):
            # The SDK refuses a call whose standard headers are missing or differ from its
            # body (-32020), and checks the Mcp-Param-* headers against the tool's schema.
            return False
        level, caps = meta.get(mt.LOG_LEVEL_META_KEY), meta.get(mt.CLIENT_CAPABILITIES_META_KEY)
        facts = Facts(
            caps if isinstance(caps, dict) else {}, level if isinstance(level, str) else None
        )
        plain = _JSON in named.get(b"accept", b"")
        call = _Call(None, rid, params, mcp.MODERN_VERSION, facts, who, plain)
        await self._serve(call, receive, send)
        return True

    def _mirrored(self, params: dict[str, Any], who: str | None) -> bool:
        """Whether the call's arguments hold one its tool mirrors into an ``Mcp-Param-*``
        header (``x-mcp-header``): it came without that header, which the SDK refuses."""
        schema = self.tools.input_schema(str(params.get("name")), who)
        if schema is None:
            return False
        known = self._mirrors.get(id(schema))
        if known is None or known[0] is not schema:
            properties = schema.get("properties")
            names = frozenset(
                name
                for name, spec in (properties.items() if isinstance(properties, dict) else ())
                if isinstance(spec, dict) and "x-mcp-header" in spec
            )
            if len(self._mirrors) >= _VERDICTS:
                self._mirrors.clear()
            known = self._mirrors[id(schema)] = (schema, names)
        arguments = params.get("arguments")
        return bool(known[1]) and isinstance(arguments, dict) and not known[1].isdisjoint(arguments)

    async def _serve(self, call_: _Call, receive: Receive, send: Send) -> None:
        session, rid, params, version, facts, who = (
            call_.session,
            call_.rid,
            call_.params,
            call_.version,
            call_.facts,
            call_.who,
        )
        head = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache, no-transform"),
        ]
        if session is not None:
            head.append((_SESSION_HEADER, session.encode("latin-1")))
        # Made by the first message before the answer: most calls send the answer alone.
        sending: asyncio.Lock | None = None
        streaming = ended = False

        async def stream() -> None:
            # The response starts as events at the first message before the answer.
            nonlocal streaming
            if not streaming:
                streaming = True
                await send({"type": "http.response.start", "status": 200, "headers": head})

        async def emit(frame: dict[str, Any]) -> None:
            nonlocal sending
            if sending is None:
                sending = asyncio.Lock()
            async with sending:
                if ended:
                    return  # a late line of the upstream's: the answer has gone
                await stream()
                await send({"type": "http.response.body", "body": _event(frame), "more_body": True})

        async def finish(frame: dict[str, Any] | None) -> None:
            nonlocal ended
            ended = True  # from here on, a late line of the upstream's is dropped
            if frame is not None and not streaming and call_.plain:
                # Nothing came before the answer: it goes as one JSON body, an error with
                # the HTTP status 2026-07-28 gives its code (as the SDK's handler does).
                status = 200
                error = frame.get("error")
                if version == mcp.MODERN_VERSION and type(error) is dict:
                    code = error.get("code")
                    status = ERROR_CODE_HTTP_STATUS.get(code, 200) if type(code) is int else 200
                await _answer(send, _json.dumps_utf8(frame), head[2:], status)
            else:
                await stream()
                last = b"" if frame is None else _event(frame)
                await send({"type": "http.response.body", "body": last, "more_body": False})

        async def end(frame: dict[str, Any] | None) -> None:
            if sending is None:
                await finish(frame)  # nothing was sent before: nothing is being sent now
                return
            async with sending:
                await finish(frame)

        async def notify(method: str, note: dict[str, Any]) -> None:
            await emit({"jsonrpc": "2.0", "method": method, "params": note})

        async def progress(note: dict[str, Any]) -> None:
            await notify(PROGRESS, note)

        async def ask(method: str, asked: dict[str, Any]) -> dict[str, Any]:
            request_id = f"effmesh-{next(self._ids)}"
            answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._asked[(session or "", request_id)] = answer
            try:
                await emit({"jsonrpc": "2.0", "id": request_id, "method": method, "params": asked})
                reply = await answer
            finally:
                self._asked.pop((session or "", request_id), None)
            if isinstance(reply.get("result"), dict):
                return dict(reply["result"])
            error = reply.get("error")
            if isinstance(error, dict):
                raise mcp.decode_error(error)
            raise Canceled("the client answered with no result")

        async def elicit(request: dict[str, Any]) -> dict[str, Any]:
            if "elicitation" not in facts.capabilities:
                raise Unsupported("the client cannot answer elicitation requests")
            try:
                return await ask(request["method"], request["params"])
            except EffmeshError:
                raise Canceled("the user did not answer") from None

        relay = FrameRelay(
            who, version, capabilities=facts.capabilities, level=facts.level, ask=ask, notify=notify
        )

        # The call runs in this request's own task: no task of its own, and nothing to wait
        # on two things at once. Its client leaving, or its cancel, cancels this task.
        task = asyncio.current_task()
        assert task is not None  # a request is served in a task
        stop = _Stop(task, receive)
        if session is not None:
            self._running[(session, rid)] = stop
        caller = CALLER.set(relay)
        frame: dict[str, Any] | None = None
        try:
            result = await self.tools.call(
                params, who=who, version=version, progress=progress, elicit=elicit
            )
            if version == mcp.MODERN_VERSION and self.server_info is not None:
                # As the SDK does for every 2026-07-28 result: say which server answered.
                meta = result.get("_meta")
                meta = meta if isinstance(meta, dict) else {}
                result["_meta"] = {mt.SERVER_INFO_META_KEY: self.server_info, **meta}
            frame = {"jsonrpc": "2.0", "id": rid, "result": result}
        except EffmeshError as exc:
            frame = mcp.error_response(exc, rid)
        except asyncio.CancelledError:
            if not stop.stopped:
                raise  # not the client's doing (the server is stopping): it goes on
            task.uncancel()
        finally:
            stop.finish()
            CALLER.reset(caller)
            if session is not None:
                self._running.pop((session, rid), None)
        if not stop.left:
            await end(frame)


class _Stop:
    """How a call served in a request's task ends early: the client leaves (its connection
    closes), or it sends ``notifications/cancelled``; either cancels that task, as MCP's
    cancel does. ``stopped`` tells such a cancel from one of the server's own."""

    __slots__ = ("_later", "_receive", "_watcher", "finished", "left", "stopped", "task")

    def __init__(self, task: asyncio.Task[Any], receive: Receive) -> None:
        self.task = task
        self.stopped = False
        self.left = False
        self.finished = False
        """The call has ended: nothing cancels the task any more."""
        self._receive = receive
        self._watcher: asyncio.Task[None] | None = None
        # Most calls end sooner: they need no watcher (a task of its own, started, then
        # cancelled). A client that left meanwhile is found as the watcher starts.
        self._later = asyncio.get_running_loop().call_later(WATCH_AFTER, self._watch)

    def cancel(self) -> None:
        if not self.finished and not self.stopped:
            self.stopped = True
            self.task.cancel()

    def finish(self) -> None:
        self.finished = True
        self._later.cancel()
        if self._watcher is not None:
            self._watcher.cancel()

    def _watch(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._wait_for_leave())

    async def _wait_for_leave(self) -> None:
        await _disconnected(self._receive)
        self.left = True
        self.cancel()


def _parsed(body: bytes) -> Any:
    """The message in ``body``, which the endpoint's envelope check has read already (UTF-8,
    no repeated names, no NaN, not too deep): orjson reads it the same, faster. A body it
    cannot read (an integer beyond 64 bits) is read as the check read it; None if neither
    can."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return _json.loads(body)
    except (ValueError, EffmeshError):
        return None


def _key(params: Any) -> str | int | None:
    key = params.get("requestId") if isinstance(params, dict) else None
    return key if isinstance(key, str | int) and not isinstance(key, bool) else None


def _awaited(message: dict[str, Any]) -> str | int | None:
    """The request id a client's message answers (a response) or cancels; None for any
    other message."""
    method = message.get("method")
    if method == "notifications/cancelled":
        return _key(message.get("params"))
    rid = message.get("id")
    if method is None and isinstance(rid, str | int) and not isinstance(rid, bool):
        return rid
    return None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _answer(
    send: Send, body: bytes, extra: list[tuple[bytes, bytes]], status: int = 200
) -> None:
    head = [(b"content-type", b"application/json"), *extra]
    head.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def _accepted(send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})
