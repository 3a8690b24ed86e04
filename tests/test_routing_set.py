"""The labelled routing set: a training split the router may be tuned on and a held-out split,
in its own file, that only evaluation reads. Checks size, languages, balance, and that the
held-out split shares no task with what the router was tuned on."""

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
    extra_split, extra = _tasks("routing_train_extra.json")
    held_split, held = _tasks("routing_heldout.json")
    assert (train_split, extra_split, held_split) == ("train", "train", "heldout")
    train = train + extra
    every = train + held
    assert len(train) >= 800
    assert len(held) >= 300
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


def test_the_held_out_split_covers_every_language_and_strategy_evenly() -> None:
    _, held = _tasks("routing_heldout.json")
    langs = Counter(t["lang"] for t in held)
    assert len(langs) == 10
    assert min(langs.values()) >= 30
    cells = Counter((t["lang"], t["strategy"]) for t in held)
    assert set(cells) == {(lang, s) for lang in langs for s in STRATEGIES}
    assert len(set(cells.values())) == 1  # as many of each strategy in every language


def test_no_held_out_task_is_one_the_router_was_tuned_on() -> None:
    _, train = _tasks("routing_train.json")
    _, extra = _tasks("routing_train_extra.json")
    _, held = _tasks("routing_heldout.json")
    train = train + extra
    own = json.loads((DATA / "routing_tasks.json").read_text())["tasks"]
    tuned = {" ".join(t["task"].lower().split()) for t in train + own}
    assert not tuned & {" ".join(t["task"].lower().split()) for t in held}
