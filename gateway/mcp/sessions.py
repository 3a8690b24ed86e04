"""Who owns each MCP session of the streamable HTTP endpoint, and how many each may hold.

A session (``mcp-session-id``) belongs to the principal whose initialize request the SDK
answered with it. A request that names another principal's session is answered exactly as
the SDK answers an unknown session (404 and the same JSON-RPC error), so a caller cannot
tell the two apart. Each principal may hold ``per_owner`` sessions open at once: an
initialize beyond that is refused with a rate-limit error, so one tenant cannot fill the
SDK's global session limit and lock the others out. With no tokens in use (principal None)
there is no per-owner limit, only the SDK's.

Tool calls in a session go to ``lean`` (``gateway.mcp.lean``) when it takes them, which
learns each session's client capabilities from its initialize request here.

A session is forgotten when it is deleted, when a request for it is answered 404 (the SDK
dropped it), and, as the limit is reached, when the SDK no longer holds it (an idle session
it closed).

Replicas sharing a store share their sessions (``book``, ``channel``): a session is recorded
in the book as it opens, and a request naming a session this replica does not hold takes it
up from the book (``gateway.mcp.cluster``) when its owner sent it, and is answered 404 as an
unknown session otherwise. A client's answer or cancel that nothing here waits for is
forwarded over the channel to the replica that does; a notification of the pass-through for
a session whose GET stream another replica holds goes there; a session deleted on one
replica is closed on all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Any, Final

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters import _json
from adapters.errors import RateLimited
from gateway import bodies
from gateway.errors import http_error
from gateway.mcp import cluster
from gateway.mcp.lean import LeanCalls
from gateway.mcp.passthrough import Passthrough
from gateway.runtime.channel import Channel, Forwarded, LocalChannel
from gateway.runtime.sessions import LocalSessions, SessionBook, StoredSession
from gateway.security.guard import principal_of

log = logging.getLogger(__name__)

_HEADER: Final = MCP_SESSION_ID_HEADER.encode()
NOT_FOUND: Final = (
    JSONRPCError(
        jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message="Session not found")
    )
    .model_dump_json(by_alias=True, exclude_unset=True)
    .encode()
)
"""The SDK's own answer to an unknown session id (with status 404)."""


def _initialize(body: bytes) -> dict[str, Any] | None:
    """The request in ``body`` if it is an ``initialize``."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if isinstance(request, dict) and request.get("method") == "initialize":
        return request
    return None


class McpSessions:
    """Pure ASGI: wraps the SDK's streamable HTTP app (``app``) of ``manager``. On the event
    loop; not thread-safe."""

    def __init__(
        self,
        app: ASGIApp,
        manager: StreamableHTTPSessionManager,
        *,
        per_owner: int,
        lean: LeanCalls | None = None,
        book: SessionBook | None = None,
        channel: Channel | None = None,
        upstreams: Passthrough | None = None,
    ) -> None:
        """``upstreams``: the pass-through of the MCP server behind ``app``, whose
        notifications for a session's GET stream held by another replica go there."""
        self.app = app
        self.manager = manager
        self.per_owner = per_owner
        self.lean = lean
        self.book: SessionBook = book or LocalSessions()
        self.channel: Channel = channel or LocalChannel()
        self._owners: dict[str, str | None] = {}
        self._taking: dict[str, asyncio.Future[None]] = {}
        """Sessions being taken up from the book, for requests that come meanwhile."""
        self._listening: dict[str, int] = {}
        """The sessions whose GET stream this replica holds (how many)."""
        self._sending: set[asyncio.Task[object]] = set()
        if self.book.shared:
            self.channel.hear(self._heard)
            if lean is not None:
                lean.forward = self._forward_in
                lean.noted_level = self.book.level
            if upstreams is not None:
                upstreams.elsewhere = self._elsewhere

    def _forward_in(self, session: str, key: str | int, body: bytes) -> None:
        self.channel.forward(session, "in", body, key)

    def _elsewhere(self, session: str, notification: dict[str, Any]) -> bool:
        """Send ``notification``, for the GET stream of ``session``, to the replica that
        holds the stream if this one does not; whether it went there."""
        if self._listening.get(session):
            return False
        self.channel.forward(session, "out", _json.dumps(notification))
        return True

    def owner(self, session_id: str) -> str | None:
        return self._owners.get(session_id)

    def open(self, who: str | None) -> int:
        """How many sessions ``who`` holds open (after forgetting those the SDK closed)."""
        # The SDK has no hook for a session it closes when idle: compare with what it holds.
        live = self.manager._server_instances
        for gone in [s for s in self._owners if s not in live]:
            self._forget(gone)
        return sum(1 for owner in self._owners.values() if owner == who)

    def _forget(self, session: str) -> None:
        self._owners.pop(session, None)
        if self.lean is not None:
            self.lean.closed(session)

    async def _take_up(self, session: str, who: str | None) -> None:
        """Hold ``session`` here if the book has it as ``who``'s (another replica opened
        it); another owner's is left unknown here."""
        pending = self._taking.get(session)
        if pending is not None:
            await asyncio.shield(pending)
            return
        stored = self.book.load(session)
        if stored is None or stored.owner != who or session in self._owners:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._taking[session] = done
        try:
            await cluster.revive(self.manager, stored)
        except ValidationError:
            log.warning("MCP session %s: its stored handshake is not valid", session[:64])
            return
        finally:
            del self._taking[session]
            done.set_result(None)
        self._owners[session] = stored.owner
        if self.lean is not None:
            self.lean.opened(session, {"params": stored.client})
            self.lean.facts[session].level = stored.level

    def _heard(self, heard: Forwarded) -> None:
        """A message another replica forwarded, or a session it closed."""
        session = heard.session
        if heard.direction == "closed":
            if session in self._owners:
                self._forget(session)
                self._soon(cluster.close(self.manager, session))
            return
        if heard.direction == "out":
            if self._listening.get(session):
                body = self.channel.take(heard.message_id)
                if body is not None:
                    self._soon(cluster.notify(self.manager, session, _json.loads(body)))
            return
        lean = self.lean
        if heard.key is None or lean is None or not lean.waits(session, heard.key):
            return
        body = self.channel.take(heard.message_id)
        if body is not None:
            lean.deliver(session, _json.loads(body))

    def _soon(self, work: Coroutine[Any, Any, object]) -> None:
        sending = asyncio.get_running_loop().create_task(work)
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        who = principal_of(scope)
        named = dict(scope.get("headers", [])).get(_HEADER)
        if named is not None:
            session = named.decode("latin-1")
            if self.book.shared and session not in self._owners:
                await self._take_up(session, who)
            if session in self._owners and self._owners[session] != who:
                await _answer(send, 404, NOT_FOUND)
                return
            if self.lean is not None and session in self._owners and scope["method"] == "POST":
                message = await receive()
                body = message.get("body", b"")
                if await self.lean.take(
                    scope, body, session=session, who=who, receive=receive, send=send
                ):
                    return
                receive = bodies.replay(body, receive)
            listens = scope["method"] == "GET" and session in self._owners
            if listens:
                self._listening[session] = self._listening.get(session, 0) + 1
            try:
                status = await _forward(self.app, scope, receive, send)
            finally:
                if listens:
                    self._listening[session] -= 1
                    if not self._listening[session]:
                        del self._listening[session]
            deleted = scope.get("method") == "DELETE" and status is not None and status < 300
            if status == 404 or deleted:
                self._forget(session)
            if deleted:
                self.book.close(session)
                if self.book.shared:
                    self.channel.forward(session, "closed", b"")
            return
        first = await receive()
        if self.lean is not None and scope["method"] == "POST":
            body = first.get("body", b"")
            if await self.lean.take(scope, body, session=None, who=who, receive=receive, send=send):
                return
        initialize = _initialize(first.get("body", b""))
        if who is not None and initialize is not None and self.open(who) >= self.per_owner:
            err = RateLimited(f"at most {self.per_owner} open MCP sessions per caller")
            status, body, _ = http_error("/mcp", err)
            await _answer(send, status, body)
            return

        pending: list[Message] = [first]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == _HEADER:
                        session = value.decode("latin-1")
                        self._owners[session] = who
                        if initialize is not None and self.book.shared:
                            # Recorded before the client learns the id: any replica may
                            # receive its next request.
                            self.book.open(_stored(session, who, initialize))
                        if self.lean is not None and initialize is not None:
                            self.lean.opened(session, initialize)
            await send(message)

        await self.app(scope, replay, record)


def _stored(session: str, who: str | None, initialize: dict[str, Any]) -> StoredSession:
    """The record of ``session``, opened by ``who`` with ``initialize``: the revision is the
    one the SDK settles on (the client's, if the SDK serves it; else its latest)."""
    params = initialize.get("params")
    client = params if isinstance(params, dict) else {}
    asked = client.get("protocolVersion")
    version = asked if asked in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
    return StoredSession(session, who, str(version), client)


async def _forward(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int | None:
    """Run ``app``; return the status it answered with (None: it did not answer)."""
    status: int | None = None

    async def watch(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    await app(scope, receive, watch)
    return status


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
