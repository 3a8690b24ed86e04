"""An A2A agent on a2a-sdk's own server (not effmesh's): the third-party A2A agent of
tests/test_thirdparty_matrix.py written the way a2a-sdk's users write one.

The first word of the message picks what it does: ``now X`` answers with a Message at once;
``stream`` sends three artifact chunks (append) over a second; ``long`` works until it is
cancelled; ``ask`` stops in input-required and greets the name it is answered with;
``twice`` asks for a name, then for a town, and greets both. It appends what it sees
(start, cancel, resume, with the task id) as JSON lines to the file named by ``RECORD``, and
prints the port it listens on.

Run: ``python -m tests.thirdparty.a2a_sdk_agent``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import uvicorn
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import a2a_pb2 as pb
from starlette.applications import Starlette


def record(event: str, task: str | None) -> None:
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({"event": event, "task": task}) + "\n")


def said(text: str) -> pb.Message:
    return pb.Message(
        message_id=os.urandom(8).hex(), role=pb.ROLE_AGENT, parts=[pb.Part(text=text)]
    )


class Demo(AgentExecutor):
    def __init__(self) -> None:
        self.twice: set[str] = set()
        self.names: dict[str, str] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id or "", context.context_id or ""
        text = context.get_user_input().strip()
        word, _, rest = text.partition(" ")
        current = context.current_task
        updater = TaskUpdater(event_queue, task_id, context_id)
        if current is not None and current.status.state == pb.TASK_STATE_INPUT_REQUIRED:
            record("resume", task_id)
            await event_queue.enqueue_event(current)
            if task_id in self.twice and task_id not in self.names:
                self.names[task_id] = text
                await updater.requires_input(said("What town?"))
                return
            name = self.names.get(task_id)
            greeting = text if name is None else f"{name} from {text}"
            await updater.add_artifact([pb.Part(text=f"hello {greeting}")], name="greeting")
            await updater.complete()
            return
        record("start", task_id)
        if word == "now":
            reply = said(f"now: {rest}")
            reply.context_id = context_id
            await event_queue.enqueue_event(reply)
            return
        task = pb.Task(
            id=task_id, context_id=context_id, status=pb.TaskStatus(state=pb.TASK_STATE_SUBMITTED)
        )
        if context.message is not None:
            task.history.append(context.message)
        await event_queue.enqueue_event(task)
        await updater.start_work()
        if word == "stream":
            chunks = ["one ", "two ", "three"]
            for i, chunk in enumerate(chunks):
                await asyncio.sleep(0.5)
                await updater.add_artifact(
                    [pb.Part(text=chunk)],
                    artifact_id="story",
                    name="story",
                    append=i > 0,
                    last_chunk=i == len(chunks) - 1,
                )
            await updater.complete()
        elif word == "long":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                record("cancelled", task_id)
                raise
            await updater.complete()
        elif word in ("ask", "twice"):
            if word == "twice":
                self.twice.add(task_id)
            await updater.requires_input(said("What name?"))
        else:
            await updater.failed(said(f"unknown {word}"))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        record("cancel", context.task_id)
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    card = pb.AgentCard(
        name="sdk-agent",
        description="A third-party A2A agent on a2a-sdk's server",
        version="1.0.0",
        capabilities=pb.AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        supported_interfaces=[
            pb.AgentInterface(
                url=f"{base}/jsonrpc", protocol_binding="JSONRPC", protocol_version="1.0"
            ),
            pb.AgentInterface(
                url=f"{base}/rest", protocol_binding="HTTP+JSON", protocol_version="1.0"
            ),
        ],
        skills=[
            pb.AgentSkill(
                id="demo", name="demo", description="now, stream, long or ask", tags=["demo"]
            )
        ],
    )
    handler = DefaultRequestHandler(
        agent_executor=Demo(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/jsonrpc"),
            *create_rest_routes(handler, path_prefix="/rest"),
        ]
    )
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
