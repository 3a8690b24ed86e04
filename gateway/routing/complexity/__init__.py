"""How complex a task is, over five factors, and the routing strategy that follows from it.

A task is free text from a user, in any language. :class:`ComplexityAnalyzer` reads it with
word lexicons and a few patterns in well under a millisecond for a typical task, and, given
the request's embedding and a :class:`LearnedModel`, lets a small classifier choose:

- :mod:`~gateway.routing.complexity.lexicon`: the multilingual word lists and their lookup;
- :mod:`~gateway.routing.complexity.document`: the task cleaned, masked and tokenised;
- :mod:`~gateway.routing.complexity.segmenter`: the task cut into requirements, context and
  payload;
- :mod:`~gateway.routing.complexity.factors`: the five factors (length, requirements, domains,
  tools, depth), each scored 0..1 with a reason;
- :mod:`~gateway.routing.complexity.strategy`: SINGLE, PARALLEL, SEQUENTIAL or HIERARCHICAL,
  by the first of its rules that holds, with thresholds from :class:`Weights`;
- :mod:`~gateway.routing.complexity.calibration`: :func:`calibrate` fits the weights and
  thresholds to labelled tasks by coordinate search;
- :mod:`~gateway.routing.complexity.learned`: the classifier over the factors, structure
  marks, character n-grams and the request's multilingual embedding, with the nearest
  labelled tasks as reasons (:mod:`~gateway.routing.complexity.features` reads a task for it,
  :mod:`~gateway.routing.complexity.clauses` cuts a task it calls multi-part);
- :mod:`~gateway.routing.complexity.labelled`: labelled task files, with the guard that keeps
  tuning away from the held-out split.
"""

from gateway.routing.complexity.analysis import (
    FACTORS,
    Analysis,
    Example,
    Factor,
    Requirement,
    Strategy,
)
from gateway.routing.complexity.analyzer import ComplexityAnalyzer
from gateway.routing.complexity.calibration import Calibration, calibrate
from gateway.routing.complexity.document import LIMIT
from gateway.routing.complexity.factors import LENGTH_FULL
from gateway.routing.complexity.learned import MODEL_PATH, LearnedModel
from gateway.routing.complexity.weights import DEFAULT_WEIGHTS, Weights

__all__ = [
    "DEFAULT_WEIGHTS",
    "FACTORS",
    "LENGTH_FULL",
    "LIMIT",
    "MODEL_PATH",
    "Analysis",
    "Calibration",
    "ComplexityAnalyzer",
    "Example",
    "Factor",
    "LearnedModel",
    "Requirement",
    "Strategy",
    "Weights",
    "calibrate",
]
