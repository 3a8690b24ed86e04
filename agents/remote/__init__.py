"""Agents that live elsewhere and speak MCP, A2A or ACP: each one an ``Agent`` like any other.

Every call goes out through the protocol's adapter (canonical -> wire) and the official SDK
client where one works here (MCP, A2A); ACP is plain REST + SSE over httpx. A remote error
comes back as the canonical error its wire form names, and asyncio cancellation of a call is
forwarded as the protocol's own cancel.

The names are exported lazily: importing one agent kind loads its protocol's SDK client and
no other (the MCP and A2A clients take about a second each to import), so a gateway without
remote agents of a kind never loads that kind's SDK for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.remote.a2a import RemoteA2AAgent
    from agents.remote.acp import RemoteACPAgent
    from agents.remote.base import Remote
    from agents.remote.mcp import RemoteMCPAgent, RemoteMCPStdioAgent

_WHERE = {
    "Remote": "agents.remote.base",
    "RemoteA2AAgent": "agents.remote.a2a",
    "RemoteACPAgent": "agents.remote.acp",
    "RemoteMCPAgent": "agents.remote.mcp",
    "RemoteMCPStdioAgent": "agents.remote.mcp",
}

__all__ = ["Remote", "RemoteA2AAgent", "RemoteACPAgent", "RemoteMCPAgent", "RemoteMCPStdioAgent"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
