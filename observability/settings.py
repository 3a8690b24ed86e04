"""The ``[telemetry]`` table of effmesh.toml.

[telemetry]
exporters = ["file"]            # any of "file", "console", "otlp-grpc", "otlp-http";
                                # [] turns tracing off
file = "traces.jsonl"           # the JSON-lines trace file, under data_dir when relative
file_max_mb = 64                # the file is rolled over to <file>.1 past this size
otlp_endpoint = ""              # collector address ("": the OTEL_EXPORTER_OTLP_* variables,
                                # else localhost:4317 for gRPC, :4318 for HTTP)
otlp_headers = {}               # extra headers to the collector (e.g. an API key)
sample_ratio = 1.0              # share of new traces kept; a caller's sampled flag wins
capture_content = false         # prompts and answers in gen_ai span attributes
metrics = true                  # Prometheus text at GET /metrics
service_name = "effmesh"        # service.name of this gateway's spans and metrics
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final

EXPORTERS: Final = ("file", "console", "otlp-grpc", "otlp-http")


class InvalidSetting(Exception):
    """A ``[telemetry]`` value that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    exporters: tuple[str, ...] = ("file",)
    file: str = "traces.jsonl"
    file_max_mb: float = 64.0
    otlp_endpoint: str = ""
    otlp_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    sample_ratio: float = 1.0
    capture_content: bool = False
    metrics: bool = True
    service_name: str = "effmesh"

    @property
    def tracing(self) -> bool:
        return bool(self.exporters)


def parse(raw: Any) -> TelemetryConfig:
    """The table (None: absent).

    Raises:
        InvalidSetting: an unknown key, a wrong type or a value out of range; the message names
            the key as ``telemetry.<key>``.
    """
    if raw is None:
        return TelemetryConfig()
    if not isinstance(raw, dict):
        raise InvalidSetting("telemetry: must be a table")
    known = {f.name for f in fields(TelemetryConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidSetting(f"telemetry.{unknown[0]}: unknown setting")
    d = TelemetryConfig()

    def typed(key: str, kind: type | tuple[type, ...]) -> Any:
        value = raw.get(key, getattr(d, key))
        if isinstance(value, bool) and kind is not bool:
            raise InvalidSetting(f"telemetry.{key}: has the wrong type bool")
        if not isinstance(value, kind):
            raise InvalidSetting(f"telemetry.{key}: has the wrong type {type(value).__name__}")
        return value

    exporters = raw.get("exporters", list(d.exporters))
    if not isinstance(exporters, list) or not all(isinstance(e, str) for e in exporters):
        raise InvalidSetting("telemetry.exporters: must be an array of strings")
    for name in exporters:
        if name not in EXPORTERS:
            raise InvalidSetting(f"telemetry.exporters: must be among {', '.join(EXPORTERS)}")
    headers = raw.get("otlp_headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidSetting("telemetry.otlp_headers: must map names to strings")
    ratio = float(typed("sample_ratio", (int, float)))
    if not 0.0 <= ratio <= 1.0:
        raise InvalidSetting("telemetry.sample_ratio: must be between 0 and 1")
    max_mb = float(typed("file_max_mb", (int, float)))
    if max_mb <= 0:
        raise InvalidSetting("telemetry.file_max_mb: must be positive")
    return TelemetryConfig(
        exporters=tuple(dict.fromkeys(exporters)),
        file=typed("file", str),
        file_max_mb=max_mb,
        otlp_endpoint=typed("otlp_endpoint", str),
        otlp_headers=tuple(sorted(headers.items())),
        sample_ratio=ratio,
        capture_content=typed("capture_content", bool),
        metrics=typed("metrics", bool),
        service_name=typed("service_name", str) or "effmesh",
    )
