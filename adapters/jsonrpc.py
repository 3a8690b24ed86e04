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
    """A decode failure that still knows the request id (None when it could not be read)."""

    def __init__(self, error: EffmeshError, id: RequestId | None) -> None:
        super().__init__(error.public_message)
        self.error = error
        self.id = id


def _id_of(msg: Any) -> RequestId | None:
    if type(msg) is dict:
        rid = msg.get("id")
        if type(rid) in (str, int):
            return rid  # type: ignore[no-any-return,unused-ignore]
    return None


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
        raise EnvelopeError(exc, None) from None
    return request_from_json(msg)


def request_from_json(msg: Any) -> Request:
    rid = _id_of(msg)
    if type(msg) is not dict:
        raise EnvelopeError(InvalidRequest("a JSON-RPC message must be an object"), None)
    if msg.get("jsonrpc") != VERSION:
        raise EnvelopeError(InvalidRequest('"jsonrpc" must be "2.0"'), rid)
    method = msg.get("method")
    if type(method) is not str:
        raise EnvelopeError(InvalidRequest('"method" must be a string'), rid)
    if "id" in msg and (type(msg["id"]) not in (str, int)):
        raise EnvelopeError(InvalidRequest('"id" must be a string or an integer'), None)
    params = msg.get("params", {})
    if type(params) is not dict:
        raise EnvelopeError(InvalidRequest('"params" must be an object'), rid)
    return Request(method, params, rid if "id" in msg else None)


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
