"""The accuracy benchmark's variants decide through the analyzer as the shipped router does."""

from __future__ import annotations

import numpy as np

from benchmarks.routing_accuracy import _masked
from gateway.routing.complexity import ComplexityAnalyzer, Strategy
from gateway.routing.complexity.features import dense_features
from gateway.routing.complexity.learned import Sample, train


def test_the_variant_without_the_embedding_decides_with_an_even_vote() -> None:
    rng = np.random.default_rng(5)
    made = []
    labelled = [
        ("What is 2+3?", Strategy.SINGLE),
        ("Compute 2+3; compute 4*5.", Strategy.PARALLEL),
        ("Compute 17*23, then divide the result by 7.", Strategy.SEQUENTIAL),
    ]
    for text, strategy in labelled:
        v = rng.normal(size=8).astype(np.float32)
        made.append(Sample(text, strategy, dense_features(text), v / np.linalg.norm(v)))
    model = _masked(train(made), embedding=False, grams=True)
    shares = model.votes(made[0].vector)
    assert np.allclose(shares, 0.25)
    analysis = ComplexityAnalyzer(model=model).analyze("What is 4+4?", made[0].vector)
    assert analysis.source == "learned"
    assert analysis.strategy in Strategy
