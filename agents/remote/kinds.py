"""What the gateway may ask of a remote agent beyond the ``Agent`` interface, told by the
agent's ``remote`` attribute rather than by its class.

Checking an agent against :class:`agents.remote.RemoteMCPAgent` would import that class's
module and the MCP SDK client with it, in a gateway that has no such agent. This module
imports neither (the SDK's types are for the type checker only), so the MCP endpoint and the
console can tell agents apart at no import cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeGuard

from agents.base import Agent

if TYPE_CHECKING:
    import mcp_types as mt

    from adapters.model import StatusEvent, Task
    from agents.remote.mcp_relay import Relay

MCP: Final = frozenset({"mcp", "mcp-stdio"})
"""The ``remote`` values of agents that are MCP servers (over HTTP or stdio)."""

Listener = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Told of a server notification that belongs to no call: its method and params."""


class McpServerAgent(Agent, Protocol):
    """An MCP server's agent: besides its tools (its skills), the server's resources, prompts,
    completions and log level, in wire JSON. Each method raises the canonical error of the
    server's answer (``UpstreamUnavailable`` when it is down)."""

    def listen(self, listener: Listener) -> None:
        """Tell ``listener`` every notification of the server that belongs to no call."""
        ...

    def passes(self) -> Relay | None:
        """The relay to give :meth:`pass_call` when the call being served now (an MCP
        caller's) may be passed through; None: it goes through ``run``."""
        ...

    async def pass_call(
        self, params: dict[str, Any], relay: Relay, *, task_id: str
    ) -> tuple[dict[str, Any], StatusEvent | Task]:
        """``tools/call`` with wire ``params`` for the server, sent as ``run`` sends it: the
        server's wire result, and the item it settles task ``task_id`` with."""
        ...

    async def server_capabilities(self) -> mt.ServerCapabilities: ...

    async def list_resources(self) -> list[dict[str, Any]]: ...

    async def list_resource_templates(self) -> list[dict[str, Any]]: ...

    async def list_prompts(self) -> list[dict[str, Any]]: ...

    async def read_resource(self, uri: str) -> dict[str, Any]: ...

    async def subscribe(self, uri: str) -> None: ...

    async def unsubscribe(self, uri: str) -> None: ...

    async def watch_lists(self, on: bool) -> None: ...

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, str] | None,
        *,
        hand_on: bool = False,
        input_responses: dict[str, Any] | None = None,
        request_state: str | None = None,
    ) -> dict[str, Any]: ...

    async def complete(self, params: mt.CompleteRequestParams) -> dict[str, Any]: ...

    async def set_level(self, level: mt.LoggingLevel) -> None: ...


def is_mcp_server(agent: Agent | None) -> TypeGuard[McpServerAgent]:
    """Whether ``agent`` is an MCP server's agent (its ``remote`` says so)."""
    return agent is not None and agent.remote in MCP
