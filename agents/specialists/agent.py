"""Specialist agents: a system prompt, a model backend, and tools, in a bounded loop.

One call runs like this:

1. the optimizer picks the tools relevant to the request and compacts them and the history
   to the model's size tier;
2. the prompt is laid out for the prefix cache: the fixed system prompt and tool block first,
   then history, then the volatile request (and recalled context) last;
3. while tools are on offer, the model writes one JSON step constrained by a schema (a call
   of one offered tool, or the answer); a call goes through the :class:`ToolHost` (the
   gateway's registry, so remote MCP / A2A / ACP tools count), and its result is fed back;
4. after ``max_steps`` calls, or when no tool is offered, the model answers in free text,
   streamed as artifact chunks.

The answer is the ``answer`` artifact; the ``steps`` artifact records every tool call with its
arguments and result, and the model's token usage (cached prompt tokens included).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.errors import InvalidParams, NotFound, UpstreamUnavailable, quote
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    DataPart,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent
from agents.llm.backend import ModelBackend, dumps
from agents.llm.wire import ChatRequest, JsonSchema, Usage, function_tool
from agents.memory.scope import ANONYMOUS, SCOPE_KEY
from agents.specialists import steps
from agents.specialists.optimizer import Optimized, Turn, optimize
from agents.tiers import Tier
from agents.tools.index import ToolIndex, ToolInfo

MAX_REQUEST_CHARS = 16_000


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    text: str
    data: Any = None


class ToolHost(Protocol):
    """Where a specialist finds and calls tools (the gateway implements it over its registry)."""

    def tools(self, patterns: Sequence[str]) -> list[ToolInfo]:
        """Tools whose names match ``patterns`` (exact names, or ``agent.*``)."""
        ...

    async def call(self, name: str, arguments: dict[str, Any], *, scope: str) -> ToolResult:
        """Run one tool for a caller whose memory scope is ``scope``; a tool's own failure is
        a result with ``ok=False``, not an error."""
        ...


class Memory(Protocol):
    """Where a specialist recalls from and remembers to (``SpecialistMemory``)."""

    async def recall(self, scope: str, request: str, tier: Tier) -> list[str]: ...

    async def remember(
        self, scope: str, *, agent: str, task: str, context: str | None, request: str, answer: str
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SpecialistSpec:
    name: str
    system_prompt: str
    skills: tuple[Skill, ...]
    description: str | None = None
    tools: tuple[str, ...] = ()
    force_tool: str | None = None
    tier: Tier = Tier.TINY
    max_steps: int = 3
    max_tokens: int = 256
    temperature: float = 0.0
    optimize: bool = True
    """False: every tool in full JSON form and the whole history, as a plain agent sends them
    (the baseline the benchmarks compare the optimizer with)."""


@dataclass(slots=True)
class Stats:
    calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    per_call: list[tuple[int, int]] = field(default_factory=list)
    """(prompt tokens, cached prompt tokens) of each model call, newest last (bounded)."""

    def add(self, usage: Usage) -> None:
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.cached_tokens += usage.cached_tokens
        self.completion_tokens += usage.completion_tokens
        self.per_call.append((usage.prompt_tokens, usage.cached_tokens))
        del self.per_call[:-1000]


class SpecialistAgent(Agent):
    def __init__(
        self,
        spec: SpecialistSpec,
        backend: ModelBackend,
        host: ToolHost | None = None,
        index: ToolIndex | None = None,
        memory: Memory | None = None,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.host = host
        self.index = index or ToolIndex(None, None)
        self.memory = memory
        self.stats = Stats()
        self._descriptor = AgentDescriptor(
            spec.name, spec.skills, spec.description, "1.0", streaming=True
        )

    scoped = True
    """The gateway binds the caller's memory scope to every invocation (gateway.runtime.calls)."""

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    def available_tools(self) -> list[ToolInfo]:
        if self.host is None or not self.spec.tools:
            return []
        return self.host.tools(self.spec.tools)

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if not any(s.name == invocation.skill for s in self.spec.skills):
            raise NotFound(f"agent {self.spec.name!r} has no skill {quote(invocation.skill)}")
        request = _text(invocation.message)
        context = invocation.message.context_id
        yield StatusEvent(task_id, TaskState.WORKING, context)
        forced = invocation.metadata.get("effmesh.tool") or self.spec.force_tool
        if forced is not None and not isinstance(forced, str):
            raise InvalidParams("must be a tool name", path="metadata.effmesh.tool")
        available = self.available_tools()
        if forced is not None and forced not in {t.name for t in available}:
            raise NotFound(f"tool {quote(forced)} is not offered to agent {self.spec.name!r}")
        history = [
            Turn("user" if m.role == "user" else "assistant", _text(m, limit=False))
            for m in invocation.history
        ]
        if self.spec.optimize:
            # Embedding the request is CPU work: keep it off the event loop.
            plan = await asyncio.to_thread(
                optimize,
                request,
                available,
                history,
                self.spec.tier,
                self.index,
                pinned=(forced,) if forced else (),
            )
        else:
            plan = unoptimized(available, history)
        scope = invocation.metadata.get(SCOPE_KEY)
        scope = scope if isinstance(scope, str) else ANONYMOUS
        memories: list[str] = []
        if self.memory is not None:
            memories = await self.memory.recall(scope, request, self.spec.tier)
        messages = layout(self.spec.system_prompt, plan, request, memories)

        records: list[dict[str, Any]] = []
        usage: list[Usage] = []
        answer: str | None = None
        offered = list(plan.tools)
        for step_no in range(self.spec.max_steps):
            if not offered:
                break
            only = [t for t in offered if t.name == forced] if forced and step_no == 0 else offered
            schema = steps.step_schema(only, allow_answer=not (forced and step_no == 0))
            reply = await self.backend.chat(
                ChatRequest(
                    messages,
                    max_tokens=self.spec.max_tokens,
                    temperature=self.spec.temperature,
                    constraint=JsonSchema(schema, "step"),
                )
            )
            self.stats.add(reply.usage)
            usage.append(reply.usage)
            try:
                step = steps.parse_step(reply.text, [t.name for t in only])
            except UpstreamUnavailable:
                if reply.finish_reason != "length":
                    raise  # the server ignored the constraint: not a reply to build on
                # The step ran out of tokens mid-JSON: answer in free text instead.
                records.append({"error": "the model's step was cut at the token limit"})
                break
            if isinstance(step, steps.AnswerStep):
                answer = step.answer
                break
            assert self.host is not None  # tools are offered only with a host
            result = await self.host.call(step.tool, step.arguments, scope=scope)
            records.append(
                {
                    "tool": step.tool,
                    "arguments": step.arguments,
                    "ok": result.ok,
                    "result": result.data if result.data is not None else result.text,
                }
            )
            yield StatusEvent(
                task_id,
                TaskState.WORKING,
                context,
                Message("agent", (TextPart(f"called {step.tool}"),)),
            )
            # The call, re-serialized compactly. (The model's own text would not be read back
            # from the cache anyway: its sampled tokens differ from how the template tokenizes
            # the same text, and its whitespace costs tokens; measured, compact is cheaper.)
            call = {"tool": step.tool, "arguments": step.arguments}
            messages.append({"role": "assistant", "content": dumps(call)})
            outcome = "result" if result.ok else "error"
            messages.append(
                {
                    "role": "user",
                    "content": f"{step.tool} {outcome}: {result.text}\n\nNow answer: {request}",
                }
            )
        if answer is None:
            chunks: list[str] = []
            artifact_id = f"answer-{uuid.uuid4().hex[:8]}"
            final = Usage()
            async for chunk in self.backend.stream(
                ChatRequest(
                    messages, max_tokens=self.spec.max_tokens, temperature=self.spec.temperature
                )
            ):
                if chunk.text:
                    chunks.append(chunk.text)
                    yield ArtifactEvent(
                        task_id,
                        Artifact(artifact_id, (TextPart(chunk.text),), "answer"),
                        context,
                        append=len(chunks) > 1,
                    )
                if chunk.usage is not None:
                    final = chunk.usage
            self.stats.add(final)
            usage.append(final)
            answer = "".join(chunks).strip()
        summary = {
            "memories_recalled": len(memories),
            "model_calls": len(usage),
            "prompt_tokens": sum(u.prompt_tokens for u in usage),
            "cached_tokens": sum(u.cached_tokens for u in usage),
            "completion_tokens": sum(u.completion_tokens for u in usage),
            "tools_offered": [t.name for t in plan.tools],
        }
        artifacts = [Artifact("answer", (TextPart(answer),), "answer")]
        artifacts.append(
            Artifact("steps", (DataPart({"tool_calls": records, "usage": summary}),), "steps")
        )
        if self.memory is not None and answer:
            await self.memory.remember(
                scope,
                agent=self.spec.name,
                task=task_id,
                context=context,
                request=request,
                answer=answer,
            )
        yield Task(
            task_id,
            TaskState.COMPLETED,
            context,
            artifacts=tuple(artifacts),
            metadata={"effmesh.usage": summary},
        )


def _text(message: Message, *, limit: bool = True) -> str:
    """The message as prompt text: text parts as they are, data parts as compact JSON."""
    pieces = []
    for part in message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, DataPart):
            pieces.append(dumps(part.data))
        else:
            raise InvalidParams(f"a specialist reads text and data, not {part.kind} parts")
    text = "\n".join(pieces).strip()
    if limit and not text:
        raise InvalidParams("the request is empty", path="message")
    if limit and len(text) > MAX_REQUEST_CHARS:
        raise InvalidParams(f"the request is longer than {MAX_REQUEST_CHARS} characters")
    return text


def unoptimized(tools: Sequence[ToolInfo], history: Sequence[Turn]) -> Optimized:
    """Every tool as a JSON function definition (name-sorted) and the history as it is."""
    ordered = sorted(tools, key=lambda t: t.name)
    functions = [function_tool(t.name, t.description, t.schema) for t in ordered]
    return Optimized(tuple(ordered), json.dumps(functions, indent=1), tuple(history), 0)


STEP_INSTRUCTIONS = (
    'Reply with JSON: {"tool": "<name>", "arguments": {...}} to call a tool, '
    'or {"answer": "<text>"} to answer.'
)


def layout(
    system_prompt: str, plan: Optimized, request: str, memories: Sequence[str] = ()
) -> list[dict[str, str]]:
    """The chat messages of one call, ordered for the prefix cache: the fixed system prompt
    and the (name-sorted) tool block first, then history, then the volatile request with any
    recalled context. Two requests that keep the same tools share everything up to history."""
    system = system_prompt
    if plan.tools:
        system += "\n\nTools:\n" + plan.tool_block + "\n\n" + STEP_INSTRUCTIONS
    messages = [{"role": "system", "content": system}]
    messages += [{"role": t.role, "content": t.text} for t in plan.history]
    user = request
    if memories:
        user = "Known context:\n" + "\n".join(f"- {m}" for m in memories) + "\n\n" + request
    messages.append({"role": "user", "content": user})
    return messages
