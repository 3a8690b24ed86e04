"""The memory service as an agent of the mesh, named ``memory`` by default.

Skills (input: see :mod:`agents.memory.inputs`):

- ``store``: keep a memory (or ``memories``, a batch) in long-term memory; with
  ``"tier": "short"``, append a turn to the short-term window of a context instead;
- ``search``: the memories closest in meaning to a query, with optional filters;
- ``delete``: delete memories by id, by filter, or all of the caller's (``"all": true``);
- ``recall``: a conversation's recent turns and the memories closest to a query.

Each call completes with one artifact, ``memory-<skill>``: a short ``TextPart`` for people
and models, then a ``DataPart`` with the result:

- ``store``: ``{"stored": [{"id", "created"}]}`` (tier short: ``{"context", "turns",
  "summarized"}``);
- ``search``: ``{"hits": [{"id", "text", "kind", "agent", "task", "context", "created",
  "importance", "score"}]}``;
- ``delete``: ``{"deleted": n, "ids": [the first 1,000]}``;
- ``recall``: ``{"context", "turns": [{"role", "text", "agent"}], "hits": [...]}``.

Every call acts in the caller's scope, which the gateway binds into the invocation (see
:mod:`agents.memory.scope`); without one the agent refuses the call (``Forbidden``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, assert_never

from adapters.errors import NotFound, quote
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
from agents.memory import inputs
from agents.memory.records import Hit, Memory
from agents.memory.scope import scope_of
from agents.memory.service import MemoryService
from agents.memory.shortterm import Turn

_SNIPPET: Final = 160

SKILLS: Final = (
    Skill(
        "store",
        "Remember a fact or a task result (text, kind, agent, task, context, importance), "
        "or append a conversation turn to short-term memory with tier 'short'.",
        input_schema=inputs.SCHEMAS["store"],
        tags=("memory",),
        examples=("The staging database moved to db-2.internal on Monday.",),
    ),
    Skill(
        "search",
        "Find remembered facts and results by meaning, optionally filtered by kind, agent, "
        "task, context, importance or time.",
        input_schema=inputs.SCHEMAS["search"],
        tags=("memory",),
        examples=("where is the staging database now?",),
    ),
    Skill(
        "delete",
        "Forget memories by id, by filter, or all of yours with all: true.",
        input_schema=inputs.SCHEMAS["delete"],
        tags=("memory",),
    ),
    Skill(
        "recall",
        "The recent turns of a conversation and the memories closest to a query.",
        input_schema=inputs.SCHEMAS["recall"],
        tags=("memory",),
    ),
)


class MemoryAgent(Agent):
    """An :class:`agents.base.Agent` over a :class:`MemoryService` it does not own (the
    gateway closes the service at shutdown)."""

    scoped = True
    """The gateway binds the caller's scope to every invocation (see ``scope.py``)."""

    def __init__(self, service: MemoryService, name: str = "memory") -> None:
        self._service = service
        self._descriptor = AgentDescriptor(
            name,
            SKILLS,
            "Shared memory of the mesh: long-term facts and results found by meaning, "
            "and short-term conversation windows.",
            "1.0",
        )

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    @property
    def service(self) -> MemoryService:
        return self._service

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        skill = invocation.skill
        if skill not in inputs.SCHEMAS:
            raise NotFound(f"agent {self._descriptor.name!r} has no skill {quote(skill)}")
        scope = scope_of(invocation)
        request = inputs.parse(skill, invocation.message)
        context = invocation.message.context_id
        yield StatusEvent(
            task_id, TaskState.WORKING, context, Message("agent", (TextPart("working"),))
        )
        text, data = await self._perform(scope, request)
        artifact = Artifact(f"memory-{skill}", (TextPart(text), DataPart(data)), skill)
        yield ArtifactEvent(task_id, artifact, context, last_chunk=True)
        yield Task(
            task_id,
            TaskState.COMPLETED,
            context,
            artifacts=(artifact,),
            history=(invocation.message,),
        )

    async def _perform(self, scope: str, request: inputs.Request) -> tuple[str, dict[str, Any]]:
        service = self._service
        match request:
            case inputs.Store(drafts):
                stored = await service.store(scope, drafts)
                rows = [{"id": m.memory_id, "created": m.created_ms} for m in stored]
                return f"stored {_count(len(stored), 'memory', 'memories')}", {"stored": rows}
            case inputs.StoreTurn(context, turn):
                summaries = await service.add_turn(scope, context, turn)
                window = service.recent(scope, context)
                text = f"added a turn to context {context!r} ({len(window)} in the window)"
                if summaries:
                    text += f"; older turns summarized into {summaries[0].memory_id}"
                data = {
                    "context": context,
                    "turns": len(window),
                    "summarized": [m.memory_id for m in summaries],
                }
                return text, data
            case inputs.Search(query, limit, filters):
                hits = await service.search(scope, query, limit=limit, filters=filters)
                return _found(hits), {"hits": [_hit(h) for h in hits]}
            case inputs.Delete(ids, filters, everything):
                deleted = await service.delete(
                    scope, ids=ids, filters=filters, everything=everything
                )
                text = f"deleted {_count(len(deleted), 'memory', 'memories')}"
                # The first ids only: deleting a whole scope could name thousands.
                return text, {"deleted": len(deleted), "ids": deleted[: inputs.MAX_IDS]}
            case inputs.Recall(context, query, limit):
                recall = await service.recall(scope, context, query, limit=limit)
                text = f"{_count(len(recall.turns), 'recent turn', 'recent turns')}; "
                text += _found(list(recall.hits))
                data = {
                    "context": context,
                    "turns": [_turn(t) for t in recall.turns],
                    "hits": [_hit(h) for h in recall.hits],
                }
                return text, data
            case _:
                assert_never(request)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _found(hits: list[Hit]) -> str:
    lines = [f"found {_count(len(hits), 'memory', 'memories')}"]
    for h in hits:
        snippet = (
            h.memory.text if len(h.memory.text) <= _SNIPPET else h.memory.text[:_SNIPPET] + "..."
        )
        lines.append(f"- ({h.score:.2f}) {snippet}")
    return "\n".join(lines)


def memory_json(m: Memory) -> dict[str, Any]:
    """A memory as the agent's results and the console show it."""
    return {
        "id": m.memory_id,
        "text": m.text,
        "kind": m.kind,
        "agent": m.agent,
        "task": m.task,
        "context": m.context,
        "created": m.created_ms,
        "importance": m.importance,
    }


def _hit(h: Hit) -> dict[str, Any]:
    return {**memory_json(h.memory), "score": round(h.score, 4)}


def _turn(t: Turn) -> dict[str, Any]:
    return {"role": t.role, "text": t.text, "agent": t.agent}
