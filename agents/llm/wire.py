"""OpenAI-compatible chat requests and replies, shaped for the server that will answer them.

Pure code: ``body`` turns a :class:`ChatRequest` into the JSON one server kind honours, and
``parse_reply`` / ``parse_chunk`` read replies back. SGLang and llama.cpp share the OpenAI
chat API but not every extension, so each kind has a capability map and a request that asks
for something its server would silently ignore is refused here instead (a constraint that is
dropped would let a small model write invalid JSON).

Shapes follow SGLang's documented API: ``response_format`` json_schema, ``regex`` and ``ebnf``
as extra body fields, ``tools`` with ``tool_choice``; native ``/generate`` takes
``sampling_params.json_schema`` as a JSON *string*. llama.cpp takes a GBNF ``grammar`` and
json_schema, and drops ``tools`` for chat templates without a tool section (SmolLM2's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from adapters.errors import Unsupported, UpstreamUnavailable


class ServerKind(StrEnum):
    SGLANG = "sglang"
    LLAMACPP = "llamacpp"
    OPENAI = "openai"


@dataclass(frozen=True, slots=True)
class Capabilities:
    tools: bool
    """Honours ``tools`` and ``tool_choice`` (returns ``tool_calls``)."""
    json_schema: bool
    regex: bool
    ebnf: bool
    gbnf: bool
    """llama.cpp's own ``grammar`` field."""
    generate: bool
    """Native ``/generate`` (SGLang)."""
    tokenize: bool
    """``/apply-template`` and ``/tokenize`` count a prompt's tokens without generating."""
    health_path: str
    info_path: str


CAPABILITIES: Mapping[ServerKind, Capabilities] = {
    ServerKind.SGLANG: Capabilities(
        tools=True,
        json_schema=True,
        regex=True,
        ebnf=True,
        gbnf=False,
        generate=True,
        tokenize=False,
        health_path="/health",
        info_path="/model_info",
    ),
    ServerKind.LLAMACPP: Capabilities(
        tools=False,
        json_schema=True,
        regex=False,
        ebnf=False,
        gbnf=True,
        generate=False,
        tokenize=True,
        health_path="/health",
        info_path="/props",
    ),
    ServerKind.OPENAI: Capabilities(
        tools=True,
        json_schema=True,
        regex=False,
        ebnf=False,
        gbnf=False,
        generate=False,
        tokenize=False,
        health_path="/v1/models",
        info_path="/v1/models",
    ),
}


@dataclass(frozen=True, slots=True)
class JsonSchema:
    schema: Mapping[str, Any]
    name: str = "reply"
    kind: Literal["json_schema"] = "json_schema"


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    kind: Literal["regex"] = "regex"


@dataclass(frozen=True, slots=True)
class Grammar:
    """A grammar in the dialect the server reads: EBNF for SGLang, GBNF for llama.cpp."""

    text: str
    kind: Literal["grammar"] = "grammar"


Constraint: TypeAlias = JsonSchema | Regex | Grammar


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call natively (servers whose capability map has ``tools``)."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[Mapping[str, str]]
    max_tokens: int = 256
    temperature: float = 0.0
    constraint: Constraint | None = None
    tools: Sequence[ToolSpec] = ()
    tool_choice: str | None = None
    """``auto``, ``required``, ``none`` or a tool's name."""
    stop: Sequence[str] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatReply:
    text: str
    finish_reason: str | None
    usage: Usage
    model: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    server: str | None = None
    """The replica (base URL) that answered."""
    seconds: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


def function_tool(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A tool as an OpenAI-style function definition (native ``tools``, or a plain prompt)."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": dict(parameters)},
    }


def body(
    kind: ServerKind, model: str | None, request: ChatRequest, *, stream: bool
) -> dict[str, Any]:
    """The ``/v1/chat/completions`` JSON for ``request`` on a server of ``kind``.

    Raises:
        Unsupported: the request needs something this server kind would ignore.
    """
    caps = CAPABILITIES[kind]
    out: dict[str, Any] = {
        "messages": [dict(m) for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if model:
        out["model"] = model
    if request.stop:
        out["stop"] = list(request.stop)
    if request.seed is not None:
        out["seed"] = request.seed
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    match request.constraint:
        case None:
            pass
        case JsonSchema(schema=schema, name=name):
            if not caps.json_schema:
                raise Unsupported(f"a {kind} server cannot constrain output to a JSON schema")
            out["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": True},
            }
        case Regex(pattern=pattern):
            if not caps.regex:
                raise Unsupported(f"a {kind} server cannot constrain output to a regex")
            out["regex"] = pattern
        case Grammar(text=text):
            if caps.ebnf:
                out["ebnf"] = text
            elif caps.gbnf:
                out["grammar"] = text
            else:
                raise Unsupported(f"a {kind} server cannot constrain output to a grammar")
    if request.tools:
        if not caps.tools:
            raise Unsupported(f"a {kind} server does not honour native tool calls")
        out["tools"] = [function_tool(t.name, t.description, t.parameters) for t in request.tools]
        choice = request.tool_choice or "auto"
        if choice in ("auto", "required", "none"):
            out["tool_choice"] = choice
        else:
            out["tool_choice"] = {"type": "function", "function": {"name": choice}}
    return out


def generate_body(text: str, request: ChatRequest) -> dict[str, Any]:
    """SGLang's native ``/generate`` JSON: ``text`` is the already templated prompt."""
    params: dict[str, Any] = {
        "max_new_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.stop:
        params["stop"] = list(request.stop)
    match request.constraint:
        case None:
            pass
        case JsonSchema(schema=schema):
            params["json_schema"] = json.dumps(schema, separators=(",", ":"), sort_keys=True)
        case Regex(pattern=pattern):
            params["regex"] = pattern
        case Grammar(text=grammar):
            params["ebnf"] = grammar
    return {"text": text, "sampling_params": params}


_MALFORMED = "the model server sent a malformed reply"


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None

    def count(value: Any) -> int:
        return value if isinstance(value, int) and value >= 0 else 0

    return Usage(
        count(raw.get("prompt_tokens")), count(raw.get("completion_tokens")), count(cached)
    )


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise UpstreamUnavailable(_MALFORMED)
    out = []
    for call in raw:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise UpstreamUnavailable(_MALFORMED)
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            raise UpstreamUnavailable(_MALFORMED) from None
        if not isinstance(parsed, dict):
            raise UpstreamUnavailable(_MALFORMED)
        out.append(ToolCall(fn["name"], parsed))
    return tuple(out)


def parse_reply(raw: Any) -> ChatReply:
    """A non-streamed ``chat.completion`` object.

    Raises:
        UpstreamUnavailable: the reply does not have the chat completion shape.
    """
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamUnavailable(_MALFORMED)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise UpstreamUnavailable(_MALFORMED)
    text = message.get("content")
    if text is not None and not isinstance(text, str):
        raise UpstreamUnavailable(_MALFORMED)
    reason = choices[0].get("finish_reason")
    model = raw.get("model")
    return ChatReply(
        text or "",
        reason if isinstance(reason, str) else None,
        _usage(raw.get("usage")),
        model if isinstance(model, str) else None,
        _tool_calls(message.get("tool_calls")),
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed ``chat.completion.chunk``: new text, and (last) the finish and usage."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None


def parse_chunk(data: str) -> Chunk | None:
    """One SSE ``data:`` payload; None for the closing ``[DONE]``.

    Raises:
        UpstreamUnavailable: the payload is not a chunk.
    """
    if data.strip() == "[DONE]":
        return None
    try:
        raw = json.loads(data)
    except ValueError:
        raise UpstreamUnavailable(_MALFORMED) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("choices", []), list):
        raise UpstreamUnavailable(_MALFORMED)
    usage = _usage(raw["usage"]) if isinstance(raw.get("usage"), dict) else None
    model = raw.get("model") if isinstance(raw.get("model"), str) else None
    choices = raw.get("choices") or []
    if not choices:
        return Chunk(usage=usage, model=model)
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict):
        raise UpstreamUnavailable(_MALFORMED)
    text = delta.get("content")
    if text is not None and not isinstance(text, str):
        raise UpstreamUnavailable(_MALFORMED)
    reason = choice.get("finish_reason")
    return Chunk(text or "", reason if isinstance(reason, str) else None, usage, model)


def parse_generate(raw: Any) -> ChatReply:
    """SGLang's ``/generate`` reply: ``text`` and ``meta_info`` token counts."""
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise UpstreamUnavailable(_MALFORMED)
    meta: dict[str, Any] = raw["meta_info"] if isinstance(raw.get("meta_info"), dict) else {}
    usage = _usage(
        {
            "prompt_tokens": meta.get("prompt_tokens"),
            "completion_tokens": meta.get("completion_tokens"),
            "prompt_tokens_details": {"cached_tokens": meta.get("cached_tokens")},
        }
    )
    reason = meta.get("finish_reason")
    if isinstance(reason, dict):
        reason = reason.get("type")
    return ChatReply(raw["text"], reason if isinstance(reason, str) else None, usage)
