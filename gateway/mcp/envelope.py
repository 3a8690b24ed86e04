"""The MCP endpoint's look at a POST body before the SDK's streamable HTTP transport has it.

The SDK answers a body it cannot parse with the parser's own text (nesting too deep included)
and its model's validation text, and takes a request whose ``id`` is of the wrong type for a
notification, accepted with a silent 202. Here such a body gets a JSON-RPC error of effmesh's
own words: a parse error, or an Invalid Request answered with ``id: null``.
"""

from __future__ import annotations

from typing import Any, Final

import mcp_types as mt
from pydantic import ValidationError

from adapters import _json, jsonrpc, mcp
from adapters.errors import HTTP_STATUS, EffmeshError, InvalidRequest
from gateway.bodies import Refusal

_REQUEST_MEMBERS: Final = frozenset({"jsonrpc", "id", "method", "params"})


def _plain_request(message: dict[str, Any]) -> bool:
    """A request or notification whose envelope the SDK's model takes as it is, told without
    building the model (most requests, tool calls above all, are such)."""
    params = message.get("params")
    return (
        message.get("jsonrpc") == "2.0"
        and type(message.get("method")) is str
        and (params is None or type(params) is dict)
        and message.keys() <= _REQUEST_MEMBERS
    )


def check(path: str, body: bytes) -> Refusal | None:
    """A refusal for a body that is not one JSON-RPC message the SDK takes (see the module)."""
    rid: jsonrpc.RequestId | None = None
    try:
        message = _json.loads(body)
        if type(message) is dict:
            jsonrpc.check_id(message)  # MCP's ids are strings or integers, never null
            rid = message.get("id")
            if _plain_request(message):
                return None
        mt.jsonrpc_message_adapter.validate_python(message, by_name=False)
    except EffmeshError as exc:
        err = exc
    except jsonrpc.EnvelopeError as exc:
        err = exc.error
    except ValidationError:
        err = InvalidRequest("not a JSON-RPC request, notification or response")
    else:
        return None
    return HTTP_STATUS[err.code], _json.dumps(mcp.error_response(err, rid))
