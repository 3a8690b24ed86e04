"""The one interface every agent runtime implements, whatever protocol it speaks.

An agent turns an invocation into a stream of canonical items. The stream ends with the final
outcome: a :class:`Task` in a terminal or interrupted state, or a direct :class:`Message`.
Cancellation is asyncio cancellation of the consuming task; an agent that talks to a remote
peer forwards it to that peer's own cancel.

Besides ``descriptor`` and ``run``, the gateway asks every agent what it is (``scoped``,
``delegating``, ``federated``, ``speaks``, ``remote``), whether it is up (``healthy``), and
tells it when to reach its peer (``connect``) and when to let go (``close``). :class:`Agent`
declares these with defaults that suit an in-process agent: a runtime subclasses it to take
the defaults and overrides only what differs. A class that does not subclass it must still
define all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, Protocol, runtime_checkable

from adapters.model import JSON, AgentDescriptor, Invocation, StreamItem

PRINCIPAL_KEY: Final = "effmesh.principal"
"""Invocation metadata: the caller's token name (None: the gateway uses no tokens), set by the
gateway alone and only for ``delegating`` agents, so they reach only what the caller may reach."""
NOBODY: Final = "\x00unknown caller"
"""A principal no allow list names: a caller that is not known (no token on a public path,
a delegating agent not told who calls) reaches only the agents open to every token."""


def principal_in(metadata: Mapping[str, Any]) -> str | None:
    """The caller's principal a delegating agent was given in ``metadata`` (:data:`NOBODY`
    when none was given: it then acts for no one in particular)."""
    if PRINCIPAL_KEY not in metadata:
        return NOBODY
    value = metadata[PRINCIPAL_KEY]
    return value if value is None or isinstance(value, str) else NOBODY


class Agent(Protocol):
    scoped: bool = False
    """It keeps memories per caller: the gateway binds the caller's memory scope to each of
    its invocations (``gateway.runtime.calls``). Other agents never see the scope, so a
    caller's name does not travel to a remote agent."""

    delegating: bool = False
    """It calls other agents on the caller's behalf: the gateway tells it who the caller is,
    so it reaches only the agents the caller may reach."""

    federated: bool = False
    """It is offered by other gateways of the federation: an agent of this gateway, a dial-in
    agent included, may take its name (``gateway.mesh.dialin``)."""

    speaks: str | None = None
    """The protocol the agent speaks itself when the gateway passes what it says on as it was
    (``"a2a"``: an A2A agent, here or behind another gateway of the federation), so a caller
    of that protocol hears it unchanged; None: the gateway translates what it yields."""

    remote: str | None = None
    """How the gateway reaches the agent as a client of its own server, for an agent that lives
    at its own address: ``"mcp"`` (over streamable HTTP), ``"mcp-stdio"`` (a process the gateway
    launches), ``"a2a"`` or ``"acp"``; None: it runs in this process, or it reaches the gateway
    itself (dial-in, federation). An MCP one offers its server's resources, prompts and the
    rest (:class:`agents.remote.kinds.McpServerAgent`). The gateway tells remote agents apart
    by this, so it need not import their classes and, with them, the protocols' SDK clients."""

    @property
    def descriptor(self) -> AgentDescriptor:
        """Name and skills; stable for the agent's lifetime unless it is re-registered."""
        ...

    @property
    def healthy(self) -> bool:
        """Whether calls can reach the agent now. One that is not is listed as down, left out
        of the router's catalog and not announced to the federation. Default: always."""
        return True

    def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        """Run one invocation under ``task_id``.

        Yields status, progress and artifact events, then the outcome as the last item.
        Raises an ``adapters.errors.EffmeshError`` for failures the caller should see as a
        protocol error (unknown skill, bad input, upstream down).
        """
        ...

    async def connect(self) -> None:
        """Reach the agent where it lives and refresh its descriptor and ``healthy``. The
        gateway calls it at start-up for remote agents and on every health check, for any
        agent. Default: nothing to reach.

        Raises:
            UpstreamUnavailable: the agent cannot be reached (it is then not ``healthy``).
        """
        return

    async def close(self) -> None:
        """Release what the agent holds (connection pools); the gateway calls it once, at
        shutdown, after the last call. Default: nothing to release."""
        return


@runtime_checkable
class KeepsConversations(Protocol):
    """An agent whose side of a task waiting for its caller lives elsewhere (a remote A2A
    agent's own task): the gateway stores what :meth:`waiting` says with its task, and hands
    it back through :meth:`carry_on` before a follow-up runs in a process that does not hold
    it (after a restart, or on another replica)."""

    def waiting(self, task_id: str) -> JSON | None:
        """What the agent needs to carry on gateway task ``task_id``, waiting for its caller
        (plain JSON); None when it holds nothing for it."""
        ...

    def carry_on(self, task_id: str, kept: JSON) -> None:
        """Take back what :meth:`waiting` said for ``task_id`` (ignored when malformed)."""
        ...


@runtime_checkable
class HoldsCalls(Protocol):
    """An agent whose call to its peer can wait for the caller's answer inside this process
    (a handshake-era MCP server's request, open on a connection this process holds): the
    answer must reach this process, whichever replica the caller sends it to."""

    def holds(self, task_id: str) -> bool:
        """Whether the call of gateway task ``task_id`` waits here for its caller."""
        ...
