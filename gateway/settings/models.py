"""The ``[models]`` table: the model backends specialists and the planner run on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field

from adapters.errors import quote
from gateway.settings.agents import Tier
from gateway.settings.errors import Invalid

ModelKind = Literal["embedded", "sglang", "llamacpp", "openai"]
URL_PREFIXES: Final = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One model backend, named by its key in ``[models]``."""

    name: str
    """The entry's key in ``[models]``."""
    kind: ModelKind = "embedded"
    """``embedded``: llama.cpp with the bundled SmolLM2-135M, started by the gateway;
    ``sglang``, ``llamacpp``, ``openai`` (any OpenAI-compatible server): servers at ``urls``."""
    urls: tuple[str, ...] = ()
    """The servers (replicas, or one ``smg`` router URL); required unless embedded."""
    model: str | None = None
    """The model name sent in requests (servers with one model ignore it)."""
    tier: Tier | None = None
    """The model's size tier; unset: tiny when embedded, else small."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 120.0
    """How long one model request may take."""
    max_concurrency: Annotated[int, Field(ge=1)] = 4
    """Requests in flight at once."""
    retries: Annotated[int, Field(ge=0)] = 2
    """More tries for a request that failed on the way."""
    parallel: Annotated[int, Field(ge=1)] = 4
    """Embedded: parallel slots (concurrent requests)."""
    context: Annotated[int, Field(ge=1)] = 4096
    """Embedded: tokens per slot."""
    threads: Annotated[int, Field(ge=1)] = 2
    """Embedded: CPU threads."""

    @property
    def size_tier(self) -> str:
        return self.tier or ("tiny" if self.kind == "embedded" else "small")


def check_model(entry: ModelConfig) -> ModelConfig:
    """An embedded model has no ``urls``; every other kind needs them.

    Raises:
        Invalid: at ``urls``.
    """
    if entry.kind == "embedded" and entry.urls:
        raise Invalid(("urls",), "an embedded model has no urls")
    if entry.kind != "embedded" and not entry.urls:
        raise Invalid(("urls",), "is required")
    return entry


ModelEntry = Annotated[ModelConfig, AfterValidator(check_model)]
"""A ``[models.<name>]`` table as :func:`named_entries` hands it on, checked."""


def named_entries(table: Any) -> Any:
    """The ``[models]`` table in the shape :class:`ModelConfig` validates: each entry named
    by its key, and the shorthand ``name = "http://..."`` (an SGLang server) expanded.

    Anything that is not a table is returned as it is, for validation to refuse.

    Raises:
        Invalid: a shorthand that is not an http(s) URL, or a ``name`` key, at its place
            (relative to ``[models]``).
    """
    if not isinstance(table, dict):
        return table
    out: dict[str, Any] = {}
    for name, given in table.items():
        entry = given
        if isinstance(given, str):
            if not given.startswith(URL_PREFIXES):
                raise Invalid((name,), f"must be an http(s) URL or a table, not {quote(given)}")
            entry = {"kind": "sglang", "urls": [given]}
        if isinstance(entry, dict):
            if "name" in entry:
                raise Invalid((name, "name"), "unknown key")
            entry = {"name": name, **entry}
        out[name] = entry
    return out
