"""The web console at ``/``: the live mesh as one caller may see it.

A page of plain HTML, CSS and JavaScript modules (``static/``, no build step) that shows the
agents (kind, protocol, health, hosting gateway, skills), the caller's tasks of every protocol
as they run with the router's plan trees, a task's trace as a waterfall, the caller's memory,
the federation's links, and a form that calls any skill the caller may call (as an ACP run,
so it is a task like any other).

- ``runtime``: every read of the task runtime (tasks, records, who may see them);
- ``views``: agents, federation, trace and memory as JSON for one caller;
- ``live``: the WebSocket that streams it all to the page;
- ``web``: the routes, and the paths the guard serves without a token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from starlette.routing import BaseRoute

from gateway.console import runtime, views, web
from gateway.mesh.federation.service import Federation
from gateway.registry import Registry
from gateway.runtime.tasks import TaskManager
from gateway.settings import Config

__all__ = ["PUBLIC", "Console"]

PUBLIC = web.PUBLIC


class Console:
    """The console of one gateway. Lives on the gateway's event loop."""

    def __init__(
        self,
        registry: Registry,
        tasks: TaskManager,
        config: Config,
        *,
        tokens: bool,
        federation: Federation | None = None,
        models: Callable[[], list[dict[str, object]]] | None = None,
    ) -> None:
        """``tokens``: whether the gateway authenticates callers; ``models``: the state of
        the models its agents use (as ``/agents`` reports it)."""
        self.registry = registry
        self.config = config
        self.tokens = tokens
        self.federation = federation
        self.models = models
        self.gateway_id = federation.me if federation is not None else None
        self.trace_path = views.trace_file(config)
        self.feed = runtime.watch(tasks, config.operators)
        self._watchers: set[asyncio.Event] = set()
        registry.listeners.append(self._registry_changed)

    def _registry_changed(self) -> None:
        for event in self._watchers:
            event.set()

    @contextlib.contextmanager
    def watching(self, changed: asyncio.Event) -> Iterator[None]:
        """Set ``changed`` whenever an agent is added or removed, until the block ends."""
        self._watchers.add(changed)
        try:
            yield
        finally:
            self._watchers.discard(changed)

    def routes(self) -> list[BaseRoute]:
        return web.routes(self)
