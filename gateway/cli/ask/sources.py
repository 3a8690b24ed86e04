"""Where a run's stream items come from: the router on a gateway, over ACP streaming, or the
router of a registry built in this process."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Final

import httpx

from adapters.model import (
    DataPart,
    Invocation,
    Message,
    Part,
    StreamItem,
    TextPart,
    TraceContext,
)
from agents.remote import RemoteACPAgent
from gateway.runtime import calls

ROUTER: Final = "effmesh"
"""The router's ACP agent name (an alias of the skill ``effmesh.run``)."""
ROUTER_SKILL: Final = "effmesh.run"
PING_SECONDS: Final = 5.0
RUN_SECONDS: Final = 900.0
"""How long the remote run may stay silent: events can be minutes apart (a model writing a
plan, a slow subtask); the gateway's own timeouts bound the run itself."""


def invocation_for(task: str, strategy: str | None, planner: str | None) -> Invocation:
    """The router's input: the task as text, or with options as ``{"task", ...}``."""
    part: Part = TextPart(task)
    if strategy is not None or planner is not None:
        fields = {"task": task, "strategy": strategy, "planner": planner}
        part = DataPart({k: v for k, v in fields.items() if v is not None})
    return Invocation(ROUTER, Message("user", (part,)), mode="stream")


def traced(invocation: Invocation) -> tuple[Invocation, str]:
    """``invocation`` as the first call of a new trace, and the trace's id.

    The trace is started here, sampled, so the gateway records the run's spans under an id
    the command knows without reading them back (``effmesh trace`` finds them by it).
    """
    trace_id = secrets.token_hex(16)
    parent = TraceContext(f"00-{trace_id}-{secrets.token_hex(8)}-01")
    return replace(invocation, trace=parent), trace_id


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def reachable(url: str, token: str | None) -> bool:
    """Whether something answers HTTP at ``url``'s ACP endpoint (whatever its status: a
    gateway that refuses the token is reachable, and says why when the run starts)."""
    async with httpx.AsyncClient(headers=_auth(token), timeout=PING_SECONDS) as http:
        try:
            await http.get(f"{url.rstrip('/')}/acp/ping")
        except httpx.TransportError:
            return False
    return True


async def remote_items(
    url: str, token: str | None, invocation: Invocation
) -> AsyncGenerator[StreamItem, None]:
    """The run on the gateway at ``url``, over ACP streaming. Cancelling the iteration cancels
    the remote run (RemoteACPAgent posts the ACP cancel).

    Raises:
        EffmeshError: the gateway refused the run, or the connection failed.
    """
    base = f"{url.rstrip('/')}/acp"
    # Named by its URL: that is what its errors ("ACP agent ... is unreachable") should show.
    agent = RemoteACPAgent(base, base, timeout=RUN_SECONDS, headers=_auth(token))
    try:
        async for item in agent.run(invocation, task_id=calls.new_task_id()):
            yield item
    finally:
        await agent.close()


async def local_items(
    config: str | None, invocation: Invocation
) -> AsyncGenerator[StreamItem, None]:
    """The run in this process, on the registry ``effmesh serve`` would build from ``config``
    (its model servers started here and stopped at the end).

    Raises:
        SettingsError: a bad configuration.
        EffmeshError: an agent or model that cannot start, or no router.
    """
    # Only an in-process run needs the whole gateway (and its model stack) imported.
    from gateway import settings  # noqa: PLC0415
    from gateway.models import ModelPool  # noqa: PLC0415
    from gateway.server import build_registry  # noqa: PLC0415

    cfg = settings.load(config)
    models = ModelPool(cfg)
    try:
        registry = await build_registry(cfg, models)
        route = registry.route(ROUTER_SKILL, None)
        async for item in calls.stream(
            route,
            invocation,
            calls.new_task_id(),
            scope=calls.scope_for(None),
            principal=None,
        ):
            yield item
    finally:
        await models.aclose()
