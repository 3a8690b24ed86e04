"""The callers of the third-party matrix: the official MCP, A2A and ACP clients, each driving
the gateway in one way (an MCP protocol era, an A2A binding or streaming, an ACP run mode).

Every caller does the same four things, so a cell of the matrix is one caller and one agent:
``answer`` (one call to its end), ``cancel`` (start a long call, and once the agent has seen
it start, cancel it the caller's own way), and ``converse`` (a call that stops for input, and
the caller's answer to it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import httpx
import mcp_types as mt
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessageAwaitResume, MessagePart, Run, RunStatus
from google.protobuf import json_format
from mcp import Client as MCPClient

Content = str | dict[str, Any]
"""What a call sends: text, or a JSON object (an MCP tool's arguments)."""
Started = Callable[[], Awaitable[object]]
"""Returns once the agent has seen the call start."""
TIMEOUT = 120.0
"""Seconds any one step may take on a loaded 2-core machine."""


@dataclass
class Answer:
    texts: list[str]
    """The answer's text parts, in order."""
    state: str
    """How it ended: completed, failed, input-required, ..."""
    events: list[list[str]] = field(default_factory=list)
    """The text of each streamed event before the end, in arrival order."""
    question: str = ""
    """What the agent asked, when it stopped for input."""
    roles: list[str] = field(default_factory=list)
    """Who said each message of the answer (A2A callers: the reply, status messages)."""
    agent: str = ""
    """The name the answer gives its agent (ACP callers: the run's ``agent_name``)."""
    trail: list[str] = field(default_factory=list)
    """What the stream said of the call, in order: A2A task states, ACP event types."""

    @property
    def text(self) -> str:
        return "".join(self.texts)


class MCPCaller:
    def __init__(self, gateway: str, mode: str) -> None:
        self.url = f"{gateway}/mcp"
        self.mode = mode

    def _client(self, reply: str | None = None, asked: list[str] | None = None) -> MCPClient:
        async def answer(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
            if asked is not None:
                asked.append(params.message)
            return mt.ElicitResult(action="accept", content={"text": reply or ""})

        return MCPClient(self.url, mode=self.mode, elicitation_callback=answer)  # type: ignore[call-overload,no-any-return]

    @staticmethod
    def _args(content: Content) -> dict[str, Any]:
        return content if isinstance(content, dict) else {"text": content}

    async def _call(self, client: MCPClient, tool: str, content: Content) -> Answer:
        events: list[list[str]] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            events.append([message] if message else [])

        result = await client.call_tool(tool, self._args(content), progress_callback=progress)
        texts = [c.text for c in result.content if isinstance(c, mt.TextContent)]
        return Answer(texts, "failed" if result.is_error else "completed", events)

    async def answer(self, tool: str, content: Content) -> Answer:
        async with self._client() as client:
            return await self._call(client, tool, content)

    async def cancel(self, tool: str, content: Content, started: Started) -> None:
        async with self._client() as client, anyio.create_task_group() as group:
            group.start_soon(self._call, client, tool, content)
            await started()
            group.cancel_scope.cancel()

    async def converse(self, tool: str, content: Content, reply: str) -> Answer:
        asked: list[str] = []
        async with self._client(reply, asked) as client:
            answer = await self._call(client, tool, content)
        answer.question = " ".join(asked)
        return answer


def _texts(parts: Any) -> list[str]:
    return [p.text for p in parts if p.HasField("text")]


class A2ACaller:
    def __init__(self, gateway: str, binding: str, streaming: bool) -> None:
        self.gateway = gateway
        self.binding = binding
        self.streaming = streaming

    def _request(
        self, tool: str, content: Content, task: pb.Task | None = None, *, now: bool = False
    ) -> pb.SendMessageRequest:
        part = pb.Part(text=content) if isinstance(content, str) else pb.Part()
        if isinstance(content, dict):
            json_format.ParseDict({"data": content}, part)
        message = pb.Message(message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[part])
        if task is not None:
            message.task_id, message.context_id = task.id, task.context_id
        request = pb.SendMessageRequest(message=message)
        request.metadata.update({"effmesh.skill": tool.split(".", 1)[1]})
        if now:
            request.configuration.return_immediately = True
        return request

    async def _send(self, tool: str, request: pb.SendMessageRequest) -> tuple[Answer, pb.Task]:
        config = ClientConfig(streaming=self.streaming, supported_protocol_bindings=[self.binding])
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            config.httpx_client = http
            agent = tool.split(".", 1)[0]
            async with await create_client(
                f"{self.gateway}/a2a/{agent}", client_config=config
            ) as client:
                return _fold([r async for r in client.send_message(request)])

    async def answer(self, tool: str, content: Content) -> Answer:
        return (await self._send(tool, self._request(tool, content)))[0]

    async def cancel(self, tool: str, content: Content, started: Started) -> None:
        config = ClientConfig(streaming=self.streaming, supported_protocol_bindings=[self.binding])
        agent = tool.split(".", 1)[0]
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            config.httpx_client = http
            async with await create_client(
                f"{self.gateway}/a2a/{agent}", client_config=config
            ) as client:
                request = self._request(tool, content, now=not self.streaming)
                async for response in client.send_message(request):
                    task_id = response.task.id or response.status_update.task_id
                    if task_id:
                        break
                await started()
                await client.cancel_task(pb.CancelTaskRequest(id=task_id))

    async def converse(self, tool: str, content: Content, reply: str) -> Answer:
        first, task = await self._send(tool, self._request(tool, content))
        if first.state != "input-required":
            return first
        answer, _ = await self._send(tool, self._request(tool, reply, task))
        answer.question = first.question
        answer.roles = first.roles + answer.roles
        return answer


_STATES = {
    pb.TASK_STATE_COMPLETED: "completed",
    pb.TASK_STATE_FAILED: "failed",
    pb.TASK_STATE_CANCELED: "canceled",
    pb.TASK_STATE_INPUT_REQUIRED: "input-required",
    pb.TASK_STATE_WORKING: "working",
    pb.TASK_STATE_SUBMITTED: "submitted",
}


def _fold(responses: list[pb.StreamResponse]) -> tuple[Answer, pb.Task]:
    """What a caller makes of an A2A call's responses: the artifacts as their chunks say
    (appending where they append), or the reply message, or the final status text."""
    task = pb.Task()
    artifacts: dict[str, list[str]] = {}
    events: list[list[str]] = []
    roles: list[str] = []
    trail: list[str] = []
    for r in responses:
        if r.HasField("message"):
            roles.append(pb.Role.Name(r.message.role))
            return Answer(_texts(r.message.parts), "completed", events, roles=roles), task
        if r.HasField("task"):
            task = r.task
            trail.append(_STATES.get(task.status.state, str(task.status.state)))
            for a in r.task.artifacts:
                artifacts[a.artifact_id] = _texts(a.parts)
        elif r.HasField("artifact_update"):
            update = r.artifact_update
            chunk = _texts(update.artifact.parts)
            events.append(chunk)
            kept = artifacts.get(update.artifact.artifact_id, []) if update.append else []
            artifacts[update.artifact.artifact_id] = kept + chunk
        elif r.HasField("status_update"):
            task.id, task.context_id = r.status_update.task_id, r.status_update.context_id
            task.status.CopyFrom(r.status_update.status)
            trail.append(_STATES.get(task.status.state, str(task.status.state)))
            if task.status.HasField("message"):
                roles.append(pb.Role.Name(task.status.message.role))
            if task.status.state == pb.TASK_STATE_WORKING:
                events.append(_texts(task.status.message.parts))
    state = _STATES.get(task.status.state, str(task.status.state))
    said = _texts(task.status.message.parts)
    texts = [t for chunks in artifacts.values() for t in chunks]
    if task.status.HasField("message") and not roles:
        roles.append(pb.Role.Name(task.status.message.role))
    answer = Answer(texts or ([] if state == "input-required" else said), state, events)
    answer.roles, answer.trail = roles, trail
    if state == "input-required":
        answer.question = " ".join(said)
    return answer, task


def _plain(part: MessagePart) -> bool:
    return part.content_type in (None, "text/plain") and part.content_url is None


class ACPCaller:
    def __init__(self, gateway: str, mode: str) -> None:
        self.base = f"{gateway}/acp"
        self.mode = mode

    def _client(self) -> ACPClient:
        headers = {"Content-Type": "application/json"}
        return ACPClient(base_url=self.base, headers=headers, timeout=TIMEOUT)

    @staticmethod
    def _input(content: Content) -> list[Message]:
        if isinstance(content, dict):
            part = MessagePart(content=json.dumps(content), content_type="application/json")
        else:
            part = MessagePart(content=content)
        return [Message(parts=[part])]

    async def _until_settled(self, client: ACPClient, run: Run) -> Run:
        with anyio.fail_after(TIMEOUT):
            while run.status in (RunStatus.CREATED, RunStatus.IN_PROGRESS):
                await anyio.sleep(0.05)
                run = await client.run_status(run_id=run.run_id)
        return run

    async def _events(self, stream: Any) -> tuple[Run, list[list[str]]]:
        run: Run | None = None
        events: list[list[str]] = []
        self.trail: list[str] = []
        async for event in stream:
            self.trail.append(event.type)
            if event.type == "message.part" and _plain(event.part):
                events.append([event.part.content or ""])
            elif event.type == "generic":
                events.append([str(event.generic.model_dump().get("message", ""))])
            elif event.type.startswith("run."):
                run = event.run
        assert run is not None, "the stream carried no run"
        return run, events

    async def _run(
        self, client: ACPClient, tool: str, content: Content
    ) -> tuple[Run, list[list[str]]]:
        if self.mode == "sync":
            return await client.run_sync(self._input(content), agent=tool), []
        if self.mode == "async":
            run = await client.run_async(self._input(content), agent=tool)
            return await self._until_settled(client, run), []
        return await self._events(client.run_stream(self._input(content), agent=tool))

    @staticmethod
    def _answer(run: Run, events: list[list[str]]) -> Answer:
        texts = [p.content or "" for m in run.output for p in m.parts if _plain(p)]
        answer = Answer(texts, str(run.status.value), events, agent=str(run.agent_name))
        if run.await_request is not None:
            answer.question = " ".join(p.content or "" for p in run.await_request.message.parts)
        return answer

    async def answer(self, tool: str, content: Content) -> Answer:
        self.trail = []
        async with self._client() as client:
            answer = self._answer(*await self._run(client, tool, content))
        answer.trail = self.trail
        return answer

    async def cancel(self, tool: str, content: Content, started: Started) -> None:
        async with self._client() as client:
            if self.mode == "sync":
                # A synchronous caller cancels by leaving: the gateway cancels the run.
                async with anyio.create_task_group() as group:
                    group.start_soon(partial(client.run_sync, self._input(content), agent=tool))
                    await started()
                    group.cancel_scope.cancel()
                return
            if self.mode == "async":
                run = await client.run_async(self._input(content), agent=tool)
            else:
                async for event in client.run_stream(self._input(content), agent=tool):
                    if event.type == "run.created":
                        run = event.run  # type: ignore[union-attr]
                        break
            await started()
            await client.run_cancel(run_id=run.run_id)

    async def converse(self, tool: str, content: Content, reply: str) -> Answer:
        async with self._client() as client:
            run, _ = await self._run(client, tool, content)
            first = self._answer(run, [])
            if run.status != RunStatus.AWAITING:
                return first
            resume = MessageAwaitResume(message=self._input(reply)[0])
            if self.mode == "sync":
                run = await client.run_resume_sync(resume, run_id=run.run_id)
                events: list[list[str]] = []
            elif self.mode == "async":
                run = await client.run_resume_async(resume, run_id=run.run_id)
                run, events = await self._until_settled(client, run), []
            else:
                run, events = await self._events(
                    client.run_resume_stream(resume, run_id=run.run_id)
                )
        answer = self._answer(run, events)
        answer.question = first.question
        return answer


CALLERS: dict[str, Callable[[str], Any]] = {
    "mcp-2025-11-25": lambda gw: MCPCaller(gw, "legacy"),
    "mcp-2026-07-28": lambda gw: MCPCaller(gw, "auto"),
    "a2a-jsonrpc": lambda gw: A2ACaller(gw, "JSONRPC", False),
    "a2a-rest": lambda gw: A2ACaller(gw, "HTTP+JSON", False),
    "a2a-stream": lambda gw: A2ACaller(gw, "JSONRPC", True),
    "acp-sync": lambda gw: ACPCaller(gw, "sync"),
    "acp-async": lambda gw: ACPCaller(gw, "async"),
    "acp-stream": lambda gw: ACPCaller(gw, "stream"),
}
"""Caller name -> the caller, given the gateway's base URL."""
