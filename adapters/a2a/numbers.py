"""Numbers that crossed protobuf: a ``google.protobuf.Value`` holds every number as a double,
so an A2A peer built on protobuf (a2a-sdk, and the gateway's own A2A endpoints) turns the
integer ``128`` of a schema or a result into ``128.0``. JSON itself does not tell the two
apart, but Python, JSON Schema validators and MCP clients do: an integral double within the
range a double holds exactly comes back as an ``int`` wherever A2A data, metadata or a card
is read.
"""

from __future__ import annotations

from typing import Final

from adapters.model import JSON

EXACT: Final = 2**53
"""Integers beyond this are not exact as doubles: such a double is left as it is."""


def whole(number: float) -> int | float:
    """``number`` as an ``int`` when it is integral and exact as a double."""
    if number.is_integer() and -EXACT <= number <= EXACT:
        return int(number)
    return number


def whole_numbers(value: JSON) -> JSON:
    """``value`` with every integral double (see :func:`whole`) as an ``int``; containers
    are copied only where something changes."""
    if type(value) is float:
        return whole(value)
    if type(value) is dict:
        changed = {k: whole_numbers(v) for k, v in value.items()}
        return changed if any(changed[k] is not value[k] for k in value) else value
    if type(value) is list:
        items = [whole_numbers(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value
