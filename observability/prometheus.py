"""The call latencies counted in :class:`observability.metrics.Latency`, in Prometheus text.

Rendered as OpenTelemetry's Prometheus reader renders the same histograms from the SDK (its
names, units, label names, scope labels and bucket bounds, through its own naming
functions), so ``GET /metrics`` reads the same either way. Loaded by the entry point alone,
with the SDK.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from opentelemetry.exporter.prometheus._mapping import (
    map_unit,
    sanitize_attribute,
    sanitize_full_name,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from observability.metrics import Latency


class LatencyCollector(Collector):
    """The histograms of ``latencies``, each series labelled with the meter's ``scope``
    (its name and version), as the SDK's reader labels them."""

    def __init__(self, latencies: Sequence[Latency], scope: tuple[str, str]) -> None:
        self.latencies = tuple(latencies)
        name, version = scope
        self.scope = {
            "otel_scope_name": name,
            "otel_scope_version": version,
            "otel_scope_schema_url": "",
        }

    def collect(self) -> Iterator[HistogramMetricFamily]:
        for latency in self.latencies:
            rows = latency.rows()
            if not rows:
                continue  # as the SDK's reader: no family before the first measurement
            names = [sanitize_attribute(label) for label in latency.labels]
            keys = sorted({*names, *self.scope})
            family = HistogramMetricFamily(
                sanitize_full_name(latency.name),
                latency.description,
                labels=keys,
                unit=map_unit(latency.unit),
            )
            bounds = [f"{bound}" for bound in latency.bounds] + ["+Inf"]
            for values, counts, total in rows:
                labels = {**self.scope, **dict(zip(names, values, strict=True))}
                cumulative, buckets = 0, []
                for bound, count in zip(bounds, counts, strict=True):
                    cumulative += count
                    buckets.append((bound, cumulative))
                family.add_metric([labels[key] for key in keys], buckets, total)
            yield family
