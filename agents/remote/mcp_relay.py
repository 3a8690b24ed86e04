"""What an MCP upstream may ask of the client that called through the gateway, and how it
reaches that client.

An upstream server sends requests back to its client while it serves a call
(``sampling/createMessage``, ``elicitation/create``, ``roots/list``) and log lines with
``notifications/message``. The gateway is that client; it relays them to its own caller.
The endpoint that serves the caller (``gateway.mcp``) puts a :class:`Relay` in
:data:`CALLER` for the duration of the call; the remote agent reads it when the call starts.
A caller without one (an A2A or ACP client, a router's subtask), and an MCP 2026-07-28
caller (which ``pauses``), is asked through its call's input-required instead
(:mod:`agents.remote.mcp_asking`); what it cannot answer, the upstream is told so in MCP's
own words.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Final, Protocol

SAMPLING: Final = "sampling/createMessage"
ELICITATION: Final = "elicitation/create"
ROOTS: Final = "roots/list"


class Relay(Protocol):
    """The caller's side of one call, as the endpoint serving it offers it."""

    principal: str | None
    """Whose call it is: an upstream's question goes only to the caller who asked."""

    pauses: bool
    """The caller cannot be asked in the middle of a call but answers a paused one (MCP
    2026-07-28: the call ends ``input_required`` with the question, and the caller's retry
    brings the answer): an upstream's question parks the call instead."""

    def can_answer(self, method: str) -> bool:
        """Whether the caller declared the capability ``method`` needs (e.g. elicitation),
        asked mid-call or, when it ``pauses``, in a paused call."""
        ...

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send the request ``method`` to the caller and return its wire result.

        Raises:
            EffmeshError: the caller refused, failed, or went away.
        """
        ...

    def log_level(self) -> str | None:
        """The most verbose log level whose lines the caller takes (None: none): what a
        2026-07-28 server is asked for in the call's ``_meta``."""
        ...

    async def log(self, params: dict[str, Any]) -> None:
        """Send one ``notifications/message`` (its params) to the caller, if its level
        admits it."""
        ...


CALLER: ContextVar[Relay | None] = ContextVar("effmesh_mcp_caller", default=None)
"""The relay of the call being served in this context (None: the caller cannot be asked)."""
