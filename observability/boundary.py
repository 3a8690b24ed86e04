"""The two boundaries every endpoint has: a request arriving, and its translation between a
protocol's wire form and the canonical model."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from observability import metrics, tracing


class Request:
    """One request being served: the endpoint names the agent once it has routed it, and
    the outcome when it is not plain success."""

    __slots__ = ("agent", "outcome", "span")

    def __init__(self, span: tracing.Span) -> None:
        self.span = span
        self.agent = ""
        self.outcome = "ok"

    def routed(self, agent: str, skill: str) -> None:
        self.agent = agent
        self.span.set_attribute("gen_ai.agent.name", agent)
        self.span.set_attribute("effmesh.skill", skill)

    def task(self, task_id: str) -> None:
        self.span.set_attribute("effmesh.task_id", task_id)

    def failed(self, exc: BaseException) -> None:
        """The request ends in an error the endpoint answers in its protocol (no raise)."""
        self.outcome = "error"
        tracing.failed(self.span, exc)


class _Timed:
    """A request's latency alone, while no spans are recorded: a plain context manager, the
    cheapest to enter on every request."""

    __slots__ = ("_began", "_protocol", "_req")

    def __init__(self, protocol: str) -> None:
        self._protocol = protocol
        self._req = Request(tracing.NOTHING)
        self._began = time.perf_counter()

    def __enter__(self) -> Request:
        return self._req

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        req = self._req
        if kind is not None:
            req.outcome = "error"
        metrics.REQUEST_DURATION.record(
            time.perf_counter() - self._began, self._protocol, req.agent, req.outcome
        )


def request(
    protocol: str,
    method: str,
    carrier: Mapping[str, str] | None,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Request]:
    """A request's span (current inside the block, continuing ``carrier``'s trace) and its
    latency, by outcome, in ``effmesh.request.duration``."""
    if not tracing.recording():
        return _Timed(protocol)
    return _traced(protocol, method, carrier, attributes)


@contextmanager
def _traced(
    protocol: str,
    method: str,
    carrier: Mapping[str, str] | None,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Request]:
    began = time.perf_counter()
    method = method[:64]
    attrs = {"effmesh.protocol": protocol, "effmesh.method": method, **(attributes or {})}
    with tracing.inbound(f"{protocol} {method}", carrier, attributes=attrs) as span:
        req = Request(span)
        try:
            yield req
        except BaseException:
            req.outcome = "error"
            raise
        finally:
            metrics.REQUEST_DURATION.record(
                time.perf_counter() - began, protocol, req.agent, req.outcome
            )


@contextmanager
def translation(source: str, target: str) -> Iterator[tracing.Span]:
    """A translation step, e.g. ``translation("mcp", "canonical")`` around decoding."""
    with tracing.span(
        f"translate {source} -> {target}",
        attributes={"effmesh.translate.from": source, "effmesh.translate.to": target},
    ) as s:
        yield s
