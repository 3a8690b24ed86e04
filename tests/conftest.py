"""Test-wide settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Wall-clock checks are flaky on a loaded 2-core CI machine; the properties are what matter.
settings.register_profile(
    "effmesh", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.load_profile("effmesh")
