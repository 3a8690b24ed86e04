"""An in-process agent that answers with its input: the fixture for every protocol path.

Skills:
- ``echo``: returns the input parts as one artifact, after a working status;
- ``wait``: reports working, then waits until it is canceled (for cancellation paths);
- ``ask``: pauses in input-required with a question, and echoes the answer it is resumed with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from adapters.errors import NotFound, quote
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent

ECHO = Skill(
    "echo",
    "Returns the message it receives, unchanged.",
    tags=("test", "echo"),
    examples=("hello",),
)
WAIT = Skill("wait", "Reports that it is working and waits until it is canceled.", tags=("test",))
ASK = Skill("ask", "Asks what to echo, then echoes the answer.", tags=("test",))


class EchoAgent(Agent):
    def __init__(self, name: str = "echo") -> None:
        self._descriptor = AgentDescriptor(
            name,
            (ECHO, WAIT, ASK),
            "Echoes its input; a fixture for protocol paths.",
            "1.0",
            streaming=True,
        )

    @property
    def descriptor(self) -> AgentDescriptor:
        return self._descriptor

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        context = invocation.message.context_id
        working = Message("agent", (TextPart("working"),))
        if invocation.skill == "echo":
            yield StatusEvent(task_id, TaskState.WORKING, context, working)
            artifact = Artifact("echo", invocation.message.parts, "echo")
            yield ArtifactEvent(task_id, artifact, context, last_chunk=True)
            yield Task(
                task_id,
                TaskState.COMPLETED,
                context,
                artifacts=(artifact,),
                history=(invocation.message,),
            )
        elif invocation.skill == "ask":
            if not invocation.history:
                question = Message("agent", (TextPart("What should I echo?"),))
                yield StatusEvent(task_id, TaskState.INPUT_REQUIRED, context, question)
                return
            yield StatusEvent(task_id, TaskState.WORKING, context, working)
            artifact = Artifact("echo", invocation.message.parts, "echo")
            yield Task(task_id, TaskState.COMPLETED, context, artifacts=(artifact,))
        elif invocation.skill == "wait":
            yield StatusEvent(task_id, TaskState.WORKING, context, working)
            await asyncio.Event().wait()
        else:
            raise NotFound(
                f"agent {self._descriptor.name!r} has no skill {quote(invocation.skill)}"
            )
