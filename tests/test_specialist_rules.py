"""The specialist's own rules, as pure code: when an answer is composed from a tool's result,
when a tool call repeats an earlier one, and when a request lets tools be offered at all."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.specialists import steps
from agents.specialists.compose import (
    compose,
    composed,
    is_step_echo,
    numbers,
    result_value,
    settle,
    states,
)
from agents.specialists.relevance import relevance
from agents.tools.calculator import EVALUATE, evaluate
from agents.tools.index import ToolInfo

CALC = "calculator.evaluate"


def calc(expression: str, value: Any) -> dict[str, Any]:
    return {"expression": expression, "value": value}


# --- what an answer states -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("17 * 23 = 391", [17, 23, 391]),
        ("1,250 and 4,375 make 5,625.", [1250, 4375, 5625]),
        ("17-23 is -6, and 17 - 23 too", [17, 23, -6, 17, 23]),
        ("(3+4)-2", [3, 4, 2]),
        ("about 0.74 or 2.5e-07", [0.74, 2.5e-07]),
        ("v2 has 12kg", [12]),
        ("no numbers here", []),
    ],
)
def test_numbers_are_read_with_groups_decimals_and_unary_minus_only(
    text: str, read: list[float]
) -> None:
    assert [n for n, _ in numbers(text)] == read


@pytest.mark.parametrize(
    "text",
    [
        '{"tool":"calculator.evaluate"}',
        '{"arguments":{"expression":"17 * 23"},"tool":"calculator.evaluate"}',
        '{"tool":"calculator.evaluate"} + 1250 + 4375 = 5625',
        '```json\n{"answer": "391"}\n```',
        "   ",
    ],
)
def test_an_echo_of_the_step_json_or_nothing_is_no_answer(text: str) -> None:
    assert is_step_echo(text)
    assert not states(text, 391)
    assert not states(text, 5625)


def test_prose_that_mentions_braces_is_an_answer() -> None:
    assert not is_step_echo("The set {1, 2} has 2 elements.")


@pytest.mark.parametrize(
    ("text", "value", "question", "stated"),
    [
        ("The answer is 391.", 391, "What is 17 times 23?", True),
        ("391.0", 391, "", True),
        ("It is 5,625.", 5625, "", True),
        ("17 times 23", 391, "What is 17 times 23?", False),
        ("The answer is 400.", 391, "", False),
        # Restating the request states its numbers, not a result.
        ("Tom has 38 marbles and 27 more.", 27, "Tom has 38 marbles and gets 27 more.", False),
        ("144 / 12 = 12", 12, "What is 144 divided by 12?", True),
        ("The result is -6.", -6, "", True),
        ("17 - 6", -6, "", False),
        ("about 0.74", 17 / 23, "", True),
        ("about 1", 17 / 23, "", False),
        ("It is Paris.", "paris", "", True),
        ("It is Lyon.", "Paris", "", False),
    ],
)
def test_an_answer_states_a_value_it_writes_more_often_than_the_request(
    text: str, value: Any, question: str, stated: bool
) -> None:
    assert states(text, value, question) is stated


# --- composing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (calc("17 * 23", 391), 391),
        (2.5, 2.5),
        (" sunny ", "sunny"),
        ({"value": True}, None),
        ({"value": float("nan")}, None),
        ([1, 2], None),
        ({"items": [1]}, None),
        (None, None),
    ],
)
def test_a_result_has_one_value_only_when_it_is_a_scalar_or_has_a_scalar_value_field(
    data: Any, value: Any
) -> None:
    assert result_value(data) == value


def test_the_composed_answer_names_the_expression_or_the_tool() -> None:
    assert composed(CALC, calc("17 * 23", 391)) == "17 * 23 = 391"
    assert composed(CALC, calc("27", 27)) == "27"
    assert composed("weather.now", {"value": "sunny"}) == "weather.now returned sunny"
    assert composed("files.list", ["a", "b"]) is None


def test_a_whole_number_beyond_float_range_is_compared_exactly() -> None:
    value = evaluate("10 ** 400")
    assert states(f"It is {value}.", value)
    assert not states(f"It is {value + 1}.", value)
    assert compose("{}", CALC, calc("10 ** 400", value)) == f"10 ** 400 = {value}"


def test_the_quick_start_reply_is_replaced_by_the_calculators_result() -> None:
    answer = compose('{"tool":"calculator.evaluate"}', CALC, calc("17 * 23", 391))
    assert answer == "17 * 23 = 391"


def test_a_model_answer_that_states_the_result_stands() -> None:
    assert compose("17 times 23 is 391.", CALC, calc("17*23", 391), "What is 17 times 23?") is None


def test_a_result_without_a_single_value_leaves_the_model_answer() -> None:
    assert compose('{"tool":"files.list"}', "files.list", ["a", "b"]) is None


@given(
    st.text(alphabet="0123456789+-*/() ", min_size=1, max_size=20),
    st.one_of(st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_a_composed_answer_states_its_own_value(expression: str, value: float) -> None:
    text = composed(CALC, calc(expression, value))
    assert text is not None
    assert states(text, value)
    assert compose(text, CALC, calc(expression, value)) is None


def test_settling_names_who_wrote_the_answer() -> None:
    echo = '{"tool":"calculator.evaluate"}'
    data = calc("17 * 23", 391)
    assert settle(echo, "17 times 23?", CALC, ok=True, data=data) == (
        "17 * 23 = 391",
        "tool_result",
    )
    assert settle("It is 391.", "17 times 23?", CALC, ok=True, data=data) == (
        "It is 391.",
        "model",
    )
    failed = settle(echo, "25% of 80?", CALC, ok=False, data=None, error="cannot evaluate '25%'")
    assert failed == ("calculator.evaluate failed: cannot evaluate '25%'", "tool_error")
    prose = settle("It is 20.", "25% of 80?", CALC, ok=False, data=None, error="cannot evaluate")
    assert prose == ("It is 20.", "model")


# --- repeated calls -------------------------------------------------------------------------


def test_a_call_repeats_an_earlier_one_with_the_same_tool_and_arguments() -> None:
    earlier = [
        steps.CallStep(CALC, {"expression": "6*7"}),
        steps.CallStep(CALC, {"expression": "6*8"}),
    ]
    assert steps.repeat_of(steps.CallStep(CALC, {"expression": "6*8"}), earlier) == 1
    assert steps.repeat_of(steps.CallStep(CALC, {"expression": "6 * 8"}), earlier) is None
    assert steps.repeat_of(steps.CallStep("other.tool", {"expression": "6*7"}), earlier) is None
    assert steps.repeat_of(steps.CallStep(CALC, {"expression": "6*7"}), []) is None


def test_argument_order_does_not_matter_but_json_types_do() -> None:
    earlier = [steps.CallStep("t.x", {"a": 1, "b": [True]})]
    assert steps.repeat_of(steps.CallStep("t.x", {"b": [True], "a": 1}), earlier) == 0
    assert steps.repeat_of(steps.CallStep("t.x", {"a": 1.0, "b": [True]}), earlier) is None
    assert steps.repeat_of(steps.CallStep("t.x", {"a": 1, "b": [1]}), earlier) is None


# --- whether tools are offered ---------------------------------------------------------------

CALCULATOR = ToolInfo(CALC, EVALUATE.description or "", EVALUATE.input_schema or {})
FILES = ToolInfo("files.readFile", "Reads a file.", {"properties": {"path": {"type": "string"}}})


@pytest.mark.parametrize(
    "request_text",
    ["Hello, who are you?", "Tell me a joke.", "Thanks!", "What is the capital of France?"],
)
def test_small_talk_is_offered_no_tools(request_text: str) -> None:
    gate = relevance(request_text, [CALCULATOR, FILES])
    assert gate.offer is False
    assert gate.reason == "the request has no number and names no tool"


@pytest.mark.parametrize(
    ("request_text", "reason"),
    [
        ("What is 17 times 23?", "the request has a number (17)"),
        ("How many eggs are in 7 boxes of 12?", "the request has a number (7)"),
        ("Can you calculate the area of a circle?", "names a tool ('calculate': calculator"),
        ("Evaluate this expression for me", "names a tool ('evaluate': calculator"),
        ("Please read the README file", "names a tool ('read': files.readFile)"),
        ("Which path does it use?", "names a tool ('path': files.readFile)"),
    ],
)
def test_a_number_or_a_tool_or_parameter_name_lets_tools_be_offered(
    request_text: str, reason: str
) -> None:
    gate = relevance(request_text, [CALCULATOR, FILES])
    assert gate.offer is True
    assert reason in gate.reason


def test_short_words_must_match_whole_and_long_ones_by_their_first_six_letters() -> None:
    assert relevance("I like fileting fish", [FILES]).offer is False  # "file" is shorter than 6
    assert relevance("an expressive face", [CALCULATOR]).offer is True  # express... ~ expression
