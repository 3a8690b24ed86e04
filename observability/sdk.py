"""The OpenTelemetry SDK, configured once by an entry point (``effmesh serve``).

Nothing else imports the SDK: library code records through the API, which stays a no-op
until :func:`configure` installs providers here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from observability import metrics as metrics_
from observability import tracing
from observability.jsonlines import JsonLinesSpanExporter
from observability.settings import TelemetryConfig


@dataclass
class Telemetry:
    """What :func:`configure` installed; ``prometheus`` renders ``GET /metrics``."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    trace_file: Path | None = None
    registry: Any = None
    processors: list[SpanProcessor] = field(default_factory=list)

    def prometheus(self) -> bytes | None:
        """The Prometheus text exposition of every instrument, or None when metrics are off."""
        if self.registry is None:
            return None
        from prometheus_client import generate_latest  # noqa: PLC0415 - metrics on only

        data: bytes = generate_latest(self.registry)
        return data

    def flush(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()

    def shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _otlp_endpoint(kind: str, endpoint: str) -> str | None:
    """The exporter's endpoint ("": let the exporter read OTEL_EXPORTER_OTLP_*). An HTTP
    endpoint given as a bare address gets the traces path the protocol defines."""
    if not endpoint:
        return None
    if kind == "otlp-http" and urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _exporter(name: str, cfg: TelemetryConfig, data_dir: Path) -> tuple[SpanExporter, Path | None]:
    headers = dict(cfg.otlp_headers) or None
    if name == "file":
        path = Path(cfg.file)
        if not path.is_absolute():
            path = data_dir / path
        return JsonLinesSpanExporter(path, max_bytes=int(cfg.file_max_mb * 2**20)), path
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr), None
    endpoint = _otlp_endpoint(name, cfg.otlp_endpoint)
    if name == "otlp-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcExporter,
        )

        insecure = endpoint is not None and endpoint.startswith("http://")
        return GrpcExporter(endpoint=endpoint, headers=headers, insecure=insecure or None), None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=endpoint, headers=headers), None


def _metric_exporter(cfg: TelemetryConfig) -> MetricReader | None:
    """Metrics pushed to the collector too when an OTLP trace exporter is chosen."""
    headers = dict(cfg.otlp_headers) or None
    base = cfg.otlp_endpoint.rstrip("/")
    if "otlp-grpc" in cfg.exporters:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as GrpcMetrics,
        )

        insecure = base.startswith("http://")
        return PeriodicExportingMetricReader(
            GrpcMetrics(endpoint=base or None, headers=headers, insecure=insecure or None)
        )
    if "otlp-http" in cfg.exporters:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as HttpMetrics,
        )

        url = base + "/v1/metrics" if base and urlsplit(base).path in ("", "/") else base
        return PeriodicExportingMetricReader(HttpMetrics(endpoint=url or None, headers=headers))
    return None


def configure(
    cfg: TelemetryConfig,
    *,
    data_dir: Path,
    extra: Sequence[SpanExporter] = (),
    synchronous: bool = False,
    attributes: dict[str, str] | None = None,
) -> Telemetry:
    """Install the tracer and meter providers ``cfg`` asks for, once per process.

    ``extra`` exporters (tests: an in-memory one) are added beside the configured ones;
    ``synchronous`` exports each span as it ends instead of in batches.
    """
    out = Telemetry()
    resource = Resource.create({"service.name": cfg.service_name, **(attributes or {})})
    tracing.enable_content(cfg.capture_content)
    exporters: list[SpanExporter] = list(extra)
    for name in cfg.exporters:
        exporter, path = _exporter(name, cfg, data_dir)
        exporters.append(exporter)
        out.trace_file = out.trace_file or path
    if exporters:
        provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio))
        )
        for exporter in exporters:
            processor: SpanProcessor = (
                SimpleSpanProcessor(exporter) if synchronous else BatchSpanProcessor(exporter)
            )
            provider.add_span_processor(processor)
            out.processors.append(processor)
        trace.set_tracer_provider(provider)
        tracing.enable_recording(True)
        out.tracer_provider = provider
    readers: list[MetricReader] = []
    if cfg.metrics:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
        from prometheus_client import CollectorRegistry  # noqa: PLC0415

        out.registry = CollectorRegistry(auto_describe=True)
        readers.append(PrometheusMetricReader(registry=out.registry))
    pushed = _metric_exporter(cfg)
    if pushed is not None:
        readers.append(pushed)
    # The latencies of every call: counted apart from the SDK when Prometheus alone reads
    # them (an OTLP reader reads the SDK's instruments).
    tally = out.registry is not None and pushed is None
    for latency in metrics_.LATENCIES:
        latency.tallied(tally)
    if tally:
        from observability.prometheus import LatencyCollector  # noqa: PLC0415

        out.registry.register(LatencyCollector(metrics_.LATENCIES, metrics_.SCOPE))
    if readers:
        # No exemplars: linking a measurement to its trace costs every call more than the
        # histograms themselves, and the traces already carry the figures.
        out.meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, exemplar_filter=AlwaysOffExemplarFilter()
        )
        metrics.set_meter_provider(out.meter_provider)
    return out
