"""Agents that live elsewhere and speak MCP, A2A or ACP: each one an ``Agent`` like any other.

Every call goes out through the protocol's adapter (canonical -> wire) and the official SDK
client where one works here (MCP, A2A); ACP is plain REST + SSE over httpx. A remote error
comes back as the canonical error its wire form names, and asyncio cancellation of a call is
forwarded as the protocol's own cancel.
"""

from agents.remote.a2a import RemoteA2AAgent
from agents.remote.acp import RemoteACPAgent
from agents.remote.base import Remote
from agents.remote.mcp import RemoteMCPAgent, RemoteMCPStdioAgent

__all__ = ["Remote", "RemoteA2AAgent", "RemoteACPAgent", "RemoteMCPAgent", "RemoteMCPStdioAgent"]
