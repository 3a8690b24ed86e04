"""One ``tools/call`` on an upstream's session, in wire JSON, past the SDK's client session.

A tool call is the request a gateway sends over and over. Through the SDK's ``ClientSession``
each one is a pydantic request model, a dispatcher entry, memory streams, a task per HTTP
POST and httpx2's request and response models, then the result model dumped back to JSON:
most of the gateway's CPU time on a call to a remote MCP server (``benchmarks/hop.py``).
Here the call is one JSON-RPC request written as it goes on the wire, on the SDK session's
own id and protocol revision, and its answer is read as JSON: the messages the server sends
while it works (progress, log lines, requests back to the client) reach the call's
:class:`Handlers`, and the response ends it.

The transports (:mod:`agents.remote.mcp_http`, :mod:`agents.remote.mcp_stdio`) move the
bytes; :class:`Exchange` is what they share: the request, and the routing of each message
that comes back for it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from adapters import _json

PROGRESS: Final = "notifications/progress"
LOG: Final = "notifications/message"
PARSE_ERROR: Final = -32700

Answer = dict[str, Any]
"""A JSON-RPC answer's body: ``{"result": ...}`` or ``{"error": ...}``."""


class SessionLost(Exception):
    """The server no longer knows the session the call was sent in."""


class NotTaken(Exception):
    """The server answered in a way this path does not follow (a redirect): nothing of the
    call was served, so the SDK's client may send it instead."""


@dataclass(frozen=True, slots=True)
class Handlers:
    """Where the messages a server sends during one call go."""

    progress: Callable[[dict[str, Any]], Awaitable[None]]
    """A ``notifications/progress`` for the call: its params."""
    notify: Callable[[str, dict[str, Any]], Awaitable[None]]
    """Any other notification (log lines first of all): its method and params."""
    ask: Callable[[str, dict[str, Any]], Awaitable[Answer]]
    """A request back to the client (sampling, elicitation, roots): its method and params;
    returns the answer to send back."""


class FastCalls(Protocol):
    """A transport's side door for tool calls on a session the SDK's client opened."""

    def ready(self, version: str | None) -> bool:
        """Whether a call may go this way on a session of protocol revision ``version``."""
        ...

    async def call(self, params: dict[str, Any], version: str, handlers: Handlers) -> Answer:
        """Send ``tools/call`` with ``params``; the server's answer to it.

        Raises:
            SessionLost: the server has forgotten the session.
            NotTaken: the call was not served; the SDK may send it.
            OSError: the server cannot be reached or broke the connection.
        """
        ...


_IDS = itertools.count(1)


class Exchange:
    """One call's request and the routing of what comes back for it. The request id and
    progress token are strings of effmesh's own, never the integers the SDK's session
    numbers its requests with, so the two share a session without a clash."""

    def __init__(self, params: dict[str, Any], handlers: Handlers) -> None:
        self.id = f"effmesh-{next(_IDS)}"
        meta = params.get("_meta")
        # As the SDK's session does for a call with a progress callback: the request's own
        # id is its progress token (the caller's token is the gateway's, not the upstream's).
        meta = {**(meta if isinstance(meta, dict) else {}), "progressToken": self.id}
        self.handlers = handlers
        self.request = _json.dumps_utf8(
            {
                "jsonrpc": "2.0",
                "id": self.id,
                "method": "tools/call",
                "params": {**params, "_meta": meta},
            }
        )
        self.answer: Answer | None = None
        self._asking: set[asyncio.Task[None]] = set()

    async def take(self, message: Any, reply: Callable[[bytes], Awaitable[None]]) -> bool:
        """Route one message from the server; True once it is the call's answer. ``reply``
        sends the answer to a request back to the client."""
        if type(message) is not dict:
            self.answer = {"error": {"code": PARSE_ERROR, "message": "not a JSON-RPC message"}}
            return True
        method = message.get("method")
        if method is None:
            if message.get("id") != self.id:
                return False
            if "error" in message:
                self.answer = {"error": message["error"]}
            else:
                self.answer = {"result": message.get("result")}
            return True
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if "id" in message:
            # Answered apart from this loop, which must go on reading (progress, the answer).
            task = asyncio.get_running_loop().create_task(
                self._answer(message["id"], str(method), params, reply)
            )
            self._asking.add(task)
            task.add_done_callback(self._asking.discard)
        elif method == PROGRESS and params.get("progressToken") == self.id:
            await self.handlers.progress(params)
        else:
            await self.handlers.notify(str(method), params)
        return False

    async def _answer(
        self,
        rid: Any,
        method: str,
        params: dict[str, Any],
        reply: Callable[[bytes], Awaitable[None]],
    ) -> None:
        answer = await self.handlers.ask(method, params)
        await reply(_json.dumps({"jsonrpc": "2.0", "id": rid, **answer}))

    def cancelled(self) -> bytes:
        """The ``notifications/cancelled`` that tells the server the call is abandoned."""
        for task in self._asking:
            task.cancel()
        note = {"requestId": self.id, "reason": "the caller cancelled the call"}
        return _json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": note})

    def finish(self) -> None:
        """The call ended: requests back to the client still open are abandoned."""
        for task in self._asking:
            task.cancel()
