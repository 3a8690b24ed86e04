"""The labelled routing set: a training split the router may be tuned on and a held-out split,
in its own file, that only evaluation reads. Checks size, languages, balance and that the
held-out split is a stratified share of every language and strategy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
STRATEGIES = {"single", "parallel", "sequential", "hierarchical"}


def _tasks(name: str) -> tuple[str, list[dict[str, Any]]]:
    raw = json.loads((DATA / name).read_text(encoding="utf-8"))
    return raw["split"], raw["tasks"]


def test_the_set_is_large_multilingual_and_balanced() -> None:
    train_split, train = _tasks("routing_train.json")
    held_split, held = _tasks("routing_heldout.json")
    assert (train_split, held_split) == ("train", "heldout")
    every = train + held
    assert len(every) >= 500
    langs = Counter(t["lang"] for t in every)
    assert {"en", "de", "fr", "es", "it", "pt", "nl", "pl"} <= set(langs)
    assert {"ja", "zh"} & set(langs)
    assert min(langs.values()) >= 40
    per = Counter(t["strategy"] for t in every)
    assert set(per) == STRATEGIES
    assert max(per.values()) == min(per.values())
    texts = [t["task"] for t in every]
    assert len(set(texts)) == len(texts)
    own = {t["task"] for t in json.loads((DATA / "routing_tasks.json").read_text())["tasks"]}
    assert not own & set(texts)
    for t in every:
        assert set(t) == {"task", "strategy", "lang", "requirements", "split"}
        assert t["strategy"] in STRATEGIES
        assert (t["requirements"] == 1) == (t["strategy"] == "single")
    assert {t["split"] for t in train} == {"train"}
    assert {t["split"] for t in held} == {"heldout"}


def test_the_held_out_split_is_a_stratified_share_of_each_language_and_strategy() -> None:
    _, train = _tasks("routing_train.json")
    _, held = _tasks("routing_heldout.json")
    cells = Counter((t["lang"], t["strategy"]) for t in train + held)
    kept = Counter((t["lang"], t["strategy"]) for t in held)
    assert set(kept) == set(cells)
    for cell, total in cells.items():
        assert 0.35 <= kept[cell] / total <= 0.45, cell
    assert len(held) / (len(held) + len(train)) >= 0.39
