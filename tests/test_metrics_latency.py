"""Call latencies counted apart from the OpenTelemetry SDK read at ``GET /metrics`` exactly as
the SDK's Prometheus reader renders the same measurements of the same histogram."""

from __future__ import annotations

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from observability.metrics import SCOPE, Latency
from observability.prometheus import LatencyCollector

LABELS = ("effmesh.protocol", "gen_ai.agent.name", "effmesh.outcome")
MEASURED = [
    (0.00004, ("mcp", "upm", "ok")),
    (0.0001, ("mcp", "upm", "ok")),  # on a bound: counted in that bound's bucket
    (0.0031, ("mcp", "upm", "ok")),
    (0.7, ("mcp", "upm", "error")),
    (0.0005, ("a2a", "", "ok")),
    (500.0, ("acp", "echo", "ok")),  # beyond the last bound
]


def _histogram_lines(text: bytes, name: str) -> list[str]:
    return sorted(line for line in text.decode().splitlines() if name in line)


def test_tallied_latencies_read_as_the_sdks_prometheus_reader_renders_them() -> None:
    sdk_registry = CollectorRegistry(auto_describe=True)
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=sdk_registry)])
    latency = Latency("effmesh.request.duration", "Requests and the time to answer each.", LABELS)
    histogram = provider.get_meter(*SCOPE).create_histogram(
        latency.name,
        unit=latency.unit,
        description=latency.description,
        explicit_bucket_boundaries_advisory=latency.bounds,
    )
    latency.tallied(True)
    ours = CollectorRegistry(auto_describe=True)
    ours.register(LatencyCollector([latency], SCOPE))
    for seconds, values in MEASURED:
        histogram.record(seconds, dict(zip(LABELS, values, strict=True)))
        latency.record(seconds, *values)
    name = "effmesh_request_duration_seconds"
    expected = _histogram_lines(generate_latest(sdk_registry), name)
    assert len(expected) == 2 + 4 * (len(latency.bounds) + 3)  # HELP, TYPE, 4 series
    assert _histogram_lines(generate_latest(ours), name) == expected
    provider.shutdown()


def test_nothing_is_rendered_before_the_first_measurement() -> None:
    latency = Latency("effmesh.agent.duration", "Agent calls.", ("gen_ai.agent.name",))
    latency.tallied(True)
    ours = CollectorRegistry(auto_describe=True)
    ours.register(LatencyCollector([latency], SCOPE))
    assert b"effmesh_agent_duration" not in generate_latest(ours)
    latency.record(0.002, "echo")
    assert b'effmesh_agent_duration_seconds_count{gen_ai_agent_name="echo"' in generate_latest(ours)


def test_untallied_latencies_go_to_the_instrument() -> None:
    latency = Latency("effmesh.agent.duration", "Agent calls.", ("gen_ai.agent.name",))
    latency.record(0.002, "echo")  # the SDK's (here the API's) instrument: nothing kept here
    assert latency.rows() == []
