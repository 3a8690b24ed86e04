"""Remote agents checked again on an interval: one that comes back gets its skills back, one
that goes away is listed as down. (Per-agent A2A cards are built at start-up only.)"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from adapters.errors import EffmeshError
from gateway.registry import Registry


async def check(registry: Registry) -> None:
    """Reconnect every agent (``connect``: a no-op for in-process ones); report changes on
    stderr."""
    for agent in registry.agents():
        was = agent.healthy
        with contextlib.suppress(EffmeshError):
            await agent.connect()
        now = agent.healthy
        if now != was:
            state = "up" if now else "down"
            sys.stderr.write(f"effmesh: agent {agent.descriptor.name!r} is {state}\n")


async def watch(registry: Registry, interval: float) -> None:
    """Check every ``interval`` seconds until cancelled; 0 or less turns checking off."""
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        await check(registry)
