"""Bad wire input for the endpoint fuzz tests, and what an answer to it must look like.

Inputs start from valid messages and are broken by a *recipe* that hypothesis draws: a base
message, up to three operations (on the JSON structure or on the serialized bytes) and a
framing choice (content type, chunked body, binary WebSocket frame). A recipe is a few small
integers, so hypothesis draws it cheaply and shrinks a failure to a short one.

The checks say whether an answer is in the endpoint's own protocol: a JSON-RPC message, an
A2A REST error body, an ACP ``Error``, the gateway's own error, and that no internal text
(a traceback, an exception's name or message) leaks into it.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from hypothesis import strategies as st

from tests.badinput import ODD_VALUES, paths

Op = tuple[int, int, int]
"""(operation, where, what): ``where`` and ``what`` pick a place and a value, modulo size."""
Recipe = tuple[int, tuple[Op, ...], int]
"""(base message, operations, framing)."""

ODD: Final[list[Any]] = [
    *ODD_VALUES,
    1.5,
    -0.0,
    1e308,
    2**63,
    -(2**63) - 1,
    {"a": {"b": []}},
    [None],
    "\u202e",
    "\U0001f600",
    "\x7f",
]
ODD_IDS: Final[list[Any]] = [None, True, False, 1.5, -0.0, 1e308, {}, {"a": 1}, [], [1], "", "x"]
ODD_IDS_VALID: Final[list[Any]] = [0, -1, 2**63, 2**70, "0"]
KEYS: Final = ["", "_meta", "type", "kind", "id", "method", "params", "result", "error", "jsonrpc"]
METHODS: Final = [
    "",
    "x",
    "initialize",
    "tools/call",
    "tools/list",
    "ping",
    "notifications/initialized",
    "SendMessage",
    "GetTask",
    "CancelTask",
    "message/send",
    "runs/create",
    "runs/get",
    "agents/list",
    "mesh/register",
    "mesh/run",
    "mesh/event",
    "mesh/hello",
    "rpc.discover",
]
STRINGS: Final = ["", "\x00", "\udfff", "\ud800\udc00", "\u202e\u0645", "%00", "a" * 3000, " "]
DEPTHS: Final = [2, 16, 30, 31, 32, 33, 40, 64]
"""Around the reader's limit (32); far deeper nesting is built at the byte level."""
DEEP_BYTES: Final = [33, 100, 1000, 5000, 20_000, 100_000]
BAD_UTF8: Final = [
    b"\xff",
    b"\xfe",
    b"\xc3",
    b"\x80",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x82",
]
JUNK: Final = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b",",
    b"//x\n",
    b"'",
    b"\xef\xbb\xbf",
    b"\x00",
    b"}",
    b"]",
    b"\\",
    b'"\\u12"',
    b"1e99999",
    b"-",
    b"tru",
    b'"id":{},',
    b'"jsonrpc":"1.0",',
]
STRUCTURE_OPS: Final = 10
BYTE_OPS: Final = 10


OPS: Final = STRUCTURE_OPS + BYTE_OPS


def _op(n: int) -> Op:
    return n % OPS, (n // OPS) % 2**16, n // (OPS * 2**16)


def recipes(bases: int) -> st.SearchStrategy[Recipe]:
    """A base (``0 <= base < bases``), one to three operations, a framing choice. An
    operation is drawn as one integer (one draw, not three: drawing is most of the cost)."""
    op = st.integers(0, OPS * 2**16 * 256 - 1).map(_op)
    return st.tuples(
        st.integers(0, bases - 1),
        st.lists(op, min_size=1, max_size=3).map(tuple),
        st.integers(0, 255),
    )


# --- structure -----------------------------------------------------------------------------


def _pick(doc: Any, where: int, wanted: type | None = None) -> tuple[Any, ...] | None:
    """The path ``where`` picks among the places of ``doc`` (holding a ``wanted``, if given)."""
    found = [p for p in paths(doc) if wanted is None or isinstance(_get(doc, p), wanted)]
    return found[where % len(found)] if found else None


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _put(doc: Any, path: tuple[Any, ...], make: Callable[[Any], Any]) -> Any:
    """``doc`` with the value at ``path`` replaced by ``make(value)`` (the root: returned)."""
    if not path:
        return make(doc)
    parent = _get(doc, path[:-1])
    parent[path[-1]] = make(parent[path[-1]])
    return doc


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


def _odd(i: int) -> Any:
    """A fresh copy of an odd value (later operations change values in place)."""
    return copy.deepcopy(ODD[i % len(ODD)])


def _structure(doc: Any, code: int, where: int, what: int) -> Any:
    path = _pick(doc, where) or ()
    if code == 0:
        return _put(doc, path, lambda _: _odd(what))
    if code == 1 and path:
        del _get(doc, path[:-1])[path[-1]]
    elif code == 2:
        return _put(doc, path, lambda v: [v])
    elif code == 3 and isinstance(doc, dict):
        ids = ODD_IDS + ODD_IDS_VALID
        doc["id"] = copy.deepcopy(ids[what % len(ids)])
    elif code == 4:
        depth = DEPTHS[what % len(DEPTHS)]
        return _put(doc, path, lambda v: _nest(v, depth, where % 2 == 0))
    elif code == 5 and (place := _pick(doc, where, dict)) is not None:
        _get(doc, place)[KEYS[what % len(KEYS)]] = _odd(where)
    elif code == 6:
        return [_odd(where), [doc], [doc, copy.deepcopy(doc)], []][what % 4]
    elif code == 7 and isinstance(doc, dict):
        doc["method"] = METHODS[what % len(METHODS)]
    elif code == 8 and (place := _pick(doc, where, str)) is not None:
        return _put(doc, place, lambda _: STRINGS[what % len(STRINGS)])
    elif code == 9 and isinstance(doc, dict):
        doc["jsonrpc"] = ["1.0", 2, None, "2.0 ", "", {"v": "2.0"}][what % 6]
    return doc


# --- bytes ---------------------------------------------------------------------------------


def _bytes(raw: bytes, code: int, where: int, what: int) -> bytes:
    at = where % (len(raw) + 1)
    if code == 0:
        return raw[:at]
    if code == 1:
        return raw[:at] + BAD_UTF8[what % len(BAD_UTF8)] + raw[at:]
    if code == 2 and raw:
        i = where % len(raw)
        return raw[:i] + bytes([raw[i] ^ (what | 1)]) + raw[i + 1 :]
    if code == 3:
        return raw[:at] + raw[at + 1 :]
    if code == 4:
        return raw[:at] + raw[at : at + what % 32] + raw[at:]
    if code == 5:
        return raw[:at] + JUNK[what % len(JUNK)] + raw[at:]
    if code == 6:
        return bytes((where * 31 + i * what) % 256 for i in range(what % 64))
    if code == 7:
        n = DEEP_BYTES[what % len(DEEP_BYTES)]
        if where % 3 == 0:
            return b"[" * n + b"]" * n
        if where % 3 == 1:
            return b'{"a":' * n + b"1" + b"}" * n
        return b"[" * n
    if code == 8:
        return [b"", b" \n\t", b"null", b"0"][what % 4]
    if code == 9:
        return raw.replace(b"{", b'{"id":{},', 1) if what % 2 else raw.replace(b"{", b"{{", 1)
    return raw


def build(base: Any, ops: tuple[Op, ...]) -> bytes:
    """The bytes ``ops`` make of ``base``: structure operations first, then byte operations."""
    doc = copy.deepcopy(base)
    for code, where, what in ops:
        if code < STRUCTURE_OPS:
            doc = _structure(doc, code, where, what)
    raw = json.dumps(doc).encode()
    for code, where, what in ops:
        if code >= STRUCTURE_OPS:
            raw = _bytes(raw, code - STRUCTURE_OPS, where, what)
    return raw


# --- answers -------------------------------------------------------------------------------

LEAKS: Final = re.compile(
    r"Traceback|recursion|Recursion|[A-Z][A-Za-z]*(Error|Exception)\b|NoneType|"
    r"object has no attribute|codec can't|pydantic|Expecting (value|property)|line \d+ column|"
    r"Failed to load JSON|unknown exception|File \"|[Ii]nternal error"
)
"""Internal text (a traceback, an exception's class name or a parser's own message), or the
generic internal error a bug is answered with (the caller's input must never cause one)."""
INTERNAL_ERROR: Final = -32603


def leak(text: str) -> str | None:
    found = LEAKS.search(text)
    return None if found is None else found.group(0)


def jsonrpc_problem(msg: Any, sent_id: Any = None) -> str | None:
    """Why ``msg`` is not a JSON-RPC message a server may send; None if it is one."""
    if type(msg) is not dict or msg.get("jsonrpc") != "2.0":
        return "not a JSON-RPC 2.0 object"
    if "method" in msg:
        return None if type(msg["method"]) is str else "a method that is not a string"
    if "id" not in msg:
        return "a response without an id"
    rid = msg["id"]
    if rid is not None and type(rid) not in (str, int):
        return f"a response id of type {type(rid).__name__}"
    if ("result" in msg) == ("error" in msg):
        return "not exactly one of result and error"
    if sent_id is not None and rid is not None and rid != sent_id:
        return f"the answer's id {rid!r} is not the request's {sent_id!r}"
    error = msg.get("error")
    if error is not None and not (
        type(error) is dict and type(error.get("code")) is int and type(error.get("message")) is str
    ):
        return "an error object without an integer code and a string message"
    if error is not None and error["code"] == INTERNAL_ERROR:
        return "an internal error"
    return None


def a2a_rest_problem(body: Any, status: int) -> str | None:
    if status < 400:
        return None if type(body) is dict else "a REST answer that is not an object"
    error = body.get("error") if type(body) is dict else None
    if not (
        type(error) is dict
        and error.get("code") == status
        and type(error.get("status")) is str
        and type(error.get("message")) is str
        and type(error.get("details")) is list
    ):
        return "not A2A's REST error body"
    return None


def acp_problem(body: Any, status: int) -> str | None:
    if status < 400:
        return None if type(body) is dict else "an ACP answer that is not an object"
    if not (
        type(body) is dict and type(body.get("code")) is str and type(body.get("message")) is str
    ):
        return "not ACP's Error body"
    return None


def gateway_problem(body: Any, status: int) -> str | None:
    if status < 400:
        return None if type(body) is dict else "an answer that is not an object"
    error = body.get("error") if type(body) is dict else None
    if not (
        type(error) is dict and type(error.get("code")) is str and type(error.get("message")) is str
    ):
        return "not the gateway's error body"
    return None


def protocol_of(path: str) -> str:
    """The protocol an answer on ``path`` must be in (as ``gateway.errors`` picks it)."""
    if path.startswith("/mcp"):
        return "jsonrpc"
    if re.match(r"^/a2a/(?:[^/]+/)?rest(?:/|$)", path):
        return "a2a-rest"
    if path.startswith(("/a2a", "/.well-known")):
        return "jsonrpc"
    if path.startswith("/acp"):
        return "acp"
    return "gateway"


def sent_id(raw: bytes) -> Any:
    """The request's id, when ``raw`` is a JSON object with a string or integer one."""
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    rid = msg.get("id") if type(msg) is dict else None
    return rid if type(rid) in (str, int) else None


def http_problem(path: str, status: int, ctype: str, body: bytes, sent: bytes) -> str | None:
    """Why an HTTP answer is not one in the path's protocol; None if it is."""
    if status >= 500:
        return f"status {status}"
    text = body.decode("utf-8", "replace")
    if (found := leak(text)) is not None:
        return f"internal text {found!r}"
    if not body:
        return None if status in (202, 204) else f"an empty {status} answer"
    protocol = protocol_of(path)
    if protocol == "jsonrpc" and status < 400 and not sent:
        protocol = "gateway"  # not a call: an agent card, say, is any JSON object
    if ctype.startswith("text/event-stream"):
        events = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        documents = [e for e in events if e]
    elif ctype.startswith(("application/json", "application/a2a+json")):
        documents = [text]
    else:
        return f"content type {ctype!r}"
    for document in documents:
        try:
            value = json.loads(document)
        except ValueError:
            return "a body that is not JSON"
        problem = {
            "jsonrpc": lambda v: jsonrpc_problem(v, sent_id(sent)),
            "a2a-rest": lambda v: a2a_rest_problem(v, status),
            "acp": lambda v: acp_problem(v, status),
            "gateway": lambda v: gateway_problem(v, status),
        }[protocol](value)
        if problem is not None:
            return problem
    return None


# --- counts --------------------------------------------------------------------------------


@dataclass
class Tally:
    """What was tried on one endpoint kind, what held, and how it was answered."""

    tried: int = 0
    held: int = 0
    answers: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"tried": self.tried, "held": self.held, "answers": dict(self.answers)}
