"""Cancellation crosses protocols: an ACP caller cancels a run, and the agent behind a remote
MCP, A2A or ACP hop is cancelled on its own side."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from adapters.model import (
    AgentDescriptor,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    StreamItem,
    TaskState,
    TextPart,
)
from agents.base import Agent
from tests.servers import behind_remotes


class Sleeper(Agent):
    """Works until cancelled, and says when it was."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self._descriptor = AgentDescriptor("sleeper", (Skill("sleep", "Sleeps."),))

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        yield StatusEvent(task_id, TaskState.WORKING, message=Message("agent", (TextPart("z"),)))
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[str, Sleeper]]:
    sleeper = Sleeper()
    with behind_remotes(sleeper) as url:
        yield url, sleeper


@pytest.mark.parametrize(
    ("upstream", "skill"),
    [("up_mcp", "sleeper.sleep"), ("up_a2a", "sleep"), ("up_acp", "sleeper.sleep")],
)
def test_cancelling_an_acp_run_cancels_the_remote_agent(
    setup: tuple[str, Sleeper], upstream: str, skill: str
) -> None:
    url, sleeper = setup
    sleeper.started.clear()
    sleeper.cancelled.clear()
    run = httpx.post(
        f"{url}/acp/runs",
        json={
            "agent_name": f"{upstream}.{skill}",
            "mode": "async",
            "input": [{"role": "user", "parts": [{"content": "zz"}]}],
        },
    ).json()
    assert sleeper.started.wait(10)
    cancelled = httpx.post(f"{url}/acp/runs/{run['run_id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert sleeper.cancelled.wait(10), f"the agent behind {upstream} was not cancelled"
    time.sleep(0)
