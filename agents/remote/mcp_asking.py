"""An upstream MCP server's question to a caller that cannot be asked in the middle of a call
(an A2A or ACP client, a router's subtask): it becomes the task's input-required, as the
echo agent's ``ask`` skill does, and the task's next message answers it.

The upstream's call stays open while the task waits: the agent parks it under the task's id
(the gateway continues a task only for its owner) and picks it up when the task resumes.
A question left unanswered for the agent's timeout cancels the call upstream.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from adapters.errors import InvalidParams
from adapters.model import DataPart, Message, ProgressEvent, TextPart
from agents.remote.mcp_relay import ELICITATION


class AskingRelay:
    """The relay of a caller with no channel back: its questions wait in ``questions``."""

    def __init__(self, key: str) -> None:
        self.principal: str | None = key
        """Unique to the call: another call's requests are never routed here."""
        self.questions: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]
        self.questions = asyncio.Queue()

    def can_answer(self, method: str) -> bool:
        return method == ELICITATION

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await self.questions.put((params, answer))
        return await answer

    async def log(self, params: dict[str, Any]) -> None:
        return  # no channel for log lines to such a caller


@dataclass
class Parked:
    """A call waiting for the answer to its upstream's question."""

    call: asyncio.Future[dict[str, Any]]
    updates: asyncio.Queue[ProgressEvent | None]
    """The call's progress, ended by None when the call is done."""
    relay: AskingRelay
    question: dict[str, Any]
    answer: asyncio.Future[dict[str, Any]]
    expiry: asyncio.TimerHandle


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


def elicitation_answer(question: dict[str, Any], reply: Message) -> dict[str, Any]:
    """The ``ElicitResult`` a task's next message gives: a data part is the form's content;
    text fills a one-field form, or is the form's content as a JSON object; a URL question
    is accepted by any reply; an empty reply declines.

    Raises:
        InvalidParams: the reply cannot fill the form.
    """
    if "url" in question:
        return {"action": "accept"}
    for part in reply.parts:
        if isinstance(part, DataPart) and isinstance(part.data, dict):
            return {"action": "accept", "content": part.data}
    text = "".join(p.text for p in reply.parts if isinstance(p, TextPart)).strip()
    if not text:
        return {"action": "decline"}
    schema = question.get("requestedSchema")
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
    return {"action": "accept", "content": content}
