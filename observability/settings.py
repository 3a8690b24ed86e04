"""What the OpenTelemetry set-up takes: the ``[telemetry]`` table of effmesh.toml.

A plain frozen dataclass; the field constraints are pydantic metadata, which the gateway's
settings layer (``gateway.settings``) checks when it reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

Exporter = Literal["file", "console", "otlp-grpc", "otlp-http"]
EXPORTERS: Final[tuple[str, ...]] = get_args(Exporter)


def _headers(table: Any) -> Any:
    """A table of header names to strings, as sorted pairs."""
    if not isinstance(table, dict):
        return table  # for validation to refuse
    for name, value in table.items():
        if not isinstance(value, str):
            # pydantic reports a ValueError as a validation error; a TypeError escapes it.
            raise ValueError(f"the value of {name!r} must be a string")  # noqa: TRY004
    return tuple(sorted(table.items()))


def _unique(exporters: tuple[Exporter, ...]) -> tuple[Exporter, ...]:
    return tuple(dict.fromkeys(exporters))


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """Traces and metrics."""

    exporters: Annotated[tuple[Exporter, ...], AfterValidator(_unique)] = ("file",)
    """Where spans go: ``file`` (JSON lines), ``console`` (stderr), ``otlp-grpc``,
    ``otlp-http``; ``[]`` turns tracing off."""
    file: str = "traces.jsonl"
    """The JSON-lines trace file (``effmesh trace`` reads it), under ``data_dir`` when
    relative."""
    file_max_mb: Annotated[float, Field(gt=0)] = 64.0
    """The trace file is rolled over to ``<file>.1`` past this size."""
    otlp_endpoint: str = ""
    """The collector's address; empty: the ``OTEL_EXPORTER_OTLP_*`` variables, else
    ``localhost:4317`` for gRPC and ``:4318`` for HTTP."""
    otlp_headers: Annotated[
        tuple[tuple[str, str], ...],
        BeforeValidator(_headers),
        WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
    ] = ()
    """Extra headers to the collector (an API key, say), as a table."""
    sample_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    """The share of new traces kept; a caller's sampled flag wins."""
    capture_content: bool = False
    """Record prompts and answers in ``gen_ai`` span attributes."""
    metrics: bool = True
    """Serve Prometheus text at ``GET /metrics``."""
    service_name: Annotated[str, AfterValidator(lambda name: name or "effmesh")] = "effmesh"
    """The ``service.name`` of this gateway's spans and metrics; empty: ``effmesh``."""

    @property
    def tracing(self) -> bool:
        return bool(self.exporters)
