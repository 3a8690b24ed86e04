"""W3C trace context in and out of the open maps each protocol offers (MCP ``_meta``, A2A
metadata, HTTP headers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.model import TraceContext

TRACE_KEYS = ("traceparent", "tracestate", "baggage")


def split_trace(
    meta: Mapping[str, Any] | None,
) -> tuple[TraceContext | None, dict[str, Any]]:
    """Take the trace keys out of ``meta``; return the context and the remaining keys.

    A trace key whose value is not a string is left in the remainder untouched, so it is
    neither lost nor trusted.
    """
    if not meta:
        return None, {}
    rest = dict(meta)
    parent = rest.get("traceparent")
    if type(parent) is not str:
        return None, rest
    del rest["traceparent"]
    state = rest.get("tracestate")
    if type(state) is str:
        del rest["tracestate"]
    else:
        state = None
    baggage = rest.get("baggage")
    if type(baggage) is str:
        del rest["baggage"]
    else:
        baggage = None
    return TraceContext(parent, state, baggage), rest


def join_trace(trace: TraceContext | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    if trace is not None:
        out["traceparent"] = trace.traceparent
        if trace.tracestate is not None:
            out["tracestate"] = trace.tracestate
        if trace.baggage is not None:
            out["baggage"] = trace.baggage
    return out
