"""effmesh.toml: the gateway's settings, with defaults that need no file at all.

Every table has a model (frozen dataclasses whose fields carry their constraints and
documentation); :func:`load` checks a file against them, strictly, and gives one
:class:`Config`. A setting that cannot be used raises :class:`SettingsError`, which names the
file and the key: ``effmesh.toml: agents[2].url: is required``. Every key is listed in
``docs/configuration.md``, generated from the models by ``python -m gateway.settings.reference``.

- ``config``: the ``[gateway]`` table and :class:`Config`, every table together;
- ``agents``, ``models``, ``routing``, ``federation``: their tables (``[telemetry]`` is
  ``observability.settings``, which the OpenTelemetry set-up takes as it is);
- ``file``: the whole file and :func:`load`;
- ``errors``: :class:`SettingsError`;
- ``reference``: the generator of ``docs/configuration.md``;
- ``template``: the commented file with every default that ``effmesh init`` writes.
"""

from gateway.settings.agents import SPECIALIST_PROMPTS, AgentConfig, default_agents
from gateway.settings.config import Config, GatewaySettings
from gateway.settings.errors import SettingsError
from gateway.settings.federation import FEDERATION, FederationConfig
from gateway.settings.file import load
from gateway.settings.models import ModelConfig
from gateway.settings.routing import RoutingConfig
from observability.settings import TelemetryConfig

__all__ = [
    "FEDERATION",
    "SPECIALIST_PROMPTS",
    "AgentConfig",
    "Config",
    "FederationConfig",
    "GatewaySettings",
    "ModelConfig",
    "RoutingConfig",
    "SettingsError",
    "TelemetryConfig",
    "default_agents",
    "load",
]
