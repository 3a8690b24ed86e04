"""Specialist agents: a system prompt, a model backend, and tools, in a bounded loop.

One call runs like this:

1. the optimizer picks the tools relevant to the request and compacts them and the history
   to the model's size tier;
2. the prompt is laid out for the prefix cache: the fixed system prompt and tool block first,
   then history, then the volatile request (and recalled context) last;
3. while tools are on offer, the model writes one JSON step constrained by a schema (a call
   of one offered tool, or the answer); a call goes through the :class:`ToolHost` (the
   gateway's registry, so remote MCP / A2A / ACP tools count), and its result is fed back;
4. after ``max_steps`` calls, when the model repeats a call it made before (same tool, same
   arguments: it is not run again), or when no tool is offered, the model answers in free
   text (asked for plain words after a tool's result), streamed as artifact chunks;
5. when a tool's result grounds the answer (the last successful call, or the one the model
   repeated) and the model's answer does not state the result's value, the answer is composed
   from the result instead; when the only result is a failure and the model's answer is an
   echo of the step JSON, the answer states the failure (:mod:`agents.specialists.compose`
   holds the rule). A streamed answer is then replaced by one more chunk.

Which tools are on offer: a tiny-tier specialist with no forced call offers its tools only
when the request has content a tool could act on (:mod:`agents.specialists.relevance`),
since a tiny model's own tool choice is not meaningful; larger tiers choose for themselves.

The answer is the ``answer`` artifact; the ``steps`` artifact records every tool call with its
arguments and result (a repeated call as ``repeat_of`` the earlier one's position), whether
tools were offered and why (``tool_gate``), who wrote the answer (``answer.source``: ``model``,
or ``tool_result`` / ``tool_error`` with the call's position as ``tool_call`` and the model's
own text kept as ``model_answer``), and the model's token usage (cached prompt tokens
included).
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
from agents.base import NOBODY, Agent, principal_in
from agents.llm.backend import ModelBackend, dumps
from agents.llm.wire import ChatRequest, JsonSchema, Usage, function_tool
from agents.memory.scope import ANONYMOUS, SCOPE_KEY
from agents.specialists import steps
from agents.specialists.compose import settle
from agents.specialists.optimizer import Optimized, Turn, optimize
from agents.specialists.relevance import Relevance, relevance
from agents.tiers import Tier
from agents.tools.index import ToolIndex, ToolInfo

MAX_REQUEST_CHARS = 16_000


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    text: str
    data: Any = None


class ToolHost(Protocol):
    """Where a specialist finds and calls tools (the gateway implements it over its registry).

    ``principal`` is the caller the specialist acts for (``agents.base.PRINCIPAL_KEY``): the
    host offers and runs only the tools that caller may call itself."""

    def tools(self, patterns: Sequence[str], *, principal: str | None) -> list[ToolInfo]:
        """Tools whose names match ``patterns`` (exact names, or ``agent.*``) and that
        ``principal`` may call."""
        ...

    async def call(
        self, name: str, arguments: dict[str, Any], *, scope: str, principal: str | None
    ) -> ToolResult:
        """Run one tool for ``principal``, whose memory scope is ``scope``; a tool's own
        failure, or one the caller may not call, is a result with ``ok=False``, not an error."""
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
    delegating = True
    """Its tool calls are calls of other agents on the caller's behalf: the gateway tells it
    who the caller is, and it offers and calls only the tools that caller may call."""

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    def available_tools(self, principal: str | None = NOBODY) -> list[ToolInfo]:
        """The configured tools ``principal`` may call (default: those open to every token)."""
        if self.host is None or not self.spec.tools:
            return []
        return self.host.tools(self.spec.tools, principal=principal)

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        if not any(s.name == invocation.skill for s in self.spec.skills):
            raise NotFound(f"agent {self.spec.name!r} has no skill {quote(invocation.skill)}")
        request = _text(invocation.message)
        context = invocation.message.context_id
        yield StatusEvent(task_id, TaskState.WORKING, context)
        forced = invocation.metadata.get("effmesh.tool") or self.spec.force_tool
        if forced is not None and not isinstance(forced, str):
            raise InvalidParams("must be a tool name", path="metadata.effmesh.tool")
        principal = principal_in(invocation.metadata)
        available = self.available_tools(principal)
        if forced is not None and forced not in {t.name for t in available}:
            raise NotFound(f"tool {quote(forced)} is not offered to agent {self.spec.name!r}")
        gate = self._gate(request, available, forced)
        if gate is not None and not gate.offer:
            available = []
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
        # Calls run so far (position in records, the call, its result), and the one whose
        # result the answer must state: the last that succeeded, or the one the model repeated.
        ran: list[tuple[int, steps.CallStep, ToolResult]] = []
        grounds: tuple[int, steps.CallStep, ToolResult] | None = None
        usage: list[Usage] = []
        answer: str | None = None
        offered = list(plan.tools)
        # The last call's result, put to the model once it is known whether a step or the
        # free-text answer comes next.
        outcome: str | None = None
        for step_no in range(self.spec.max_steps):
            if not offered:
                break
            only = [t for t in offered if t.name == forced] if forced and step_no == 0 else offered
            schema = steps.step_schema(only, allow_answer=not (forced and step_no == 0))
            prompt = messages if outcome is None else [*messages, _result_turn(outcome, request)]
            reply = await self.backend.chat(
                ChatRequest(
                    prompt,
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
            earlier = steps.repeat_of(step, [call for _, call, _ in ran])
            if earlier is not None:
                # The model has this result already: answer from it instead of calling again.
                grounds = ran[earlier]
                records.append(
                    {"tool": step.tool, "arguments": step.arguments, "repeat_of": grounds[0]}
                )
                break
            assert self.host is not None  # tools are offered only with a host
            messages = list(prompt)
            result = await self.host.call(
                step.tool, step.arguments, scope=scope, principal=principal
            )
            ran.append((len(records), step, result))
            if result.ok:
                grounds = ran[-1]
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
            outcome = f"{step.tool} {'result' if result.ok else 'error'}: {result.text}"
        streamed: str | None = None
        if answer is None:
            chunks: list[str] = []
            artifact_id = streamed = f"answer-{uuid.uuid4().hex[:8]}"
            final = Usage()
            if outcome is not None:
                messages.append(_result_turn(outcome, request, final=True))
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
        source: dict[str, Any] = {"source": "model"}
        basis = grounds or (ran[-1] if ran else None)  # no success: the last failure
        if basis is not None:
            position, used, result = basis
            settled, by = settle(
                answer, request, used.tool, ok=result.ok, data=result.data, error=result.text
            )
            if by != "model":
                source = {"source": by, "tool_call": position, "model_answer": answer}
                answer = settled
                if streamed is not None:  # the caller has read the model's text: replace it
                    yield ArtifactEvent(
                        task_id, Artifact(streamed, (TextPart(answer),), "answer"), context
                    )
        summary = {
            "memories_recalled": len(memories),
            "model_calls": len(usage),
            "prompt_tokens": sum(u.prompt_tokens for u in usage),
            "cached_tokens": sum(u.cached_tokens for u in usage),
            "completion_tokens": sum(u.completion_tokens for u in usage),
            "tools_offered": [t.name for t in plan.tools],
        }
        artifacts = [Artifact("answer", (TextPart(answer),), "answer")]
        record: dict[str, Any] = {"tool_calls": records, "answer": source, "usage": summary}
        if gate is not None:
            record["tool_gate"] = {"offered": gate.offer, "reason": gate.reason}
        artifacts.append(Artifact("steps", (DataPart(record),), "steps"))
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

    def _gate(
        self, request: str, available: Sequence[ToolInfo], forced: str | None
    ) -> Relevance | None:
        """Whether the request lets tools be offered; None when the rule does not apply (no
        tools, a forced call, or a model above the tiny tier, which chooses for itself)."""
        if not available or forced is not None or self.spec.tier is not Tier.TINY:
            return None
        return relevance(request, available)


def _result_turn(outcome: str, request: str, *, final: bool = False) -> dict[str, str]:
    """A tool's result put to the model, with the request again. Before the free-text answer
    it asks for plain words: the system prompt's step instructions otherwise lead a small
    model to echo the step JSON (SmolLM2-135M did on 17 of 18 word problems after the
    calculator's result; asked for plain words, on none)."""
    ask = "Now answer in plain words, not JSON" if final else "Now answer"
    return {"role": "user", "content": f"{outcome}\n\n{ask}: {request}"}


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
