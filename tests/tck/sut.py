"""The A2A TCK's system under test, on a2a-sdk 1.3's own server (not effmesh).

The kit (``a2aproject/a2a-tck``, branch ``1.0-dev``) drives an agent whose behaviour is keyed by
the prefix of each message's id (its ``scenarios/*.feature``); this agent implements those
behaviours with the SDK's ``TaskUpdater``, and serves them over JSON-RPC (at the root), HTTP+JSON
(under ``/rest``) and gRPC (on a port of its own), all listed in its card. The tests run the kit
against it directly and through the gateway, where it is a remote A2A agent.

Besides the kit's prefixes, ``multi-turn`` (or a message whose text it is) asks for input and
then echoes the answer in the same task, and ``slow-chunks`` streams three chunks of one
artifact with a pause between them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

import grpc.aio
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.grpc_handler import GrpcHandler
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import a2a_pb2 as pb
from a2a.types import a2a_pb2_grpc
from a2a.utils.errors import A2AError
from google.protobuf import json_format, struct_pb2
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

STREAMING_TIMEOUT: Final = 2.0
"""Seconds: the kit's streaming timeout; its resubscribe scenario runs twice as long."""
REST_PATH: Final = "/rest"
CHUNK_PAUSE: Final = 0.2


def _text(text: str) -> pb.Part:
    return pb.Part(text=text)


def _file() -> pb.Part:
    return pb.Part(raw=b"tck", media_type="text/plain", filename="output.txt")


async def _stream(updater: TaskUpdater, parts: list[pb.Part]) -> None:
    await updater.start_work()
    await updater.add_artifact(parts=parts)
    await updater.complete()


async def _chunks(updater: TaskUpdater, texts: list[str], pause: float) -> None:
    """One artifact in chunks: the first opens it, each next one appends, the last says so."""
    await updater.start_work()
    for i, text in enumerate(texts):
        if i and pause:
            await asyncio.sleep(pause)
        await updater.add_artifact(
            parts=[_text(text)],
            artifact_id="chunked",
            name="chunked",
            append=i > 0,
            last_chunk=i == len(texts) - 1,
        )
    await updater.complete()


class TckExecutor(AgentExecutor):
    """Each message's behaviour, chosen by the prefix of its message id."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id, message = context.task_id, context.context_id, context.message
        if task_id is None or context_id is None or message is None:
            return
        updater = TaskUpdater(event_queue, task_id, context_id)
        mid = message.message_id
        current = context.current_task
        if current is not None and current.status.state == pb.TASK_STATE_INPUT_REQUIRED:
            # The answer to a question this task asked: echoed, in the same task.
            said = " ".join(p.text for p in message.parts if p.text)
            await updater.complete(updater.new_agent_message([_text(f"you said: {said}")]))
            return
        if message.parts and message.parts[0].text == "multi-turn":
            mid = "multi-turn"  # a caller whose protocol has no message ids (ACP) asks by text
        if mid.startswith("tck-message-response"):
            reply = updater.new_agent_message([_text("Direct message response")])
            await event_queue.enqueue_event(reply)
            return
        if mid.startswith("tck-reject-task"):
            raise A2AError("rejected")
        if current is None:
            # The SDK wants the task before any event of it.
            await event_queue.enqueue_event(
                pb.Task(
                    id=task_id,
                    context_id=context_id,
                    status=pb.TaskStatus(state=pb.TASK_STATE_SUBMITTED),
                    history=[message],
                )
            )
        await self._run(mid, updater)

    async def _run(self, mid: str, updater: TaskUpdater) -> None:
        if mid.startswith("tck-stream-artifact-chunked"):
            await _chunks(updater, ["chunk-1 ", "chunk-2"], 0)
        elif mid.startswith("slow-chunks"):
            await _chunks(updater, ["one ", "two ", "three"], CHUNK_PAUSE)
        elif mid.startswith("test-resubscribe-message-id"):
            await updater.start_work()
            await asyncio.sleep(2 * STREAMING_TIMEOUT)
            await updater.complete()
        elif mid.startswith("tck-stream-artifact-text"):
            await _stream(updater, [_text("Streamed text content")])
        elif mid.startswith("tck-stream-artifact-file"):
            await _stream(updater, [_file()])
        elif mid.startswith("tck-stream-ordering-001"):
            await _stream(updater, [_text("Ordered output")])
        elif mid.startswith("tck-stream-001"):
            await _stream(updater, [_text("Stream hello from TCK")])
        elif mid.startswith("tck-stream-002"):
            await updater.complete()
        elif mid.startswith("tck-stream-003"):
            await _stream(updater, [_text("Stream task lifecycle")])
        elif mid.startswith("tck-artifact-file-url"):
            url = "https://example.com/output.txt"
            part = pb.Part(url=url, media_type="text/plain", filename="output.txt")
            await updater.add_artifact(parts=[part])
            await updater.complete()
        elif mid.startswith("tck-artifact-text"):
            await updater.add_artifact(parts=[_text("Generated text content")])
            await updater.complete()
        elif mid.startswith("tck-artifact-file"):
            await updater.add_artifact(parts=[_file()])
            await updater.complete()
        elif mid.startswith("tck-artifact-data"):
            data = json_format.Parse('{"key": "value", "count": 42}', struct_pb2.Value())
            await updater.add_artifact(parts=[pb.Part(data=data)])
            await updater.complete()
        elif mid.startswith(("tck-input-required", "multi-turn")):
            await updater.requires_input(updater.new_agent_message([_text("what next?")]))
        elif mid.startswith("tck-complete-task"):
            await updater.complete(updater.new_agent_message([_text("Hello from TCK")]))
        else:
            reply = updater.new_agent_message([_text(f"Unhandled messageId prefix: {mid}")])
            await updater.complete(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is None or context.context_id is None:
            return
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def card(base_url: str, grpc_url: str | None) -> pb.AgentCard:
    interfaces = [
        pb.AgentInterface(url=base_url, protocol_binding="JSONRPC", protocol_version="1.0"),
        pb.AgentInterface(
            url=f"{base_url}{REST_PATH}", protocol_binding="HTTP+JSON", protocol_version="1.0"
        ),
    ]
    if grpc_url is not None:
        interfaces.append(
            pb.AgentInterface(url=grpc_url, protocol_binding="GRPC", protocol_version="1.0")
        )
    return pb.AgentCard(
        name="tck",
        description="The A2A TCK's system under test, on a2a-sdk",
        version="1.0.0",
        supported_interfaces=interfaces,
        capabilities=pb.AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text"],
        default_output_modes=["text"],
        skills=[
            pb.AgentSkill(
                id="tck",
                name="TCK Conformance",
                description="Handles TCK conformance test messages",
                tags=["tck"],
            )
        ],
    )


def build(base_url: str, grpc_port: int | None = None) -> Starlette:
    """The SUT's HTTP app for ``base_url``; with ``grpc_port``, its lifespan also serves gRPC
    on 127.0.0.1 at that port."""
    grpc_url = f"127.0.0.1:{grpc_port}" if grpc_port is not None else None
    agent_card = card(base_url, grpc_url)
    handler = DefaultRequestHandler(
        agent_executor=TckExecutor(), task_store=InMemoryTaskStore(), agent_card=agent_card
    )
    routes: list[BaseRoute] = [
        *create_agent_card_routes(agent_card, cache_control="max-age=60"),
        *create_jsonrpc_routes(handler, rpc_url="/"),
        Mount(REST_PATH, routes=create_rest_routes(handler)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if grpc_port is None:
            yield
            return
        server = grpc.aio.server()
        server.add_insecure_port(f"127.0.0.1:{grpc_port}")
        a2a_pb2_grpc.add_A2AServiceServicer_to_server(GrpcHandler(handler), server)
        await server.start()
        try:
            yield
        finally:
            await server.stop(0)

    return Starlette(routes=routes, lifespan=lifespan)
