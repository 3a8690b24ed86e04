"""An upstream MCP server's question to a caller that cannot be asked in the middle of a call:
it becomes the call's input-required, and the caller's answer carries the call on.

Two kinds of caller are asked so. An A2A or ACP client (or a router's subtask) has no channel
back: an ``elicitation/create`` becomes the task's input-required, as the echo agent's ``ask``
skill does, and the task's next message answers it. An MCP 2026-07-28 caller answers a paused
call: the question (any of ``elicitation/create``, ``sampling/createMessage``, ``roots/list``
it declared it can answer) goes back as the request of its own ``input_required`` result, as
the upstream asked it, and its retry's response goes to the upstream as it came.

The upstream's call stays open while the caller decides: the agent parks it under the task's
id (the gateway continues a task only for its owner) and picks it up when the task resumes.
A question left unanswered for the agent's timeout cancels the call upstream.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Final

from adapters.errors import InvalidParams
from adapters.mcp import INPUT_REQUESTS_KEY, INPUT_RESPONSES_KEY
from adapters.model import DataPart, Message, ProgressEvent, TextPart
from agents.remote.mcp_relay import ELICITATION, Relay

INPUT_KEY: Final = "input"
"""The key of the first request in an ``input_required`` result the agent hands back; the
requests asked with it are ``input2``, ``input3``, ... in the order the server sent them."""

Question = tuple[str, dict[str, Any], asyncio.Future[dict[str, Any]]]
"""An upstream's request waiting for the caller: its method, its params, and its answer."""


class AskingRelay:
    """The relay of a caller asked through input-required: its questions wait in
    ``questions``. ``caller``: an MCP 2026-07-28 caller's own relay (which ``pauses``), for
    its capabilities and log lines; None: a caller with no channel back at all."""

    pauses = True

    def __init__(self, key: str, caller: Relay | None = None) -> None:
        self.principal: str | None = key
        """Unique to the call: another call's requests are never routed here."""
        self.caller = caller
        self.questions: asyncio.Queue[Question] = asyncio.Queue()

    def can_answer(self, method: str) -> bool:
        if self.caller is None:
            return method == ELICITATION
        return self.caller.can_answer(method)

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await self.questions.put((method, params, answer))
        return await answer

    def log_level(self) -> str | None:
        return None if self.caller is None else self.caller.log_level()

    async def log(self, params: dict[str, Any]) -> None:
        if self.caller is not None:  # an A2A or ACP caller has no channel for log lines
            await self.caller.log(params)


@dataclass
class Parked:
    """A call waiting for the answer to its upstream's question."""

    call: asyncio.Future[dict[str, Any]]
    updates: asyncio.Queue[ProgressEvent | None]
    """The call's progress, ended by None when the call is done."""
    relay: AskingRelay
    method: str
    question: dict[str, Any]
    answer: asyncio.Future[dict[str, Any]]
    expiry: asyncio.TimerHandle
    more: tuple[Question, ...] = ()
    """The server's other requests, sent by the time the first was handed on, asked with it
    (of an MCP caller only)."""


def keys(count: int) -> list[str]:
    """The keys of ``count`` requests handed on together."""
    return [INPUT_KEY, *(f"{INPUT_KEY}{n}" for n in range(2, count + 1))]


def asked(parked: Parked, context: str | None) -> Message:
    """The input-required message of an upstream's requests: for an MCP caller the requests
    themselves (its ``input_required`` result carries them as they are, by :func:`keys`);
    for others, the one question."""
    if parked.relay.caller is not None:
        questions = [(parked.method, parked.question), *((m, p) for m, p, _ in parked.more)]
        request = {
            key: {"method": method, "params": params}
            for key, (method, params) in zip(keys(len(questions)), questions, strict=True)
        }
        return Message(
            "agent", (DataPart(request, {INPUT_REQUESTS_KEY: True}),), context_id=context
        )
    return question_message(parked.question, context)


def answers_of(parked: Parked, reply: Message) -> list[dict[str, Any]]:
    """The upstream's answers in the caller's reply, in the order of its requests: an MCP
    caller's responses as they came, or the elicitation result another caller's message
    gives (:func:`elicitation_answer`).

    Raises:
        InvalidParams: the reply does not answer every question, or cannot fill the form.
    """
    if parked.relay.caller is None:
        return [elicitation_answer(parked.question, reply)]
    given: Any = None
    for part in reply.parts:
        if isinstance(part, DataPart) and part.metadata.get(INPUT_RESPONSES_KEY):
            given = part.data
    answers = []
    for key in keys(1 + len(parked.more)):
        response = given.get(key) if isinstance(given, dict) else None
        if not isinstance(response, dict):
            path = "params.inputResponses"
            raise InvalidParams(f"needs the response to the request {key!r}", path=path)
        answers.append(response)
    return answers


def question_message(params: dict[str, Any], context_id: str | None) -> Message:
    """The input-required message for an ``elicitation/create`` request: its text, and the
    form it asks to be filled (or the URL it asks the user to visit)."""
    parts: list[TextPart | DataPart] = [TextPart(str(params.get("message", "")))]
    if isinstance(params.get("url"), str):
        parts.append(TextPart(params["url"]))
    elif isinstance(params.get("requestedSchema"), dict):
        parts.append(DataPart(params["requestedSchema"], {"mcp.requestedSchema": True}))
    return Message("agent", tuple(parts), context_id=context_id)


def _coerce(text: str, schema: Any) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        raise InvalidParams(f"the answer must be a {kind}") from None
    if kind == "boolean":
        return text.strip().lower() in ("true", "yes", "1")
    return text


def _with_defaults(content: dict[str, Any], schema: Any) -> dict[str, Any]:
    """``content`` with the form's default for every field it leaves out (SEP-1034: the
    client offers the defaults; a reply that says nothing of a field keeps its default)."""
    fields = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(fields, dict):
        return content
    defaults = {
        name: field["default"]
        for name, field in fields.items()
        if isinstance(field, dict) and "default" in field and name not in content
    }
    return {**defaults, **content}


def elicitation_answer(question: dict[str, Any], reply: Message) -> dict[str, Any]:
    """The ``ElicitResult`` a task's next message gives: a data part is the form's content;
    text fills a one-field form, or is the form's content as a JSON object; a URL question
    is accepted by any reply; an empty reply declines. Fields the reply leaves out take the
    form's defaults.

    Raises:
        InvalidParams: the reply cannot fill the form.
    """
    if "url" in question:
        return {"action": "accept"}
    schema = question.get("requestedSchema")
    for part in reply.parts:
        if isinstance(part, DataPart) and isinstance(part.data, dict):
            return {"action": "accept", "content": _with_defaults(part.data, schema)}
    text = "".join(p.text for p in reply.parts if isinstance(p, TextPart)).strip()
    if not text:
        return {"action": "decline"}
    fields = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(fields, dict) and len(fields) == 1:
        (name, field_schema), *_ = fields.items()
        return {"action": "accept", "content": {name: _coerce(text, field_schema)}}
    try:
        content = json.loads(text)
    except ValueError:
        content = None
    if not isinstance(content, dict):
        raise InvalidParams("the answer must fill the form: a JSON object or a data part")
    return {"action": "accept", "content": _with_defaults(content, schema)}
