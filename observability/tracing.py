"""Spans at effmesh's boundaries, through the OpenTelemetry API only.

Until an entry point installs the SDK (``observability.sdk.configure``), every function here
is a cheap no-op: the API hands out non-recording spans.

Context is passed explicitly where work crosses an async generator: attaching a context in
one step of a generator and detaching it in another breaks when the generator is closed from
another task, so :func:`carry` attaches the context around each step instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from typing import Any, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode

__all__ = [
    "NOTHING",
    "Context",
    "Span",
    "SpanKind",
    "Status",
    "StatusCode",
    "attach",
    "carrier_of",
    "carry",
    "content_enabled",
    "current",
    "detach",
    "enable_content",
    "enable_recording",
    "failed",
    "inbound",
    "recording",
    "span",
    "start",
    "tracer",
    "wire_carrier",
]

T = TypeVar("T")

tracer: Final = trace.get_tracer("effmesh", "0.1.0")

_content = False
_recording = False
NOTHING: Final[Span] = NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
"""The span work gets while no spans are recorded."""


def enable_recording(on: bool) -> None:
    """Spans are made only once an entry point installed an exporting SDK. Until then the
    helpers here do nothing at all, not even the API's no-op spans and context switches, and
    an untraced gateway passes a caller's trace context on unchanged."""
    global _recording  # noqa: PLW0603 - one process-wide switch, set once at start-up
    _recording = on


def recording() -> bool:
    return _recording


def enable_content(on: bool) -> None:
    """Let spans carry prompt and answer text (``[telemetry] capture_content``). Off by
    default: prompts may hold personal data or secrets."""
    global _content  # noqa: PLW0603 - one process-wide switch, set once at start-up
    _content = on


def content_enabled() -> bool:
    return _content


def current() -> Context:
    return otel_context.get_current()


def attach(ctx: Context) -> Token[Context]:
    """Make ``ctx`` current until :func:`detach` with the token, in the same task and step."""
    return otel_context.attach(ctx)


def detach(token: Token[Context]) -> None:
    otel_context.detach(token)


def _wire_context(carrier: Mapping[str, str] | None) -> Context | None:
    """The context a wire carrier names, or None when it names none (absent, malformed, or
    an invalid traceparent: such a value is ignored, never trusted or echoed)."""
    if not carrier:
        return None
    try:
        ctx = propagate.extract(carrier)
    except (ValueError, TypeError):
        return None
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx


def _parent(carrier: Mapping[str, str] | None) -> tuple[Context, bool]:
    """The parent for work that arrived with ``carrier``: the current span when it already
    continues the same trace (an SDK's own server span), else the wire's context, else the
    current one. The flag says whether the parent came from the wire."""
    here = current()
    wire = _wire_context(carrier)
    if wire is None:
        return here, False
    mine = trace.get_current_span(here).get_span_context()
    theirs = trace.get_current_span(wire).get_span_context()
    if mine.is_valid and mine.trace_id == theirs.trace_id:
        return here, False
    return wire, True


def start(
    name: str,
    *,
    parent: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> tuple[Span, Context]:
    """A started span (not made current) and the context that has it as parent."""
    if not _recording:
        return NOTHING, parent if parent is not None else current()
    s = tracer.start_span(name, parent, kind, attributes=dict(attributes or {}))
    return s, trace.set_span_in_context(s, parent)


@contextmanager
def inbound(
    name: str,
    carrier: Mapping[str, str] | None,
    *,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """The span of one request arriving at an endpoint, current inside the block.

    ``carrier`` holds the caller's ``traceparent`` / ``tracestate`` / ``baggage`` from the
    protocol's own place for them; a malformed one is ignored and the span starts a trace.
    Exceptions are marked on the span by type only, and re-raised.
    """
    if not _recording:
        yield NOTHING
        return
    parent, from_wire = _parent(carrier)
    kind = SpanKind.SERVER if from_wire or not _valid(parent) else SpanKind.INTERNAL
    with _as_current(name, parent, kind, attributes) as s:
        yield s


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A child of the current span, current inside the block; an exception marks it failed
    (by type, never by message) and is re-raised."""
    if not _recording:
        yield NOTHING
        return
    with _as_current(name, None, kind, attributes) as s:
        yield s


@contextmanager
def _as_current(
    name: str,
    parent: Context | None,
    kind: SpanKind,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name,
        parent,
        kind,
        attributes=dict(attributes or {}),
        record_exception=False,
        set_status_on_exception=False,
    ) as s:
        try:
            yield s
        except BaseException as exc:
            failed(s, exc)
            raise


def failed(s: Span, exc: BaseException, description: str | None = None) -> None:
    """Mark ``s`` as failed by ``exc``: ``error.type`` is the exception's class. Its message
    stays out, since it may quote a prompt or a secret; ``description`` is public text the
    caller already gets (an effmesh error's public message)."""
    if isinstance(exc, GeneratorExit):
        return
    name = type(exc).__name__
    if isinstance(exc, asyncio.CancelledError):
        s.set_attribute("error.type", "cancelled")
        return
    s.set_attribute("error.type", name)
    public = getattr(exc, "public_message", None)
    s.set_status(Status(StatusCode.ERROR, description or public or None))


async def carry(ctx: Context, items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items``, each step run with ``ctx`` as the current context, so spans and tasks the
    iterator starts descend from it; the consumer's own context is untouched between steps."""
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
            finally:
                otel_context.detach(token)
            yield item
    finally:
        closer = getattr(items, "aclose", None)
        if closer is not None:
            await closer()


def carrier_of(values: object) -> dict[str, str]:
    """The trace keys of a protocol's open map (MCP ``_meta``, A2A or ACP metadata, HTTP
    headers): string values only; anything else is left alone and never trusted, a caller's
    "map" that is not one included."""
    if not isinstance(values, Mapping) or not values:
        return {}
    out = {}
    for key in ("traceparent", "tracestate", "baggage"):
        value = values.get(key)
        if type(value) is str:
            out[key] = value
    return out


def wire_carrier(ctx: Context | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate`` / ``baggage`` when set) for ``ctx`` (default: the
    current context); empty when there is no sampled span to continue."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return carrier


def _valid(ctx: Context) -> bool:
    return trace.get_current_span(ctx).get_span_context().is_valid
