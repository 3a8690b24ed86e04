"""What every remote agent shares: its name and URL, its headers, and the outbound guard
that every one of its connections passes."""

from __future__ import annotations

from dataclasses import replace

import httpx
import httpx2

from adapters.model import AgentDescriptor
from agents import outbound
from agents.base import Agent

Headers = dict[str, str]


class Remote(Agent):
    healthy: bool = False
    """Down until ``connect`` reaches the agent."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Headers | None = None,
        policy: outbound.Policy = outbound.OPEN,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.policy = policy
        """Where this agent's connections may go: checked at every connect."""
        self._descriptor = AgentDescriptor(name, ())

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    def _new_http(self) -> httpx.AsyncClient:
        """A client whose connections the outbound guard checks (redirects included)."""
        return outbound.httpx_client(self.policy, headers=self.headers, timeout=self.timeout)

    def _mcp_http(self) -> httpx2.AsyncClient:
        """The same, in the MCP SDK's HTTP client."""
        return outbound.httpx2_client(self.policy, headers=self.headers, timeout=self.timeout)

    def _adopt(self, found: AgentDescriptor) -> None:
        self._descriptor = replace(found, name=self.name, url=self.url)
        self.healthy = True
