"""One error tree for every protocol.

    EffmeshError                  every error effmesh raises on purpose
    ├── BadInput                  the caller's message is wrong
    │   ├── ParseError            not UTF-8, not JSON, too deeply nested
    │   ├── PayloadTooLarge       more bytes than the limit
    │   ├── InvalidRequest        the envelope is wrong (JSON-RPC version, id, method field)
    │   ├── MethodNotFound        a method or route the protocol does not define
    │   └── InvalidParams         a field is missing, mistyped or out of range
    ├── NotFound                  no such task, agent or skill
    ├── Unsupported               a valid request that this peer does not offer
    │   └── CannotCarry           the target protocol has no place for some content
    ├── IllegalTransition         a lifecycle move the state table forbids
    ├── Unauthorized / Forbidden / RateLimited / Timeout / UpstreamUnavailable
    ├── Canceled                  the work was canceled
    └── Internal                  anything else; its wire text is always generic

Each protocol maps these to its wire errors in exactly one place
(``adapters/<protocol>/errors.py``); the HTTP status of each code is one table here,
:data:`HTTP_STATUS`, which every protocol's HTTP answers use. ``public_message`` is built only
from effmesh's own words and short quotes of the offending value, never from another
exception's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Final


class ErrorCode(StrEnum):
    PARSE_ERROR = "parse_error"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_REQUEST = "invalid_request"
    METHOD_NOT_FOUND = "method_not_found"
    INVALID_PARAMS = "invalid_params"
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported"
    CANNOT_CARRY = "cannot_carry"
    ILLEGAL_TRANSITION = "illegal_transition"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    CANCELED = "canceled"
    INTERNAL = "internal"


HTTP_STATUS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {
        ErrorCode.PARSE_ERROR: 400,
        ErrorCode.PAYLOAD_TOO_LARGE: 413,
        ErrorCode.INVALID_REQUEST: 400,
        ErrorCode.METHOD_NOT_FOUND: 404,
        ErrorCode.INVALID_PARAMS: 400,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.UNSUPPORTED: 400,
        ErrorCode.CANNOT_CARRY: 400,
        ErrorCode.ILLEGAL_TRANSITION: 400,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.RATE_LIMITED: 429,
        ErrorCode.TIMEOUT: 504,
        ErrorCode.UPSTREAM_UNAVAILABLE: 502,
        ErrorCode.CANCELED: 409,
        ErrorCode.INTERNAL: 500,
    }
)
"""The HTTP status of an error of each code, in every protocol.

The codes A2A defines take the status of A2A 1.0's error mapping (spec section 5.4, as
a2a-sdk's REST handler answers): a task that cannot be canceled (``illegal_transition``),
an unsupported operation and a content type A2A cannot carry are all 400, like bad input.
ACP's OpenAPI spec leaves every error to its ``default`` response, and acp-sdk's client reads
the body's ``code`` whatever the status, so ACP answers with the same statuses (acp-sdk's own
server says 422 for invalid input). The rest follow HTTP's meaning: 401 and 403 for
credentials, 413 for size, 429 for rate, 502 and 504 for an agent behind the gateway that is
down or slow, 409 for work that was canceled under the request. MCP's streamable HTTP
transport is the exception by its own rule: a JSON-RPC error of a call is in a 200 answer
(the MCP SDK's), and a body that is not JSON is refused with 415, as the SDK does.
"""

_QUOTE_LIMIT = 60


def quote(value: object) -> str:
    """``repr`` of a caller's value, cut short so a huge input is not echoed back."""
    text = repr(value)
    if len(text) > _QUOTE_LIMIT:
        return text[: _QUOTE_LIMIT - 3] + "..."
    return text


class EffmeshError(Exception):
    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, *, data: dict[str, Any] | None = None) -> None:
        self.public_message = message or self.default_message
        self.data = data
        super().__init__(self.public_message)


class BadInput(EffmeshError):
    code = ErrorCode.INVALID_REQUEST
    default_message = "invalid request"


class ParseError(BadInput):
    code = ErrorCode.PARSE_ERROR
    default_message = "the body is not valid JSON"


class PayloadTooLarge(BadInput):
    code = ErrorCode.PAYLOAD_TOO_LARGE
    default_message = "the message is too large"


class InvalidRequest(BadInput):
    code = ErrorCode.INVALID_REQUEST


class MethodNotFound(BadInput):
    code = ErrorCode.METHOD_NOT_FOUND
    default_message = "method not found"

    def __init__(self, method: object) -> None:
        super().__init__(f"unknown method {quote(method)}")
        self.method = method


class InvalidParams(BadInput):
    code = ErrorCode.INVALID_PARAMS
    default_message = "invalid params"

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class NotFound(EffmeshError):
    code = ErrorCode.NOT_FOUND
    default_message = "not found"


class TaskNotFound(NotFound):
    def __init__(self, task_id: object) -> None:
        super().__init__(f"unknown task {quote(task_id)}")


class Unsupported(EffmeshError):
    code = ErrorCode.UNSUPPORTED
    default_message = "operation not supported"


class CannotCarry(Unsupported):
    """The target protocol has no place for ``content``: raised instead of dropping it."""

    code = ErrorCode.CANNOT_CARRY

    def __init__(self, content: str, target: str) -> None:
        super().__init__(f"{target} cannot carry {content}")
        self.content = content
        self.target = target


class IllegalTransition(EffmeshError):
    code = ErrorCode.ILLEGAL_TRANSITION

    def __init__(self, current: str, new: str) -> None:
        super().__init__(f"a task in state {current!r} cannot move to {new!r}")
        self.current = current
        self.new = new


class Unauthorized(EffmeshError):
    code = ErrorCode.UNAUTHORIZED
    default_message = "authentication required"


class Forbidden(EffmeshError):
    code = ErrorCode.FORBIDDEN
    default_message = "not allowed"


class RateLimited(EffmeshError):
    code = ErrorCode.RATE_LIMITED
    default_message = "too many requests"


class Timeout(EffmeshError):
    code = ErrorCode.TIMEOUT
    default_message = "timed out"


class UpstreamUnavailable(EffmeshError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE
    default_message = "the agent is unavailable"


class Canceled(EffmeshError):
    code = ErrorCode.CANCELED
    default_message = "canceled"


class Internal(EffmeshError):
    code = ErrorCode.INTERNAL
    default_message = "internal error"


BY_CODE: dict[ErrorCode, type[EffmeshError]] = {
    ErrorCode.PARSE_ERROR: ParseError,
    ErrorCode.PAYLOAD_TOO_LARGE: PayloadTooLarge,
    ErrorCode.INVALID_REQUEST: InvalidRequest,
    ErrorCode.INVALID_PARAMS: InvalidParams,
    ErrorCode.METHOD_NOT_FOUND: MethodNotFound,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.UNSUPPORTED: Unsupported,
    ErrorCode.CANNOT_CARRY: CannotCarry,
    ErrorCode.ILLEGAL_TRANSITION: IllegalTransition,
    ErrorCode.UNAUTHORIZED: Unauthorized,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.TIMEOUT: Timeout,
    ErrorCode.UPSTREAM_UNAVAILABLE: UpstreamUnavailable,
    ErrorCode.CANCELED: Canceled,
    ErrorCode.INTERNAL: Internal,
}


def from_code(code: ErrorCode, message: str | None = None) -> EffmeshError:
    """Rebuild an error a peer reported, by its code.

    The peer's text is kept as public text: it was already on the wire. Subclass constructors
    that take structured arguments are bypassed, so their extra attributes are absent.
    """
    cls = BY_CODE[code]
    err = cls.__new__(cls)
    EffmeshError.__init__(err, message)
    return err


KNOWN_CODES: frozenset[str] = frozenset(c.value for c in ErrorCode)


def text_of(message: object) -> str | None:
    """A peer's error message, if it is a string."""
    return message if type(message) is str else None


def from_data(data: object, message: object) -> EffmeshError | None:
    """The error a peer named with ``{"effmesh_code": ...}`` in its error data, if it did."""
    named = data.get("effmesh_code") if type(data) is dict else None
    if isinstance(named, str) and named in KNOWN_CODES:
        return from_code(ErrorCode(named), text_of(message))
    return None


def as_effmesh_error(exc: BaseException) -> EffmeshError:
    """The error to put on the wire for ``exc``: itself if it is ours, else a generic Internal."""
    if isinstance(exc, EffmeshError):
        return exc
    return Internal()
