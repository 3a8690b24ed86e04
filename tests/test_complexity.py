"""The complexity analyzer and its strategy choice: pure tests, measured on the labelled task set
in tests/data/routing_tasks.json, plus one test for each fault that keyword heuristics are known
for (substring matches, "*" as a bullet, shared mutable weights, English-only lexicons)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import ErrorCode, InvalidParams
from gateway.routing.complexity import (
    DEFAULT_WEIGHTS,
    FACTORS,
    LIMIT,
    Analysis,
    ComplexityAnalyzer,
    Strategy,
    Weights,
    calibrate,
)

TASKS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data/routing_tasks.json").read_text(encoding="utf-8")
)["tasks"]
EXAMPLES = [(t["task"], Strategy(t["strategy"])) for t in TASKS]
ANALYZER = ComplexityAnalyzer()

Record = Callable[[str, object], None]


def accuracy(analyzer: ComplexityAnalyzer, examples: Sequence[tuple[str, Strategy]]) -> float:
    return sum(analyzer.analyze(task).strategy is want for task, want in examples) / len(examples)


def folds(k: int) -> list[tuple[list[tuple[str, Strategy]], list[tuple[str, Strategy]]]]:
    """k (train, held-out) splits, stratified: each strategy's tasks are dealt out in turn."""
    dealt: list[list[tuple[str, Strategy]]] = [[] for _ in range(k)]
    for strategy in Strategy:
        mine = [e for e in EXAMPLES if e[1] is strategy]
        for i, example in enumerate(mine):
            dealt[i % k].append(example)
    return [([e for j in range(k) if j != i for e in dealt[j]], dealt[i]) for i in range(k)]


# --- the labelled set ------------------------------------------------------------------------


def test_the_labelled_set_covers_every_strategy_and_several_languages() -> None:
    assert len(TASKS) >= 80
    per_strategy = Counter(t["strategy"] for t in TASKS)
    assert set(per_strategy) == {s.value for s in Strategy}
    assert min(per_strategy.values()) >= 15
    assert sum(t["lang"] != "en" for t in TASKS) >= 25
    assert {"de", "fr", "es"} <= {t["lang"] for t in TASKS}
    assert len({t["task"] for t in TASKS}) == len(TASKS)
    for t in TASKS:
        assert isinstance(t["requirements"], int)
        assert t["requirements"] >= 1
        assert (t["requirements"] == 1) == (t["strategy"] == "single")


def test_default_weights_label_the_set(record_property: Record) -> None:
    overall = accuracy(ANALYZER, EXAMPLES)
    per = {s.value: accuracy(ANALYZER, [e for e in EXAMPLES if e[1] is s]) for s in Strategy}
    other = [(t["task"], Strategy(t["strategy"])) for t in TASKS if t["lang"] != "en"]
    foreign = accuracy(ANALYZER, other)
    record_property("accuracy", round(overall, 3))
    record_property("accuracy_per_strategy", {k: round(v, 3) for k, v in per.items()})
    record_property("accuracy_not_english", round(foreign, 3))
    print(f"\naccuracy {overall:.3f} on {len(EXAMPLES)} tasks; per strategy {per}")
    print(f"not English: {foreign:.3f} on {len(other)} tasks")
    assert overall >= 0.95
    assert min(per.values()) >= 0.9, per  # no strategy may be given up for the others
    assert foreign >= 0.95


def test_requirement_counts_agree_with_a_careful_reader(record_property: Record) -> None:
    agree = [len(ANALYZER.analyze(t["task"]).requirements) == t["requirements"] for t in TASKS]
    share = sum(agree) / len(agree)
    record_property("requirement_count_agreement", round(share, 3))
    print(f"\nrequirement counts agree on {share:.3f} of the tasks")
    assert share >= 0.93


# --- calibration -----------------------------------------------------------------------------


def test_calibration_cross_validated_never_loses_on_its_training_half(
    record_property: Record,
) -> None:
    held: list[float] = []
    before: list[float] = []
    for train, test in folds(2):
        fitted = calibrate(train)
        assert fitted.accuracy >= fitted.start_accuracy
        assert fitted.start_accuracy == pytest.approx(accuracy(ANALYZER, train))
        assert fitted.accuracy == pytest.approx(accuracy(ComplexityAnalyzer(fitted.weights), train))
        held.append(accuracy(ComplexityAnalyzer(fitted.weights), test))
        before.append(accuracy(ANALYZER, test))
    mean = sum(held) / len(held)
    record_property("held_out_accuracy", [round(h, 3) for h in held])
    print(f"\n2-fold held-out accuracy after calibration {held} (defaults: {before})")
    assert mean >= 0.9


def test_calibration_returns_new_weights_and_leaves_its_start_alone() -> None:
    start = Weights(length=0.5, hierarchical=0.9)
    copy = dataclasses.replace(start)
    fitted = calibrate(EXAMPLES[::3], start)
    assert start == copy
    assert Weights() == DEFAULT_WEIGHTS
    assert fitted.accuracy >= fitted.start_accuracy
    assert calibrate(EXAMPLES[::3], start) == fitted  # deterministic


def test_calibration_needs_examples() -> None:
    with pytest.raises(InvalidParams) as info:
        calibrate([])
    assert info.value.code == ErrorCode.INVALID_PARAMS


# --- the known faults, one test each ---------------------------------------------------------


def test_capital_is_not_the_api_or_code_domain() -> None:
    assert ANALYZER.analyze("What is the capital of France?").domains == ("research",)
    assert "code" in ANALYZER.analyze("Call the weather API and summarise the response").domains


def test_an_arithmetic_star_is_not_a_bullet() -> None:
    analysis = ANALYZER.analyze("Compute 3 * 4 + 2")
    assert [r.text for r in analysis.requirements] == ["Compute 3 * 4 + 2"]
    assert analysis.strategy is Strategy.SINGLE
    assert "arithmetic ('3 * 4 + 2')" in analysis.factor("tools").reason


def test_star_bullets_at_line_starts_are_a_list() -> None:
    analysis = ANALYZER.analyze("Shopping:\n* buy milk\n* call mom\n*   book a cab")
    assert [r.text for r in analysis.requirements] == ["buy milk", "call mom", "book a cab"]
    assert analysis.factor("requirements").reason == "3 requirements: a bulleted list of 3 items"
    assert analysis.strategy is Strategy.PARALLEL


def test_analyzers_do_not_share_weights() -> None:
    task = "Prepare a launch: research prices, draft the post, compute the budget."
    heavy = ComplexityAnalyzer(Weights(length=1.0, requirements=0, domains=0, tools=0, depth=0))
    default = ComplexityAnalyzer()
    before = default.analyze(task)
    assert heavy.analyze(task).score != before.score
    assert default.analyze(task) == before
    assert default.weights is DEFAULT_WEIGHTS
    assert Weights() == DEFAULT_WEIGHTS
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_WEIGHTS.length = 9.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("task", "marker", "domains"),
    [
        ("Rechne 120 * 8 aus und teile es dann durch 6.", "dann", {"math"}),
        ("Suche die Einwohnerzahl von Wien, danach berechne 5 % davon.", "danach", {"math"}),
        (
            "Fasse den Artikel zusammen und übersetze anschließend die Zusammenfassung.",
            "anschließend",
            {"writing", "language"},
        ),
        ("Calcule 45 * 3, puis divise le résultat par 5.", "puis", {"math"}),
        (
            "Cherche la capitale du Pérou ; avec le résultat, écris un poème.",
            "avec le résultat",
            {"research", "writing"},
        ),
        ("Busca la población de Lima y después calcula el 10 % de ella", "después", {"math"}),
        ("Traduce este párrafo al inglés y luego resúmelo.", "luego", {"language", "writing"}),
    ],
)
def test_german_french_and_spanish_dependencies_and_domains_are_found(
    task: str, marker: str, domains: set[str]
) -> None:
    analysis = ANALYZER.analyze(task)
    assert analysis.strategy is Strategy.SEQUENTIAL
    assert [r.after for r in analysis.requirements] == [None, 0]
    assert repr(marker) in analysis.factor("depth").reason
    assert domains <= set(analysis.domains)


@pytest.mark.parametrize(
    "task",
    [
        "Compute 15*4 and divide it by 3",
        "Rechne 15*4 aus und teile es durch 3",
        "Calcule 15*4 et divise-le par 3",
        "Calcula 15*4 y divídelo entre 3",
        "Find the cheapest flight to Rome and book the cheapest one",
    ],
)
def test_a_pronoun_at_the_start_of_a_clause_points_at_the_previous_result(task: str) -> None:
    assert [r.after for r in ANALYZER.analyze(task).requirements] == [None, 0]


@pytest.mark.parametrize(
    "task",
    [
        "Where can I buy salt and pepper grinders?",
        "Who wrote Romeo and Juliet?",
        "Busca recetas de paella con mariscos y pollo.",
        "Write a function that checks a string and ignores spaces and punctuation.",
    ],
)
def test_and_between_nouns_does_not_split_a_requirement(task: str) -> None:
    assert len(ANALYZER.analyze(task).requirements) == 1


def test_and_before_an_action_verb_or_question_word_does() -> None:
    analysis = ANALYZER.analyze("Tell me who wrote Romeo and Juliet and what year it was staged.")
    assert [r.text for r in analysis.requirements] == [
        "Tell me who wrote Romeo and Juliet",
        "what year it was staged",
    ]


def test_stems_match_the_forms_of_a_verb_in_each_language() -> None:
    for task in ("Calculer la TVA de 200 euros", "Calcular el IVA de 200 euros"):
        assert ANALYZER.analyze(task).domains == ("math",)


def test_sections_with_several_clauses_are_compound_requirements() -> None:
    analysis = ANALYZER.analyze(
        "Research: find three vector databases and compare their licences.\n"
        "Writing: draft a blog post and translate it into French."
    )
    assert analysis.strategy is Strategy.HIERARCHICAL
    assert [r.parts for r in analysis.requirements] == [
        ("find three vector databases", "compare their licences"),
        ("draft a blog post", "translate it into French"),
    ]
    assert "compound" in analysis.reason


def test_a_head_over_the_whole_task_is_its_goal() -> None:
    analysis = ANALYZER.analyze("Plan a trip to Rome: book a flight, find a hotel, pack a bag")
    assert [r.text for r in analysis.requirements] == [
        "book a flight",
        "find a hotel",
        "pack a bag",
    ]
    assert analysis.context == ("Plan a trip to Rome",)
    assert "one goal ('Plan a trip to Rome')" in analysis.factor("depth").reason


def test_material_after_a_pointing_head_is_not_cut_up() -> None:
    task = "Summarize this email: Please call me. Then compute the budget and book a room."
    analysis = ANALYZER.analyze(task)
    assert [r.text for r in analysis.requirements] == [task.rstrip(".")]
    assert analysis.domains == ("writing",)


def test_a_pipeline_stays_sequential_however_broad() -> None:
    task = (
        "1. Get today's EUR/USD exchange rate\n2. Using the result, convert 2,500 EUR to dollars\n"
        "3. Add 3% fees to that amount"
    )
    analysis = ANALYZER.analyze(task)
    assert [r.after for r in analysis.requirements] == [None, 0, 1]
    assert analysis.strategy is Strategy.SEQUENTIAL
    assert "requirement 2 uses the result of requirement 1" in analysis.reason


# --- explanations and the JSON form ----------------------------------------------------------


def test_factor_reasons_name_what_was_found() -> None:
    analysis = ANALYZER.analyze(
        "Translate 'good morning' into French and compute 12*7, then explain why."
    )
    reasons = {f.name: f.reason for f in analysis.factors}
    assert reasons["length"] == "12 words"
    assert reasons["requirements"].startswith("3 requirements: clauses split at")
    assert "language ('Translate')" in reasons["domains"]
    assert "math ('12*7')" in reasons["domains"]
    assert "arithmetic ('12*7')" in reasons["tools"]
    assert "'then'" in reasons["depth"]
    assert "'explain'" in reasons["depth"]
    assert analysis.reason == (
        "3 requirements where requirement 3 uses the result of requirement 2, so they run in order."
    )


def test_parallel_reason_counts_the_independent_requirements() -> None:
    analysis = ANALYZER.analyze("Give me the capital of Peru; also convert 5 miles to km")
    assert analysis.strategy is Strategy.PARALLEL
    assert analysis.reason.startswith("2 independent requirements, none uses another's result")


def test_analysis_is_json_ready() -> None:
    analysis = ANALYZER.analyze(TASKS[-1]["task"])
    data = json.loads(json.dumps(analysis.as_json()))
    assert data["strategy"] == analysis.strategy.value
    assert [f["name"] for f in data["factors"]] == list(FACTORS)
    assert data["requirements"][0]["text"] == analysis.requirements[0].text


def test_an_unknown_factor_name_is_refused() -> None:
    with pytest.raises(InvalidParams) as info:
        ANALYZER.analyze("hi").factor("size")
    assert info.value.code == ErrorCode.INVALID_PARAMS


# --- robustness ------------------------------------------------------------------------------


def assert_valid(analysis: Analysis) -> None:
    assert isinstance(analysis.strategy, Strategy)
    assert tuple(f.name for f in analysis.factors) == FACTORS
    assert 0.0 <= analysis.score <= 1.0
    for f in analysis.factors:
        assert 0.0 <= f.score <= 1.0
        assert f.value >= 0
        assert f.reason
    for k, r in enumerate(analysis.requirements):
        assert r.text
        assert r.after is None or 0 <= r.after < k
    assert list(analysis.domains) == sorted(set(analysis.domains))
    assert analysis.reason.endswith(".")
    json.dumps(analysis.as_json())


structured = st.lists(
    st.sampled_from(
        [
            "and ",
            "then ",
            "und dann ",
            "puis ",
            "y luego ",
            "compute ",
            "translate ",
            "it ",
            "3 * 4 ",
            "%",
            ", ",
            "; ",
            ": ",
            ". ",
            "? ",
            "\n",
            "\n- ",
            "\n* ",
            "\n1. ",
            "1) ",
            "'",
            '"',
            "«",
            "»",
            "the result ",
            "Research:",
            "这",
            "然后计算",
            "它",
            "-le ",
            "résúmelo ",
            "\x00",
            "\r",
            "\u2028",
            "🙂",
            "capital ",
            "api ",
            "thèse ",
        ]
    ),
    max_size=60,
).map("".join)


@given(st.text(max_size=3000) | structured)
def test_any_text_gives_a_valid_analysis(task: str) -> None:
    assert_valid(ANALYZER.analyze(task))


def test_huge_input_is_read_only_up_to_the_limit() -> None:
    unit = "Compute 3 * 4, then translate 'x' into French and remember that. "
    huge = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    whole, head = ANALYZER.analyze(huge), ANALYZER.analyze(huge[:LIMIT])
    assert_valid(whole)
    assert whole.requirements == head.requirements
    assert whole.strategy is head.strategy
    assert whole.factor("length").reason.endswith(f"in the first {LIMIT:,} characters")


def test_empty_text_asks_for_nothing() -> None:
    for task in ("", "   \n\t ", "\x00\x01"):
        analysis = ANALYZER.analyze(task)
        assert analysis.requirements == ()
        assert analysis.strategy is Strategy.SINGLE


# --- weights from configuration --------------------------------------------------------------


def test_weights_round_trip_through_a_mapping() -> None:
    weights = Weights.from_mapping({"length": 1, "hierarchical": 0.7})
    assert weights == Weights(length=1.0, hierarchical=0.7)
    assert Weights.from_mapping(weights.as_dict()) == weights
    assert set(weights.as_dict()) >= set(FACTORS) | {"hierarchical"}


@pytest.mark.parametrize(
    "values",
    [
        {"lenght": 0.1},
        {"length": "0.1"},
        {"length": -0.1},
        {"length": True},
        {"depth": float("nan")},
        {"hierarchical": float("inf")},
        {"spread": None},
    ],
)
def test_weights_refuse_unknown_keys_and_bad_numbers(values: dict[str, object]) -> None:
    with pytest.raises(InvalidParams) as info:
        Weights.from_mapping(values)
    assert info.value.code == ErrorCode.INVALID_PARAMS


def test_weights_refuse_a_negative_value_when_built_directly() -> None:
    with pytest.raises(InvalidParams):
        Weights(depth=-1.0)
