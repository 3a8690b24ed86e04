"""The A2A endpoints' look at a POST body before a2a-sdk has it.

a2a-sdk parses with Python's and protobuf's JSON readers: nesting too deep comes back as an
internal error quoting the ``RecursionError``, bytes that are not UTF-8 as a 500 from the REST
binding, and a malformed body or envelope with the parser's own text. Here the body goes
through effmesh's bounded reader first, and a bad one gets A2A's error of effmesh's own words:
a JSON-RPC error on the JSON-RPC binding (``/a2a``, ``/a2a/<agent>``), the REST error body on
the HTTP+JSON binding (``.../rest/...``).
"""

from __future__ import annotations

import re
from typing import Final

from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import Message

from adapters import _json, a2a, jsonrpc
from adapters.errors import EffmeshError, InvalidParams, InvalidRequest
from gateway.bodies import Refusal
from gateway.errors import is_a2a_rest

_JSONRPC: Final = re.compile(r"^/a2a(?:/[^/]+)?/?$")
_NO_BODY: Final = (":cancel", ":subscribe")
"""The REST methods that take no body (a2a-sdk does not read one)."""
JSONRPC_STATUS: Final = 200
"""a2a-sdk answers every JSON-RPC error, a parse error included, in a 200."""


_SENDS: Final = ("/message:send", "/message:stream")


def _fits(value: dict[str, object], shape: Message) -> None:
    """Refuse ``value`` in effmesh's words when it is not JSON of ``shape`` (a2a-sdk would
    answer with protobuf's parser text, quoting Python's own errors).

    Raises:
        InvalidParams: it does not fit.
    """
    try:
        json_format.ParseDict(value, shape, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError):
        raise InvalidParams("is not a valid SendMessageRequest", path="body") from None


def check(path: str, body: bytes) -> Refusal | None:
    """A refusal for a body a2a-sdk would choke on or answer in its parser's words."""
    if is_a2a_rest(path):
        if not body and path.endswith(_NO_BODY):
            return None
        try:
            value = _json.loads(body)
            if type(value) is not dict:
                raise InvalidRequest("the body must be a JSON object")
            if path.endswith(_SENDS):
                _fits(value, pb.SendMessageRequest())
        except EffmeshError as exc:
            status, answer = a2a.rest_error(exc)
            return status, _json.dumps(answer)
        return None
    if not _JSONRPC.match(path):
        return None  # no such endpoint: the router answers
    rid: jsonrpc.RequestId | None = None
    try:
        jsonrpc.check_request(_json.loads(body), null_id=True)
    except EffmeshError as exc:
        err = exc
    except jsonrpc.EnvelopeError as exc:
        err, rid = exc.error, exc.id
    else:
        return None
    return JSONRPC_STATUS, _json.dumps(a2a.jsonrpc_error(err, rid))
