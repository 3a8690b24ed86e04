"""The complexity analyzer: a task's measures and the strategy they call for, in one call.

With a learned model and the request's embedding, the learned classifier chooses the strategy
(:mod:`~gateway.routing.complexity.learned`), the factor rules' reading among its inputs. The
rules no longer overrule it: left one file out on the four training files written apart from
the others, the model deciding alone scored 83.4% against 83.0% with the rules standing,
better on every file. The five factors are still measured and reported, and the reason names
what the rules alone would have chosen and the labelled tasks nearest in meaning. Without
them, the rules over the five factors choose, as before.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from gateway.routing.complexity.analysis import FACTORS, Analysis, Factor, Requirement, Strategy
from gateway.routing.complexity.clauses import loose_split
from gateway.routing.complexity.document import LIMIT
from gateway.routing.complexity.factors import Measured, measure
from gateway.routing.complexity.features import (
    STRATEGIES,
    factor_block,
    markers,
    structure_block,
)
from gateway.routing.complexity.learned import Floats, LearnedModel, similarities
from gateway.routing.complexity.second import THRESHOLD, EmbedParts, clause_block, part_texts
from gateway.routing.complexity.strategy import choose, explain
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights


class ComplexityAnalyzer:
    """Scores tasks and picks their strategy. Holds only immutable weights and a model it
    never changes, so one instance can be shared by any number of tasks and threads."""

    def __init__(self, weights: Weights | None = None, model: LearnedModel | None = None) -> None:
        self._weights = weights if weights is not None else DEFAULT_WEIGHTS
        self._model = model

    @property
    def weights(self) -> Weights:
        return self._weights

    @property
    def model(self) -> LearnedModel | None:
        return self._model

    def analyze(
        self, task: str, vector: Floats | None = None, embed_parts: EmbedParts | None = None
    ) -> Analysis:
        """The analysis of ``task``. Never raises for a ``str``; reads its first ``LIMIT``
        characters. ``vector``: the task's query embedding; the learned model decides when
        both are there and the vector has the model's length. ``embed_parts``: embeds the
        parts of a task the model is unsure of, for its second look (blocking: call
        ``analyze`` off the event loop when it is given)."""
        measured = measure(task)
        score, strategy, rule = choose(measured, self._weights)
        factors = tuple(
            Factor(name, value, score_, reason)
            for name, value, score_, reason in zip(
                FACTORS, measured.values, measured.scores, measured.reasons, strict=True
            )
        )
        analysis = Analysis(
            score=score,
            factors=factors,
            strategy=strategy,
            reason=explain(measured, self._weights, score, rule),
            requirements=measured.requirements,
            domains=measured.domains,
            context=measured.context,
        )
        model = self._model
        if model is None or vector is None or np.shape(vector) != (model.dim,):
            return analysis
        dense = factor_block(measured, strategy, rule) + structure_block(task) + markers(task)
        unit = np.asarray(vector, dtype=np.float32)
        sims = similarities(model.vectors, unit)
        order = model.closest(sims)
        p, looked = _second_look(
            model,
            task=task,
            dense=dense,
            unit=unit,
            sims=sims,
            order=order,
            embed_parts=embed_parts,
        )
        chosen = STRATEGIES[int(p.argmax())]
        examples = model.nearest(unit, sims=sims, order=order)
        near = "; ".join(f'"{e.task}" ({e.strategy.value}, {e.similarity:.2f})' for e in examples)
        near += looked
        confidence = round(float(p.max()), 3)
        if chosen is strategy:
            reason = (
                f"{analysis.reason} The learned model agrees ({confidence:.0%}); "
                f"nearest labelled tasks: {near}."
            )
        else:
            reason = (
                f"The learned model chose {chosen.value} ({confidence:.0%}) over the factor "
                f"rules' {strategy.value} ({analysis.reason}); nearest labelled tasks: {near}."
            )
        return replace(
            analysis,
            strategy=chosen,
            reason=reason,
            requirements=_requirements(task, measured, chosen),
            source="learned",
            confidence=confidence,
            examples=examples,
        )


def _second_look(
    model: LearnedModel,
    *,
    task: str,
    dense: list[float],
    unit: Floats,
    sims: Floats,
    order: npt.NDArray[np.intp],
    embed_parts: EmbedParts | None,
) -> tuple[Floats, str]:
    """The model's probabilities for ``task`` and what the second look found ("" when it
    did not look): it looks when the first look's blend is below ``THRESHOLD``, the model
    has second-look weights, the task has parts and they can be embedded."""
    p = model.blend(dense, unit, task, sims, order=order)
    texts = part_texts(task) if model.second is not None and embed_parts is not None else []
    if embed_parts is None or float(p.max()) >= THRESHOLD or not texts:
        return model.tempered(p), ""
    try:
        vectors = np.asarray(embed_parts(texts), dtype=np.float32)
    except (ValueError, RuntimeError, OSError):
        return model.tempered(p), ""
    if vectors.shape != (len(texts), model.dim):
        return model.tempered(p), ""
    block = clause_block(vectors)
    again = model.probabilities(dense, unit, task, sims, block, order=order)
    first = STRATEGIES[int(p.argmax())].value
    return again, (
        f"; unsure at first ({first}, {float(model.tempered(p).max()):.0%}), it looked again "
        f"at the task's {len(texts)} parts embedded one by one (the first to the later ones "
        f"{block[1]:.2f} alike, the least alike pair {block[4]:.2f})"
    )


def _requirements(task: str, m: Measured, chosen: Strategy) -> tuple[Requirement, ...]:
    """The requirements, made to agree with a learned choice the segmenter did not see: a
    task with several independent or chained parts is cut more loosely when the segmenter
    found one; dependencies are drawn as a chain for SEQUENTIAL and dropped for PARALLEL; a
    SINGLE task is one requirement, its whole text (within ``LIMIT``)."""
    found = m.requirements
    if chosen is Strategy.SINGLE and len(found) > 1:
        return (Requirement(task[:LIMIT].strip()),)
    if chosen not in (Strategy.PARALLEL, Strategy.SEQUENTIAL):
        return found
    if len(found) < 2:
        found = tuple(Requirement(text) for text in loose_split(task))
    if chosen is Strategy.PARALLEL:
        return tuple(Requirement(r.text) for r in found)
    if any(r.after is not None for r in found):
        return found
    return tuple(Requirement(r.text, k - 1 if k else None) for k, r in enumerate(found))
