"""Bytes to JSON and back, with the limits every endpoint applies before an adapter runs."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

from adapters.errors import ParseError, PayloadTooLarge, quote

MAX_BYTES: Final = 4 * 1024 * 1024
MAX_DEPTH: Final = 32
"""Deep enough for any real message; protobuf peers (A2A) stop at 100 levels of their own,
which is about 50 of JSON once Struct wrapping is counted."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


class _DuplicateName(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Readers disagree on a repeated name (Python's keeps the last, protobuf's refuses):
    # refusing it here means every SDK behind the gateway reads what the gateway checked.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateName(name)
            seen.add(name)
    return obj


_decoder = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_unique)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def _quick(raw: bytes | bytearray | str, max_depth: int) -> Any:
    """``raw`` as orjson reads it, when that is what :func:`loads` must return; else
    ``_UNSURE``. orjson refuses what the careful reader refuses or reads otherwise (NaN and
    Infinity, a lone surrogate, bytes that are not UTF-8, a byte order mark, a number beyond
    doubles) and reads an integer beyond 64 bits as a float (long runs of digits are left to
    the careful reader), but keeps the last of a repeated name: the colons tell. Each member
    of an object is written with one colon outside strings, and orjson writes back every
    colon inside strings as it is, so a document whose strings escape no colon (``\\u003a``)
    holds as many colons as its reading written back, less one for each name it repeated."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _UNSURE
    if isinstance(raw, str):
        raw = raw.encode("utf-8")  # orjson read it: it is text that encodes
    if b"u003a" in raw or b"u003A" in raw or _LONG_NUMBER in raw.translate(_DIGITS):
        return _UNSURE
    if raw.count(b"[") + raw.count(b"{") > max_depth and _depth_exceeds(value, max_depth):
        return _UNSURE
    try:
        written = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: nested deeper than orjson writes
        return _UNSURE
    if raw.count(b":") != written.count(b":"):
        return _UNSURE  # a repeated name: the careful reader says which
    return value


_UNSURE: Final = object()
_DIGITS: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER: Final = b"0" * 19
"""Digits enough for an integer beyond 64 bits, once :data:`_DIGITS` has made each a 0 (a
translation and a search for a fixed string: a tenth of the time of a pattern's search)."""


def loads(raw: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON document from the wire.

    Raises:
        PayloadTooLarge: ``raw`` is longer than ``max_bytes``.
        ParseError: not UTF-8, not JSON (NaN and Infinity included), an object that repeats a
            name, or nested deeper than ``max_depth``.
    """
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the message has {len(raw)} bytes; the limit is {max_bytes}")
    # Most documents are read by orjson, in a third of the time; the rest by Python's reader,
    # which reads what orjson cannot and says what is wrong with the others.
    value = _quick(raw, max_depth)
    if value is not _UNSURE:
        return value
    return _careful(raw, max_depth)


def _careful(raw: bytes | str, max_depth: int) -> Any:
    if isinstance(raw, bytes | bytearray):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("the body is not valid UTF-8") from None
        openers = raw.count(b"[") + raw.count(b"{")
    else:
        text = raw
        openers = text.count("[") + text.count("{")
    try:
        value = _decoder.decode(text)
    except RecursionError:
        raise ParseError(f"the JSON is nested deeper than {max_depth} levels") from None
    except _DuplicateName as exc:
        raise ParseError(f"the JSON repeats the name {quote(exc.name)} in an object") from None
    except ValueError:
        raise ParseError() from None
    # Counting brackets is a cheap upper bound on depth; walk the tree only when it is not enough.
    if openers > max_depth and _depth_exceeds(value, max_depth):
        raise ParseError(f"the JSON is nested deeper than {max_depth} levels")
    # A \uD800-style escape can decode to half a surrogate pair, which is not text; look
    # only when such an escape occurs at all.
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise ParseError("the JSON holds a lone surrogate escape")
    return value


def dumps(value: Any) -> bytes:
    """Serialize for the wire (ASCII-escaped, so any Python str encodes)."""
    return json.dumps(value, separators=(",", ":")).encode()


def dumps_utf8(value: Any) -> bytes:
    """Serialize as :func:`dumps` does, in UTF-8 rather than ASCII escapes: the same JSON
    value in about a thirtieth of the time (orjson). What orjson refuses (a lone surrogate,
    an integer beyond 64 bits, a key that is not a string) goes through :func:`dumps`; a
    non-finite float becomes null, where :func:`dumps` would write a token JSON lacks."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return dumps(value)
