"""A 2026-07-28 caller's retry of a paused call, carried on by the replica that holds the call.

A handshake-era MCP server asks its client on the event stream of the call it asks in (an
``elicitation/create`` during a ``tools/call``), and waits on that stream for the answer: the
upstream call stays open in the process that made it, on replica A. Its 2026-07-28 caller
gets the question as its own ``input_required`` and retries with the answer; a load balancer
may send the retry to replica B, whose process holds no such call. The paused task names A
(``gateway.runtime.conversations.HELD``), so B hands the retry over: the retry's params, the
caller's principal and the requests it can answer go to A over the replicas' channel
(``effmesh_mcp``, direction ``call``, addressed to A's name); A serves the retry exactly as
if the caller had sent it there (its token spent there, the answer given to the waiting
upstream request, the call run to its result or to the next question, which A pauses under a
new token), and sends the wire result (or the MCP error) back to B (direction ``reply``),
which answers the caller with it.

B refuses what it can tell itself: a token that is not the caller's, spent, expired or
forged never leaves B (``gateway.runtime.paused``). A checks again, as for any retry. A says
at once that it took the retry up; when it does not within :data:`TAKEN_SECONDS` (A is gone,
and with it the upstream call), or its answer does not come within the call timeout, the
caller is told that the agent is unavailable. Progress and log lines of the carried-on call
stay on A: the caller is not on A's stream.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any, Final

from adapters import _json
from adapters import mcp as mcp_adapter
from adapters.errors import EffmeshError, InvalidParams, Unsupported, UpstreamUnavailable
from agents.remote.mcp_relay import CALLER, ELICITATION, ROOTS, SAMPLING
from gateway.runtime.channel import Channel, Forwarded

if TYPE_CHECKING:
    from gateway.mcp.tools import ToolCalls

log = logging.getLogger(__name__)

ASKED = (SAMPLING, ELICITATION, ROOTS)
TAKEN_SECONDS: Final = 5.0
"""How long the replica holding a call has to take a handed-over retry up."""
TAKEN: Final = b'{"taken":true}'
"""What the holding replica sends back first: it took the retry up."""


class HandedOver:
    """The relay of a retry served for a caller on another replica: it answers paused calls
    (2026-07-28) with the requests it declared it can answer; its log lines stay here."""

    pauses = True

    def __init__(self, principal: str | None, answers: frozenset[str]) -> None:
        self.principal = principal
        self.answers = answers

    def can_answer(self, method: str) -> bool:
        return method in self.answers

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise Unsupported(f"the caller cannot answer {method}")

    def log_level(self) -> str | None:
        return None

    async def log(self, params: dict[str, Any]) -> None:
        return None


async def _refuse(request: dict[str, Any]) -> dict[str, Any]:
    raise Unsupported("a 2026-07-28 caller is asked through its call's result")


async def _quiet(note: dict[str, Any]) -> None:
    return None


class Handover:
    """Retries handed between the replicas that share ``channel``; ``replica``: this one's
    name in the store. On the event loop; not thread-safe."""

    def __init__(self, channel: Channel, replica: str, *, timeout: float) -> None:
        self.channel = channel
        self.replica = replica
        self.timeout = timeout
        self.tools: ToolCalls | None = None
        """The tool calls that serve retries handed to this replica."""
        self._replies: dict[str, tuple[asyncio.Future[None], asyncio.Future[bytes]]] = {}
        """The retries handed over from here, by key: taken up, and answered."""
        self._serving: set[asyncio.Task[None]] = set()
        channel.hear(self._heard)

    async def carry(self, replica: str, params: dict[str, Any], who: str | None) -> dict[str, Any]:
        """The wire result of the retry ``params`` of ``who``, served by ``replica``.

        Raises:
            EffmeshError: its answer's error; UpstreamUnavailable when none comes in time.
        """
        caller = CALLER.get()
        answers = [m for m in ASKED if caller is not None and caller.can_answer(m)]
        key = secrets.token_urlsafe(12)
        body = {"params": params, "who": who, "answers": answers, "from": self.replica}
        loop = asyncio.get_running_loop()
        taken: asyncio.Future[None] = loop.create_future()
        reply: asyncio.Future[bytes] = loop.create_future()
        self._replies[key] = (taken, reply)
        try:
            self.channel.forward(replica, "call", _json.dumps(body), key)
            try:
                async with asyncio.timeout(TAKEN_SECONDS):
                    await taken
            except TimeoutError:
                raise UpstreamUnavailable("the replica holding the call is gone") from None
            try:
                async with asyncio.timeout(self.timeout):
                    answer = _json.loads(await reply)
            except TimeoutError:
                raise UpstreamUnavailable("the replica holding the call did not answer") from None
        finally:
            del self._replies[key]
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise mcp_adapter.decode_error(error if isinstance(error, dict) else {})
        result: dict[str, Any] = answer["result"]
        return result

    def _heard(self, heard: Forwarded) -> None:
        if heard.session != self.replica or heard.key is None:
            return
        if heard.direction == "reply":
            waiting = self._replies.get(str(heard.key))
            if waiting is None:
                return
            taken, reply = waiting
            body = self.channel.take(heard.message_id)
            if body is None:
                return
            if not taken.done():
                taken.set_result(None)
            if body != TAKEN and not reply.done():
                reply.set_result(body)
        elif heard.direction == "call" and self.tools is not None:
            body = self.channel.take(heard.message_id)
            request = None if body is None else _json.loads(body)
            if not isinstance(request, dict) or not isinstance(request.get("from"), str):
                return
            self.channel.forward(request["from"], "reply", TAKEN, heard.key)
            serving = asyncio.get_running_loop().create_task(self._serve(request, heard.key))
            self._serving.add(serving)
            serving.add_done_callback(self._serving.discard)

    async def _serve(self, request: dict[str, Any], key: str | int) -> None:
        """Serve one handed-over retry and send its answer back."""
        assert self.tools is not None
        who, answers = request.get("who"), request.get("answers")
        principal = who if isinstance(who, str) else None
        asks = (
            frozenset(a for a in answers if a in ASKED)
            if isinstance(answers, list)
            else frozenset()
        )
        answer: dict[str, Any]
        relay = CALLER.set(HandedOver(principal, asks))
        try:
            params = request.get("params")
            if not isinstance(params, dict):
                raise InvalidParams("needs params")
            result = await self.tools.call(
                params,
                who=principal,
                version=mcp_adapter.MODERN_VERSION,
                progress=_quiet,
                elicit=_refuse,
            )
            answer = {"result": result}
        except EffmeshError as exc:
            answer = {"error": mcp_adapter.encode_error(exc)}
        finally:
            CALLER.reset(relay)
        try:
            self.channel.forward(request["from"], "reply", _json.dumps(answer), key)
        except Exception:  # the store may be down: the caller's replica times out
            log.warning("MCP handover: the answer was not sent back", exc_info=True)
