"""The translation-rule manifest: every rule of every adapter and direction has a test.

The manifest is the set of ``@pytest.mark.rule(...)`` marks on the tests; ``python -m
tests.test_rules`` prints it (rule -> tests). A rule with no test, or a mark naming a rule that
does not exist, fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections import defaultdict
from typing import Any

import tests
from adapters.rules import ALL_RULES


def manifest() -> dict[str, list[str]]:
    """Rule id -> the tests that cover it."""
    covered: dict[str, list[str]] = defaultdict(list)
    for info in pkgutil.iter_modules(tests.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"tests.{info.name}")
        for name, obj in vars(module).items():
            if not name.startswith("test_"):
                continue
            marks: list[Any] = getattr(obj, "pytestmark", [])
            for mark in marks:
                if mark.name == "rule":
                    for rule_id in mark.args:
                        covered[rule_id].append(f"tests/{info.name}.py::{name}")
    return dict(covered)


def test_every_translation_rule_has_a_test() -> None:
    covered = manifest()
    missing = [rule_id for rule_id, _ in ALL_RULES if not covered.get(rule_id)]
    assert missing == []


def test_every_rule_a_test_names_exists() -> None:
    known = {rule_id for rule_id, _ in ALL_RULES}
    unknown = sorted(set(manifest()) - known)
    assert unknown == []


def test_rule_ids_are_unique_and_cover_six_directions() -> None:
    ids = [rule_id for rule_id, _ in ALL_RULES]
    assert len(ids) == len(set(ids))
    directions = {rid.split(".")[1] for rid in ids if rid.startswith("direction.")}
    assert directions == {"mcp->a2a", "mcp->acp", "a2a->mcp", "a2a->acp", "acp->mcp", "acp->a2a"}


if __name__ == "__main__":
    for rule_id, text in ALL_RULES:
        tests_for = manifest().get(rule_id, [])
        sys.stdout.write(f"{rule_id}: {text}\n")
        for t in tests_for:
            sys.stdout.write(f"    {t}\n")
