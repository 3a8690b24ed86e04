"""A seeded generator of bad wire input, shared by the adapter tests.

It starts from valid messages and breaks them the ways peers and attackers do: wrong types,
missing fields, extra nesting, broken bytes. Deterministic for a given seed, so a failure
reproduces.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x" * 300,
    [],
    {},
    [1, "a"],
    {"k": None},
    "\ud800",
    "\u0000",
    "ROLE_UNKNOWN",
    "TASK_STATE_NOPE",
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def _mutate(value: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(value)
    where = list(paths(doc))
    path = rng.choice(where)
    if not path:
        return rng.choice(ODD_VALUES)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.randrange(4)
    if action == 0 and isinstance(parent, dict):
        del parent[last]
    elif action == 1:
        parent[last] = rng.choice(ODD_VALUES)
    elif action == 2:
        parent[last] = [parent[last]]
    elif isinstance(parent, dict):
        parent[rng.choice(["", "_meta", "type", "kind", "id", "parts"])] = rng.choice(ODD_VALUES)
    return doc


def bad_documents(valid: list[Any], count: int, seed: int) -> Iterator[Any]:
    """``count`` mutated JSON documents (one to three mutations each)."""
    rng = random.Random(seed)
    for _ in range(count):
        doc = rng.choice(valid)
        for _ in range(rng.randint(1, 3)):
            doc = _mutate(doc, rng)
        yield doc


def bad_bytes(valid: list[Any], count: int, seed: int) -> Iterator[bytes]:
    """``count`` byte strings that are not a well-formed message: broken JSON, invalid UTF-8,
    deep nesting, oversized bodies, random bytes, and mutated documents."""
    rng = random.Random(seed)
    docs = list(bad_documents(valid, count, seed + 1))
    for i in range(count):
        raw = json.dumps(docs[i]).encode()
        kind = i % 8
        if kind == 0:
            yield raw[: rng.randrange(max(1, len(raw)))]
        elif kind == 1:
            cut = rng.randrange(max(1, len(raw)))
            yield raw[:cut] + bytes([rng.choice([0xC3, 0xFF, 0x80, 0xED])]) + raw[cut:]
        elif kind == 2:
            depth = rng.choice([65, 200, 5000, 100_000])
            yield b"[" * depth + b"]" * depth
        elif kind == 3:
            yield (
                b'{"jsonrpc":"2.0","id":1,"params":{"x":"' + b"a" * (5 * 1024 * 1024) + b'"}}'
                if i % 800 == 3
                else bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            )
        elif kind == 4:
            yield raw.replace(b"2.0", b"1.0", 1)
        elif kind == 5:
            yield b'{"a": NaN}' if rng.random() < 0.5 else b'{"a": Infinity, "b": 1}'
        else:
            yield raw
