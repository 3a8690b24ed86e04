"""effmesh's instruments, through the OpenTelemetry metrics API only.

Names follow the OpenTelemetry semantic conventions where one exists (``gen_ai.client.*``);
the rest are ``effmesh.*``. With no SDK installed, recording is a no-op.

Prometheus sees dots as underscores and gets unit suffixes, e.g.
``effmesh_request_duration_seconds_count``, ``gen_ai_client_token_usage``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

__all__ = [
    "AGENT_DURATION",
    "CACHED_TOKENS",
    "CACHE_HITS",
    "LATENCIES",
    "MODEL_DURATION",
    "PROMPT_TOKENS",
    "REQUEST_DURATION",
    "SCOPE",
    "TASKS_ACTIVE",
    "TOKENS",
    "Latency",
]

SCOPE: Final = ("effmesh", "0.1.0")
"""The meter's name and version (Prometheus labels every series with them)."""
_meter = metrics.get_meter(*SCOPE)

# Bucket bounds for latencies from tens of microseconds (a translated call) to minutes (a
# routed task on a small CPU model).
_SECONDS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip
_TOKENS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)


class Latency:
    """A histogram of seconds recorded at every call, by a fixed set of labels.

    A measurement through the SDK's instrument costs a call more than the rest of its
    metrics together (its attributes are cleaned, copied and hashed each time). When the
    only reader is the Prometheus endpoint, the entry point has them :meth:`tallied` here
    instead, per label values, in the SDK's own buckets, and the endpoint renders the
    tally as the SDK's reader renders the instrument (``observability.sdk``); otherwise
    (no SDK, or an OTLP reader, which reads the SDK alone) they go to the instrument."""

    def __init__(self, name: str, description: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.unit = "s"
        self.description = description
        self.labels = labels
        """The attribute names, in the order :meth:`record` takes their values."""
        self.bounds = _SECONDS
        self.instrument = _meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=_SECONDS
        )
        self._tally = False
        self._lock = threading.Lock()
        self._table: dict[tuple[str, ...], list[float]] = {}
        """By label values: the count in each bucket (the last: beyond the bounds), then the
        sum."""

    def tallied(self, on: bool) -> None:
        """Count measurements here (the entry point renders them) rather than in the SDK."""
        self._tally = on

    def record(self, seconds: float, *values: str) -> None:
        """One measurement, with the values of :attr:`labels` in their order."""
        if not self._tally:
            self.instrument.record(seconds, dict(zip(self.labels, values, strict=True)))
            return
        with self._lock:
            row = self._table.get(values)
            if row is None:
                row = self._table[values] = [0.0] * (len(self.bounds) + 2)
            row[bisect_left(self.bounds, seconds)] += 1
            row[-1] += seconds

    def rows(self) -> list[tuple[tuple[str, ...], list[int], float]]:
        """What was counted: label values, the count in each bucket, the sum."""
        with self._lock:
            return [(k, [int(n) for n in row[:-1]], row[-1]) for k, row in self._table.items()]


# Each call records into one histogram: its _count is the number of calls, by outcome.
REQUEST_DURATION: Final = Latency(
    "effmesh.request.duration",
    "Requests received and the time to answer each, by protocol, agent and "
    "outcome (the _count series counts requests).",
    ("effmesh.protocol", "gen_ai.agent.name", "effmesh.outcome"),
)
AGENT_DURATION: Final = Latency(
    "effmesh.agent.duration",
    "Calls of an agent's skill from any caller (subtasks included) and the time "
    "each took to settle, by outcome.",
    ("gen_ai.agent.name", "effmesh.skill", "effmesh.outcome"),
)
LATENCIES: Final = (REQUEST_DURATION, AGENT_DURATION)


class _Running:
    """Agent calls running now, counted in a plain table and read only when scraped, so a
    call pays a dictionary update rather than two metric measurements."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[tuple[str, str], int] = {}

    def add(self, agent: str, skill: str, delta: int) -> None:
        with self._lock:
            self._now[agent, skill] = self._now.get((agent, skill), 0) + delta

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            rows = list(self._now.items())
        return [
            Observation(n, {"gen_ai.agent.name": agent, "effmesh.skill": skill})
            for (agent, skill), n in rows
        ]


TASKS_ACTIVE: Final = _Running()
_meter.create_observable_up_down_counter(
    "effmesh.tasks.active",
    callbacks=[TASKS_ACTIVE.observe],
    unit="{task}",
    description="Agent calls running now.",
)
TOKENS: Final = _meter.create_histogram(
    "gen_ai.client.token.usage",
    unit="{token}",
    description="Tokens per model call, by gen_ai.token.type (input or output).",
    explicit_bucket_boundaries_advisory=_TOKENS,
)
MODEL_DURATION: Final = _meter.create_histogram(
    "gen_ai.client.operation.duration",
    unit="s",
    description="Time of one model call.",
    explicit_bucket_boundaries_advisory=_SECONDS,
)
PROMPT_TOKENS: Final = _meter.create_counter(
    "effmesh.model.prompt_tokens",
    unit="{token}",
    description="Prompt tokens sent to model servers.",
)
CACHED_TOKENS: Final = _meter.create_counter(
    "effmesh.model.cached_tokens",
    unit="{token}",
    description="Prompt tokens the model server served from its prefix cache; "
    "divided by effmesh.model.prompt_tokens, the cache hit rate.",
)


class _CacheHits:
    """Prompt and cached tokens per model since start, for the hit-rate gauge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[tuple[str, str], ...], list[int]] = {}

    def add(self, prompt: int, cached: int, labels: dict[str, str]) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            totals = self._totals.setdefault(key, [0, 0])
            totals[0] += prompt
            totals[1] += cached

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            rows = [(dict(k), p, c) for k, (p, c) in self._totals.items() if p > 0]
        return [Observation(c / p, labels) for labels, p, c in rows]


CACHE_HITS: Final = _CacheHits()
_meter.create_observable_gauge(
    "effmesh.model.cache_hit_ratio",
    callbacks=[CACHE_HITS.observe],
    unit="1",
    description="Share of prompt tokens served from the model server's prefix cache since start.",
)


class _ModelHealth:
    """The models a gateway uses and whether each is up, read at scrape time from the
    function the gateway registers (one per process)."""

    def __init__(self) -> None:
        self._source: Callable[[], Iterable[tuple[str, bool]]] | None = None

    def watch(self, source: Callable[[], Iterable[tuple[str, bool]]] | None) -> None:
        self._source = source

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        source = self._source
        if source is None:
            return []
        return [Observation(1 if up else 0, {"effmesh.model": name}) for name, up in source()]


MODEL_HEALTH: Final = _ModelHealth()
_meter.create_observable_gauge(
    "effmesh.model.up",
    callbacks=[MODEL_HEALTH.observe],
    unit="1",
    description="1 while a model the gateway uses can serve calls, 0 while it is down.",
)
