"""What a specialist remembers: relevant memories pulled into its prompt, its results stored.

Before a call, the memories of the caller's scope closest in meaning to the request are
recalled (those above a similarity floor, at most a tier's worth, each cut short; nothing,
and no embedding of the request, when the scope holds no memory) and go into
the volatile end of the prompt. After a call, the request and its answer are stored as a
``result`` memory with the agent, task and context, so any agent of the mesh can recall it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from agents.embeddings import query_text
from agents.memory.records import Draft
from agents.specialists.optimizer import BUDGETS, estimate_tokens
from agents.tiers import Tier

if TYPE_CHECKING:
    from agents.memory.service import MemoryService

MIN_SCORE: Final = 0.82
"""Cosine similarity below which a memory is not worth prompt tokens (E5 scores unrelated
texts around 0.7-0.8 and paraphrases above 0.85)."""
MEMORY_CHARS: Final = 300
RESULT_IMPORTANCE: Final = 0.3


class SpecialistMemory:
    """The memory service as seen by specialists (shared by all of them)."""

    def __init__(self, service: MemoryService, *, min_score: float = MIN_SCORE) -> None:
        self.service = service
        self.min_score = min_score

    async def recall(self, scope: str, request: str, tier: Tier) -> list[str]:
        """Memories for ``request``, most relevant first, within a quarter of the tier's
        history budget."""
        if not await self.service.has_memories(scope):
            return []  # nothing to find: no need to embed the request
        budget = BUDGETS[tier].history_tokens // 4
        hits = await self.service.search(scope, query_text(request), limit=3)
        out: list[str] = []
        for hit in hits:
            if hit.score < self.min_score:
                break
            text = " ".join(hit.memory.text.split())[:MEMORY_CHARS]
            budget -= estimate_tokens(text)
            if budget < 0:
                break
            out.append(text)
        return out

    async def remember(
        self, scope: str, *, agent: str, task: str, context: str | None, request: str, answer: str
    ) -> None:
        text = f"Q: {request}\nA: {answer}"[:4000]
        draft = Draft(
            text,
            "result",
            agent=agent,
            task=task,
            context=context or "",
            importance=RESULT_IMPORTANCE,
        )
        await self.service.store(scope, [draft])
