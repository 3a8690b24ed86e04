"""The gateway's own model answering an upstream MCP server's ``sampling/createMessage``, for
a caller that cannot (an A2A or ACP client, an MCP client that declared no sampling), when
the remote agent is configured so (``sampling = "model"``).

The request's text messages and system prompt become one chat completion on the model's
backend; its answer goes back as a ``CreateMessageResult`` naming the model. What the model
cannot take (images, audio, tool use) is refused in MCP's own words, never dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from adapters.errors import InvalidParams, Unsupported
from agents.llm.backend import ModelBackend
from agents.llm.wire import ChatRequest

Sampler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Answers a ``sampling/createMessage`` request (its wire params) with its wire result."""

MAX_TOKENS: Final = 512
"""Tokens one answer may take at most, whatever the server asks: the model is shared."""
_ROLES: Final = {"user": "user", "assistant": "assistant"}


def _text(content: Any, path: str) -> str:
    blocks = content if isinstance(content, list) else [content]
    texts = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind != "text" or not isinstance(block.get("text"), str):
            raise Unsupported(f"the gateway's model reads text only, not {kind!r:.20} at {path}")
        texts.append(block["text"])
    return "\n".join(texts)


def chat_request(params: dict[str, Any]) -> ChatRequest:
    """The chat completion that answers a ``sampling/createMessage`` request.

    Raises:
        Unsupported: it asks for tool use, or has content other than text.
        InvalidParams: it has no messages, or a message of an unknown role.
    """
    if params.get("tools") or params.get("toolChoice"):
        raise Unsupported("the gateway's model does not sample with tools")
    messages: list[dict[str, str]] = []
    system = params.get("systemPrompt")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    raw = params.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidParams("needs messages", path="params.messages")
    for i, message in enumerate(raw):
        role = _ROLES.get(str(message.get("role"))) if isinstance(message, dict) else None
        if role is None:
            raise InvalidParams("unknown role", path=f"params.messages[{i}].role")
        messages.append({"role": role, "content": _text(message.get("content"), f"messages[{i}]")})
    wanted = params.get("maxTokens")
    tokens = wanted if isinstance(wanted, int) and 0 < wanted < MAX_TOKENS else MAX_TOKENS
    temperature = params.get("temperature")
    stop = params.get("stopSequences")
    return ChatRequest(
        messages,
        max_tokens=tokens,
        temperature=float(temperature) if isinstance(temperature, int | float) else 0.0,
        stop=tuple(s for s in stop if isinstance(s, str)) if isinstance(stop, list) else (),
    )


class ModelSampler:
    """Sampling answered by ``backend`` (a ``[models]`` entry's)."""

    def __init__(self, backend: ModelBackend) -> None:
        self.backend = backend

    async def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        """Raises EffmeshError: the request cannot be answered, or the model failed."""
        reply = await self.backend.chat(chat_request(params))
        return {
            "role": "assistant",
            "content": {"type": "text", "text": reply.text},
            "model": reply.model or self.backend.model or self.backend.name,
            "stopReason": "maxTokens" if reply.finish_reason == "length" else "endTurn",
        }
