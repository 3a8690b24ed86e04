"""A 2026-07-28 server's questions handed to the caller, with nothing held open between the
rounds, so that any gateway replica (or the gateway restarted) can send the caller's answer on.

A 2026-07-28 server asks inside a call's result: ``input_required`` with its requests (several
at once, each under a key of its own) and its own ``requestState``. The call is then over, on
the server's side as on the gateway's; the client retries it with its responses and that
state. When the caller speaks 2026-07-28 too, the gateway is a go-between: the requests reach
the caller as its own call's ``input_required`` (under the gateway's ``requestState``,
``gateway.runtime.paused``), and what the gateway needs to send the retry (the tool, its
arguments, the server's state) is a :class:`Round`, kept with the gateway's paused task in the
task store (the agent's :meth:`~agents.base.KeepsConversations.waiting` note), never shown to
the caller. Whichever replica the caller's retry reaches sends it to the server. An A2A or
ACP caller, which answers in words, is handed a server's one elicitation as its task's
question, and its next message makes the answer (a round of several such questions is asked
of it one after another, the call held open in this process).

A request the caller did not declare it can answer is answered by the gateway as a
handshake-era server's is (``Upstream.answer``: sampling by the gateway's model when so
configured, else refused in MCP's words, which ends the call as the SDK's client ends it);
its answer is kept in the round and sent with the caller's. A result with a state and no
requests asks only to be asked again: it is, after a short wait, as the SDK's client does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import mcp_types as mt
from pydantic import TypeAdapter, ValidationError

from adapters import mcp
from adapters.errors import InvalidParams, UpstreamUnavailable
from adapters.model import JSON
from agents.remote.mcp_relay import CALLER, Relay
from agents.remote.mcp_upstream import Upstream

MAX_ROUNDS: Final = 10
"""Rounds one call may take in a row without reaching the caller (the SDK client's cap)."""
STATE_ONLY_WAIT: Final = (0.05, 0.25)
"""The first and the longest wait before asking again after a result with only a state."""
INPUT_REQUIRED: Final = "input_required"
_RESPONSES: Final = TypeAdapter(mt.InputResponses)

Progress = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Round:
    """What the gateway sends a call's retry with: the call as first sent, the server's
    ``requestState``, and the gateway's own answers to the requests the caller was not
    given."""

    name: str
    arguments: dict[str, Any] | None
    meta: dict[str, Any] | None
    state: str | None
    asked: tuple[str, ...]
    """The keys of the requests handed to the caller: its retry answers these."""
    answered: dict[str, Any] = field(default_factory=dict)
    form: dict[str, Any] | None = None
    """The one elicitation handed to a caller that answers in words (an A2A or ACP
    caller's next message), whose answer is made from its reply."""

    def note(self) -> JSON:
        """As stored with the paused task (plain JSON)."""
        return {
            "mcp.round": {
                "name": self.name,
                "arguments": self.arguments,
                "meta": self.meta,
                "state": self.state,
                "asked": list(self.asked),
                "answered": self.answered,
                "form": self.form,
            }
        }

    @classmethod
    def of_note(cls, note: JSON) -> Round | None:
        """The round a stored note names (None: not one, or malformed)."""
        kept = note.get("mcp.round") if isinstance(note, dict) else None
        if not isinstance(kept, dict) or not isinstance(kept.get("name"), str):
            return None
        arguments, meta, state = kept.get("arguments"), kept.get("meta"), kept.get("state")
        asked, answered, form = kept.get("asked"), kept.get("answered"), kept.get("form")
        if not (
            (arguments is None or isinstance(arguments, dict))
            and (meta is None or isinstance(meta, dict))
            and (state is None or isinstance(state, str))
            and isinstance(asked, list)
            and all(isinstance(k, str) for k in asked)
            and isinstance(answered, dict)
            and (form is None or (isinstance(form, dict) and len(asked) == 1))
        ):
            return None
        return cls(kept["name"], arguments, meta, state, tuple(asked), answered, form)

    def params(self) -> dict[str, Any]:
        """The ``tools/call`` params the call was first sent with."""
        params: dict[str, Any] = {"name": self.name}
        if self.arguments is not None:
            params["arguments"] = self.arguments
        if self.meta is not None:
            params["_meta"] = self.meta
        return params

    def responses(self, given: Any) -> dict[str, Any]:
        """The retry's ``inputResponses``: the caller's (``given``, as it sent them) for the
        requests it was handed, with the gateway's own.

        Raises:
            InvalidParams: the caller's responses are not an object of valid responses to
                every request it was handed, and to those alone.
        """
        path = "params.inputResponses"
        if not isinstance(given, dict) or set(given) != set(self.asked):
            raise InvalidParams(f"needs a response to each of {sorted(self.asked)}", path=path)
        try:
            _RESPONSES.validate_python(given, by_name=False)
        except ValidationError:
            raise InvalidParams("not valid input responses", path=path) from None
        return {**self.answered, **given}


async def _send(
    upstream: Upstream,
    params: dict[str, Any],
    noted: Progress,
    responses: dict[str, Any] | None,
    state: str | None,
) -> dict[str, Any]:
    """One ``tools/call`` round on the server, its result as wire JSON (``input_required``
    included)."""

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        note: dict[str, Any] = {"progress": progress, "total": total, "message": message}
        await noted({k: v for k, v in note.items() if v is not None})

    wire = dict(params)
    if responses is not None:
        wire["inputResponses"] = responses
    if state is not None:
        wire["requestState"] = state
    found = await upstream.call_round(wire, noted, CALLER.get())
    if found is not None:
        return found
    typed = None if responses is None else _RESPONSES.validate_python(responses, by_name=False)

    async def send(client: Any) -> Any:
        return await client.session.call_tool(
            params["name"],
            params.get("arguments"),
            progress_callback=on_progress,
            input_responses=typed,
            request_state=state,
            meta=params.get("_meta"),
            allow_input_required=True,
        )

    result = await upstream.request(send)
    return dict(result.model_dump(by_alias=True, mode="json", exclude_none=True))


async def call(
    upstream: Upstream,
    relay: Relay,
    params: dict[str, Any],
    noted: Progress,
    *,
    kept: Round | None = None,
    given: Any = None,
    in_words: bool = False,
    first: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Round | None]:
    """The call ``params`` (or, with ``kept``, its retry with the caller's responses
    ``given``) on the server until it is answered or asks what only ``relay``'s caller can
    answer: its result, or an ``input_required`` result with the caller's requests alone
    and the :class:`Round` to keep for the retry.

    A caller that answers ``in_words`` (an A2A or ACP caller's next message; its relay
    asks elicitations alone) is handed one question at a time: a round of several is
    asked of it through ``relay`` in this process, one after another, as the SDK's client
    would ask them.

    ``first``: the server's result of the call's first round, when it was sent already.

    Raises:
        InvalidParams: ``given`` does not answer the kept round's requests.
        EffmeshError: the server's error, or a request the gateway was asked to answer and
            could not (the server is told why, and so is the caller).
    """
    responses: dict[str, Any] | None = None
    state: str | None = None
    if kept is not None:
        params = {**kept.params(), "_meta": {**(kept.meta or {}), **params.get("_meta", {})}}
        responses, state = kept.responses(given), kept.state
    wait = STATE_ONLY_WAIT[0]
    for _ in range(MAX_ROUNDS):
        if first is not None:
            result, first = first, None
        else:
            result = await _send(upstream, params, noted, responses, state)
        if result.get("resultType") != INPUT_REQUIRED:
            return result, None
        requests = result.get("inputRequests") or {}
        found = result.get("requestState")
        state = found if isinstance(found, str) else None
        if not isinstance(requests, dict):
            raise UpstreamUnavailable(f"MCP agent {upstream.name!r} asked in a way not valid MCP")
        if not requests:
            await asyncio.sleep(wait)
            wait, responses = min(wait * 2, STATE_ONLY_WAIT[1]), None
            continue
        wait = STATE_ONLY_WAIT[0]
        theirs: dict[str, Any] = {}
        answered: dict[str, Any] = {}
        for key, request in requests.items():
            method = request.get("method") if isinstance(request, dict) else None
            asked = request.get("params") if isinstance(request, dict) else None
            if isinstance(method, str) and relay.can_answer(method):
                theirs[key] = request
                continue
            answer = await upstream.answer(
                relay, str(method), asked if isinstance(asked, dict) else {}
            )
            if "error" in answer:
                error = answer["error"]
                raise mcp.decode_error(error if isinstance(error, dict) else {})
            answered[key] = answer["result"]
        if in_words and len(theirs) > 1:
            for key, request in theirs.items():
                answer = await upstream.answer(relay, request["method"], request.get("params", {}))
                if "error" in answer:
                    error = answer["error"]
                    raise mcp.decode_error(error if isinstance(error, dict) else {})
                answered[key] = answer["result"]
            theirs = {}
        if not theirs:
            responses = answered
            continue
        name, arguments = params["name"], params.get("arguments")
        form = None
        if in_words:
            (only,) = theirs.values()
            form = only.get("params") if isinstance(only.get("params"), dict) else {}
        kept = Round(name, arguments, params.get("_meta"), state, tuple(theirs), answered, form)
        return {"resultType": INPUT_REQUIRED, "inputRequests": theirs}, kept
    raise UpstreamUnavailable(
        f"MCP agent {upstream.name!r} asked for input {MAX_ROUNDS} times in a row"
    )
