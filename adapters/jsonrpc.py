"""The JSON-RPC 2.0 envelope that MCP and A2A's JSON-RPC binding share (sans-I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from adapters import _json
from adapters.errors import EffmeshError, InvalidRequest

VERSION: Final = "2.0"

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

RequestId = str | int


@dataclass(frozen=True, slots=True)
class Request:
    """A request (``id`` set) or a notification (``id`` None)."""

    method: str
    params: dict[str, Any]
    id: RequestId | None = None


class EnvelopeError(Exception):
    """A decode failure that still knows the request id (None when it could not be read).

    ``owed``: whether the sender is owed an error answer. By default, when there is an id to
    answer; JSON-RPC also answers a message that is not JSON or not a well-formed request
    (with ``id: null``). A reply, or a notification, is never answered.
    """

    def __init__(
        self, error: EffmeshError, id: RequestId | None, *, owed: bool | None = None
    ) -> None:
        super().__init__(error.public_message)
        self.error = error
        self.id = id
        self.owed = id is not None if owed is None else owed


def valid_id(value: object, *, null: bool = False) -> bool:
    """Whether ``value`` may be a request id: a string or an integer (a bool is neither), or
    null where ``null`` allows it (plain JSON-RPC does; MCP does not)."""
    return type(value) in (str, int) or (null and value is None)


def check_id(msg: dict[str, Any], *, null: bool = False) -> None:
    """Refuse a message whose ``id`` member is present but not a valid id.

    Such a message is an Invalid Request answered with ``id: null``, never a notification
    (a notification has no ``id`` member at all).

    Raises:
        EnvelopeError: wrapping InvalidRequest, with no id.
    """
    if "id" in msg and not valid_id(msg["id"], null=null):
        allowed = "a string, an integer or null" if null else "a string or an integer"
        raise EnvelopeError(InvalidRequest(f'"id" must be {allowed}'), None, owed=True)


def parse_request(raw: bytes | str, *, max_bytes: int = _json.MAX_BYTES) -> Request:
    """Decode the bytes of one JSON-RPC request or notification.

    Batches are refused (MCP removed them in 2025-06-18; A2A never had them).

    Raises:
        EnvelopeError: wrapping ParseError, PayloadTooLarge or InvalidRequest, with the request
            id when one could be read.
    """
    try:
        msg = _json.loads(raw, max_bytes=max_bytes)
    except EffmeshError as exc:
        raise EnvelopeError(exc, None, owed=True) from None
    return request_from_json(msg)


def check_request(msg: Any, *, null_id: bool = False) -> RequestId | None:
    """Check the envelope of one request or notification; its id, if it has one.

    ``null_id``: ``"id": null`` is allowed (plain JSON-RPC) and read as no id.

    Raises:
        EnvelopeError: wrapping InvalidRequest (always owed an answer), with the request id
            when one could be read.
    """
    if type(msg) is not dict:
        raise EnvelopeError(InvalidRequest("a JSON-RPC message must be an object"), None, owed=True)
    check_id(msg, null=null_id)
    rid: RequestId | None = msg.get("id")
    if msg.get("jsonrpc") != VERSION:
        raise EnvelopeError(InvalidRequest('"jsonrpc" must be "2.0"'), rid, owed=True)
    if type(msg.get("method")) is not str:
        raise EnvelopeError(InvalidRequest('"method" must be a string'), rid, owed=True)
    if type(msg.get("params", {})) is not dict:
        raise EnvelopeError(InvalidRequest('"params" must be an object'), rid, owed=True)
    return rid


def request_from_json(msg: Any) -> Request:
    """The request or notification ``msg`` holds (see :func:`check_request`)."""
    rid = check_request(msg)
    return Request(msg["method"], msg.get("params", {}), rid)


def request(id: RequestId | None, method: str, params: dict[str, Any]) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": VERSION, "method": method, "params": params}
    if id is not None:
        msg["id"] = id
    return msg


def result(id: RequestId, value: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "id": id, "result": value}


def error(id: RequestId | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": VERSION, "id": id, "error": err}
