"""Agents that make routing's timing and faults observable: they stand in for no component
(the calculator, echo and model agents in the same tests are the real ones); they make
concurrency, cancellation and failure happen on cue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from adapters.errors import UpstreamUnavailable
from adapters.model import (
    AgentDescriptor,
    Artifact,
    Invocation,
    Skill,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent


def _text(invocation: Invocation) -> str:
    return " ".join(p.text for p in invocation.message.parts if isinstance(p, TextPart))


def _done(task_id: str, text: str) -> Task:
    return Task(task_id, TaskState.COMPLETED, artifacts=(Artifact("out", (TextPart(text),)),))


class BarrierAgent(Agent):
    """``meet`` returns its input once ``parties`` calls are in flight at the same time, and
    fails after ``patience`` seconds otherwise: it finishes only if callers overlap."""

    def __init__(self, parties: int = 2, patience: float = 10.0, name: str = "barrier") -> None:
        self.parties = parties
        self.patience = patience
        self.inputs: list[str] = []
        self._arrived = 0
        self._all_here = asyncio.Event()
        self._descriptor = AgentDescriptor(
            name, (Skill("meet", "Returns the text it is given, unchanged."),)
        )

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        text = _text(invocation)
        self.inputs.append(text)
        self._arrived += 1
        if self._arrived >= self.parties:
            self._all_here.set()
        yield StatusEvent(task_id, TaskState.WORKING)
        try:
            async with asyncio.timeout(self.patience):
                await self._all_here.wait()
        except TimeoutError:
            raise UpstreamUnavailable("the other branch never came") from None
        yield _done(task_id, text)


class GateAgent(Agent):
    """``hold`` waits until canceled, and records which calls started and which were
    canceled; ``flaky`` fails as unavailable ``failures`` times, then answers; ``boom``
    raises an error with text that must not reach a caller."""

    def __init__(self, name: str = "gate", failures: int = 1) -> None:
        self.started: list[str] = []
        self.canceled: list[str] = []
        self.failures = failures
        self.calls = 0
        self._descriptor = AgentDescriptor(
            name,
            (
                Skill("hold", "Holds the request open until it is canceled."),
                Skill("flaky", "Answers after a few failed tries."),
                Skill("boom", "Always breaks."),
            ),
        )

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        text = _text(invocation)
        if invocation.skill == "hold":
            self.started.append(text)
            yield StatusEvent(task_id, TaskState.WORKING)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.canceled.append(text)
                raise
        elif invocation.skill == "flaky":
            self.calls += 1
            if self.calls <= self.failures:
                raise UpstreamUnavailable("try again")
            yield _done(task_id, f"ok after {self.calls}")
        else:
            raise RuntimeError("internal detail: /srv/secret.py line 3")
