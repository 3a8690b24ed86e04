"""The gateway as an ACP server (BeeAI's Agent Communication Protocol, REST + SSE).

Every skill is one ACP agent named ``<agent>.<skill>``. Runs are gateway tasks: sync waits
for the outcome, async answers 202 at once, stream sends the run's events as SSE. Every
error is an ACP ``Error`` body with its HTTP status, from the ACP adapter's one mapping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from adapters import _json, acp
from adapters.errors import EffmeshError, TaskNotFound
from adapters.model import StatusEvent, StreamItem, Task, TaskState
from gateway.registry import Registry
from gateway.runtime.runner import settled
from gateway.runtime.tasks import TaskManager, TaskRecord
from gateway.security.guard import principal_of
from observability import boundary, tracing

Handler = Callable[[Request], Awaitable[Response]]


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(_json.dumps(body), status, media_type="application/json")


def _guarded(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except EffmeshError as exc:
            status, body = acp.encode_error(exc)
            return _json_response(body, status)

    return wrapped


def _run_key(raw: str) -> str:
    """ACP run ids are UUIDs; clients may spell them with or without dashes."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise TaskNotFound(raw) from None


def manifests(registry: Registry, principal: str | None) -> list[dict[str, Any]]:
    """The ACP agents ``principal`` may see: one per skill, named ``<agent>.<skill>``, and one
    per alias of such a skill, named by the alias."""
    out = [m for agent in registry.agents(principal) for m in acp.encode_agent(agent.descriptor)]
    by_name = {m["name"]: m for m in out}
    for alias, target in registry.aliases.items():
        if target in by_name:
            out.append({**by_name[target], "name": alias})
    return out


async def _left(request: Request) -> None:
    """Returns once the client has disconnected (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _answered(request: Request, record: TaskRecord, tasks: TaskManager) -> bool:
    """Wait until the run settles; a client that leaves first cancels it (nobody is left to
    read its answer). False: the client left."""
    done = asyncio.ensure_future(record.done.wait())
    left = asyncio.ensure_future(_left(request))
    try:
        await asyncio.wait((done, left), return_when=asyncio.FIRST_COMPLETED)
    finally:
        done.cancel()
        left.cancel()
    if record.done.is_set():
        return True
    await tasks.cancel(record.task.task_id, record.principal)
    return False


def routes(registry: Registry, tasks: TaskManager) -> list[Route]:
    def run_of(record: TaskRecord) -> dict[str, Any]:
        return acp.encode_outcome(record.task, agent_name=record.agent_name)

    async def list_agents(request: Request) -> Response:
        return _json_response({"agents": manifests(registry, principal_of(request.scope))})

    async def read_agent(request: Request) -> Response:
        name = request.path_params["name"]
        principal = principal_of(request.scope)
        route = registry.route(name, principal)
        wanted = name if name in registry.aliases else route.tool_name
        for manifest in manifests(registry, principal):
            if manifest["name"] == wanted:
                return _json_response(manifest)
        raise TaskNotFound(name)

    async def ping(request: Request) -> Response:
        return _json_response({})

    async def events(record: TaskRecord) -> AsyncIterator[bytes]:
        created = Task(record.task.task_id, TaskState.SUBMITTED, record.task.context_id)
        run = acp.encode_outcome(created, agent_name=record.agent_name)
        yield _sse({"type": "run.created", "run": run})
        async for event in _follow(record, 0):
            yield event

    async def create_run(request: Request) -> Response:
        body = acp.parse_body(await request.body())
        meta = body.get("metadata") if isinstance(body, dict) else None
        carrier = tracing.carrier_of(request.headers) or tracing.carrier_of(
            meta if isinstance(meta, dict) else None
        )
        with boundary.request("acp", "runs/create", carrier) as req:
            try:
                with boundary.translation("acp", "canonical"):
                    invocation = acp.decode_invocation(body, headers=request.headers)
                who = principal_of(request.scope)
                route = registry.route(invocation.skill, who)
                req.routed(route.agent.descriptor.name, route.skill.name)
                record = tasks.start(route, invocation, principal=who, endpoint="/acp")
                req.task(record.task.task_id)
            except EffmeshError as exc:
                req.failed(exc)
                raise
        headers = {"Run-ID": record.task.task_id}
        if invocation.mode == "stream":
            return StreamingResponse(
                events(record), media_type="text/event-stream", headers=headers
            )
        if invocation.mode == "async":
            return Response(
                _json.dumps(run_of(record)), 202, headers, media_type="application/json"
            )
        await _answered(request, record, tasks)
        return Response(_json.dumps(run_of(record)), 200, headers, media_type="application/json")

    def run_named(request: Request) -> TaskRecord:
        """The run the path names, if the caller may see it (else TaskNotFound)."""
        return tasks.get(_run_key(request.path_params["run_id"]), principal_of(request.scope))

    async def read_run(request: Request) -> Response:
        return _json_response(run_of(run_named(request)))

    async def run_events(request: Request) -> Response:
        record = run_named(request)
        out = []
        for item in list(record.items):
            if not said_again(item):
                out.extend(acp.encode_stream_item(item, agent_name=record.agent_name))
        return _json_response({"events": out})

    async def cancel_run(request: Request) -> Response:
        record = await tasks.cancel(run_named(request).task.task_id, principal_of(request.scope))
        return _json_response(run_of(record), 202)

    async def resume_run(request: Request) -> Response:
        record = run_named(request)
        resume = acp.decode_resume(record.task.task_id, acp.parse_body(await request.body()))
        start = len(record.items)
        record = tasks.resume(record.task.task_id, resume.message, principal_of(request.scope))
        if resume.mode == "stream":
            return StreamingResponse(_follow(record, start), media_type="text/event-stream")
        if resume.mode == "async":
            return _json_response(run_of(record), 202)
        await _answered(request, record, tasks)
        return _json_response(run_of(record))

    async def _follow(record: TaskRecord, start: int) -> AsyncIterator[bytes]:
        async for item in record.follow(start):
            if said_again(item):
                continue
            try:
                encoded = acp.encode_stream_item(item, agent_name=record.agent_name)
            except EffmeshError as exc:
                # The answer has begun: the error becomes ACP's error event, which ends it.
                yield _sse({"type": "error", "error": acp.encode_error(exc)[1]})
                return
            for event in encoded:
                yield _sse(event)

    return [
        Route("/agents", _guarded(list_agents), methods=["GET"]),
        Route("/agents/{name}", _guarded(read_agent), methods=["GET"]),
        Route("/ping", _guarded(ping), methods=["GET"]),
        Route("/runs", _guarded(create_run), methods=["POST"]),
        Route("/runs/{run_id}", _guarded(read_run), methods=["GET"]),
        Route("/runs/{run_id}", _guarded(resume_run), methods=["POST"]),
        Route("/runs/{run_id}/events", _guarded(run_events), methods=["GET"]),
        Route("/runs/{run_id}/cancel", _guarded(cancel_run), methods=["POST"]),
    ]


def said_again(item: StreamItem) -> bool:
    """Whether ``item`` is an agent's status that settles the run: the run's final snapshot
    follows it (with its output), and an ACP stream ends with one ``run.completed``,
    ``run.failed``, ``run.cancelled`` or ``run.awaiting``, not two."""
    return isinstance(item, StatusEvent) and settled(item.state)


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + _json.dumps(event) + b"\n\n"
