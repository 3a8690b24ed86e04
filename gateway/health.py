"""Remote agents checked again on an interval: one that comes back gets its skills back, one
that goes away is listed as down. (Per-agent A2A cards are built at start-up only.)"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from adapters.errors import EffmeshError
from gateway.registry import Registry


async def check(registry: Registry) -> None:
    """Reconnect every agent that can (``connect``); report changes on stderr."""
    for agent in registry.agents():
        connect = getattr(agent, "connect", None)
        if connect is None:
            continue
        was = getattr(agent, "healthy", True)
        with contextlib.suppress(EffmeshError):
            await connect()
        now = getattr(agent, "healthy", True)
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
