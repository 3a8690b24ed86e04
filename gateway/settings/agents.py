"""The ``[[agents]]`` array: the agents a gateway serves, built in, remote or specialist."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Final, Literal, get_args

from pydantic import AfterValidator, Field

from gateway.settings.errors import Invalid

AgentKind = Literal["echo", "calculator", "memory", "specialist", "mcp", "a2a", "acp"]
REMOTE_KINDS: Final = ("mcp", "a2a", "acp")
Tier = Literal["tiny", "small", "medium", "large"]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One agent of the gateway."""

    name: str
    """The agent's name: its skills are offered as ``<name>.<skill>``."""
    kind: AgentKind
    """Built in: ``echo`` (a fixture for every protocol path), ``calculator``, ``memory`` (the
    shared memory), ``specialist`` (a small-model agent); remote: ``mcp``, ``a2a``, ``acp``."""
    url: str | None = None
    """Remote kinds: the MCP endpoint, the URL the A2A agent card is served under, or the ACP
    server's base URL."""
    command: tuple[str, ...] = ()
    """``mcp`` only, instead of ``url``: an MCP server over stdio, one process for all calls."""
    allow: tuple[str, ...] = ("*",)
    """Token names that may see and call the agent (``default`` is ``gateway.token_env``'s);
    ``*``: any caller."""
    prefix: bool = True
    """``false``: skills are offered as ``<skill>``, not ``<name>.<skill>``."""
    sampling: Literal["caller", "model"] = "caller"
    """``mcp`` only: who answers the server's sampling requests. ``caller``: the calling MCP
    client, when it declared sampling (else the server is refused); ``model``: that client
    when it can, else the gateway's model ``model`` (A2A and ACP callers included)."""
    era: Literal["auto", "handshake", "2026-07-28"] = "auto"
    """``mcp`` only: the MCP era spoken to the server. ``auto``: found as 2026-07-28 asks of a
    client of both eras (``server/discover`` first, the ``initialize`` handshake when the
    server does not answer it as a 2026-07-28 server), remembered for the server;
    ``handshake``: the handshake only (a session, the server's requests in the middle of a
    call); ``2026-07-28``: that revision only (a server that does not speak it is down)."""
    # specialists
    skills: tuple[str, ...] = ()
    """Specialists: the skills offered (at least one)."""
    tags: tuple[str, ...] = ()
    """Specialists: keywords of its skills, which A2A agent cards list; empty: the agent's
    name."""
    description: str | None = None
    """Specialists: what the agent does, as callers see it (other kinds describe themselves,
    and ignore it)."""
    system_prompt: str = ""
    """Specialists: the system prompt; empty: a general assistant's."""
    model: str = "default"
    """Specialists, and ``mcp`` agents with ``sampling = "model"``: a ``[models]`` entry, or
    an SGLang server's URL (``http://gpu:30000``)."""
    tools: tuple[str, ...] = ()
    """Specialists: registry tools it may call, by name or pattern (``calculator.*``)."""
    force_tool: str | None = None
    """Specialists: the tool its first step must call."""
    tier: Tier | None = None
    """Specialists: the model's size (tiny < 1B, small 1-3B, medium 3-7B, large 7B+), which
    shapes its prompts; unset: the model's tier."""
    max_steps: Annotated[int, Field(ge=0, le=16)] = 3
    """Specialists: tool calls per request before the model must answer."""
    max_tokens: Annotated[int, Field(ge=1, le=32768)] = 256
    """Specialists: tokens per model answer."""


AGENT_KINDS: Final[tuple[str, ...]] = get_args(AgentKind)
SPECIALIST_ONLY: Final = (
    "skills",
    "tags",
    "system_prompt",
    "model",
    "tools",
    "force_tool",
    "tier",
    "max_steps",
    "max_tokens",
)
_DEFAULTS: Final = {f.name: f.default for f in fields(AgentConfig)}


def check_agent(entry: AgentConfig) -> AgentConfig:
    """The rules between an entry's keys: a setting its kind would ignore is refused.

    Raises:
        Invalid: at the offending key.
    """
    if entry.sampling != "caller" and entry.kind != "mcp":
        raise Invalid(("sampling",), "applies to mcp agents only")
    if entry.era != "auto" and entry.kind != "mcp":
        raise Invalid(("era",), "applies to mcp agents only")
    if entry.kind != "specialist":
        for key in SPECIALIST_ONLY:
            if key == "model" and entry.sampling == "model":
                continue  # the model that answers the server's sampling requests
            if getattr(entry, key) != _DEFAULTS[key]:
                raise Invalid((key,), "applies to specialists only")
    elif not entry.skills:
        raise Invalid(("skills",), "a specialist needs at least one skill")
    if entry.kind not in REMOTE_KINDS and entry.url is not None:
        raise Invalid(("url",), "applies to remote agents (mcp, a2a, acp) only")
    if entry.command and entry.kind != "mcp":
        raise Invalid(("command",), "applies to mcp agents only")
    if entry.command and entry.url is not None:
        raise Invalid(("command",), "an agent has a url or a command, not both")
    if entry.kind in REMOTE_KINDS and entry.url is None and not entry.command:
        raise Invalid(("url",), "is required")
    return entry


AgentEntry = Annotated[AgentConfig, AfterValidator(check_agent)]
"""An ``[[agents]]`` entry as the file gives it: checked by :func:`check_agent`."""

SPECIALIST_PROMPTS: Final = {
    "arithmetic": (
        "You solve arithmetic word problems. Turn the problem into one arithmetic expression "
        "and evaluate it with the calculator; then state the result."
    ),
    "summarizer": "You summarize the user's text in two or three short sentences.",
    "assistant": "You are a helpful assistant. Answer briefly and accurately.",
}


def default_agents() -> tuple[AgentConfig, ...]:
    """What ``effmesh serve`` runs with no ``[[agents]]``: the echo fixture, a calculator, the
    shared memory, and three specialists on the embedded model."""
    return (
        AgentConfig("echo", "echo"),
        AgentConfig("calculator", "calculator"),
        AgentConfig("memory", "memory"),
        AgentConfig(
            "arithmetic",
            "specialist",
            skills=("solve",),
            tags=("math", "arithmetic"),
            description="Solves arithmetic word problems with the calculator tool.",
            system_prompt=SPECIALIST_PROMPTS["arithmetic"],
            tools=("calculator.evaluate",),
            force_tool="calculator.evaluate",
            max_steps=1,
        ),
        AgentConfig(
            "summarizer",
            "specialist",
            skills=("summarize",),
            tags=("text", "summary"),
            description="Summarizes a text in a few sentences.",
            system_prompt=SPECIALIST_PROMPTS["summarizer"],
        ),
        AgentConfig(
            "assistant",
            "specialist",
            skills=("chat",),
            tags=("chat", "assistant"),
            description="A general assistant that can also calculate.",
            system_prompt=SPECIALIST_PROMPTS["assistant"],
            tools=("calculator.*",),
        ),
    )
