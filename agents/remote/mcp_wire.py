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
INTERNAL_ERROR: Final = -32603
HEADER_MISMATCH: Final = -32020

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

    async def call(
        self,
        params: dict[str, Any],
        version: str,
        handlers: Handlers,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send ``tools/call`` with ``params`` (and, over HTTP, ``headers``); the server's
        answer to it.

        Raises:
            SessionLost: the server has forgotten the session.
            NotTaken: the call was not served; the SDK may send it.
            OSError: the server cannot be reached or broke the connection.
        """
        ...


INPUT_ROUNDS: Final = 10
"""``input_required`` rounds of one call at most (the SDK's client's limit too)."""
STATE_ONLY_DELAY: Final = 0.05
STATE_ONLY_DELAY_MAX: Final = 0.25
"""Seconds before calling again after an ``input_required`` that asked nothing (doubling to
the most), as the SDK's client waits."""
Stamp = Callable[[dict[str, Any], Any], None]
"""The SDK session's stamp of a request (``{"method", "params"}``, its call options): the
2026-07-28 ``_meta`` into the params, the HTTP headers into ``options["headers"]``."""


async def call_modern(
    fast: FastCalls,
    params: dict[str, Any],
    version: str,
    handlers: Handlers,
    *,
    stamp: Stamp,
    relist: Callable[[], Awaitable[None]],
    hand_on: bool = False,
) -> Answer:
    """A 2026-07-28 tool call through ``fast``: each request stamped as the SDK's client
    stamps its own (the revision, client and capabilities in ``_meta``; ``Mcp-Method``,
    ``Mcp-Name`` and the ``Mcp-Param-*`` headers of the tool's listing), and an
    ``input_required`` result carried through as that client carries it: each input request
    answered by ``handlers.ask`` (as a handshake-era server's request would be), then the
    call sent again with the answers and the server's ``requestState``. A call the server
    refuses for its headers (``HeaderMismatch``: the tool's listing the stamp knows is missing
    or old) is sent once more after ``relist``, as MCP asks of a client. With ``hand_on``, one
    round only: an ``input_required`` result is the answer, for the caller to answer (``params``
    then carry the earlier round's ``inputResponses`` and ``requestState``).

    Raises:
        as :meth:`FastCalls.call`.
    """

    async def send(params: dict[str, Any]) -> Answer:
        data: dict[str, Any] = {"method": "tools/call", "params": dict(params)}
        data["params"]["_meta"] = dict(params.get("_meta") or {})
        options: dict[str, Any] = {}
        stamp(data, options)
        return await fast.call(data["params"], version, handlers, options.get("headers"))

    delay = STATE_ONLY_DELAY
    relisted = False
    for _ in range(INPUT_ROUNDS):
        answer = await send(params)
        error = answer.get("error")
        if type(error) is dict and error.get("code") == HEADER_MISMATCH and not relisted:
            relisted = True
            await relist()
            answer = await send(params)
        result = answer.get("result")
        if hand_on or type(result) is not dict or result.get("resultType") != "input_required":
            return answer
        responses: dict[str, Any] = {}
        asked = result.get("inputRequests")
        for key, request in (asked if type(asked) is dict else {}).items():
            wire = request.get("params") if type(request) is dict else None
            method = str(request.get("method")) if type(request) is dict else ""
            reply = await handlers.ask(method, wire if type(wire) is dict else {})
            if "error" in reply:
                return reply
            responses[key] = reply["result"]
        if not responses:  # state only: the server asks to be called again, a little later
            await asyncio.sleep(delay)
            delay = min(delay * 2, STATE_ONLY_DELAY_MAX)
        params = {k: v for k, v in params.items() if k not in ("inputResponses", "requestState")}
        if responses:
            params["inputResponses"] = responses
        if isinstance(result.get("requestState"), str):
            params["requestState"] = result["requestState"]
    return {"error": {"code": INTERNAL_ERROR, "message": "the server kept asking for input"}}


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
