"""A recording HTTP proxy between agent frameworks and the model server.

Every request under ``/v1/`` is forwarded unchanged to the upstream server (a streamed reply
is passed on chunk by chunk as it arrives), and one :class:`Record` is kept per request: how
long the model server took (from the request's arrival to the reply's last byte from
upstream), the prompt, cached and completion tokens of its usage, how many tools the request
offered and how many tool calls came back. The same instrument sees every framework.

Records are labelled with the proxy's current :attr:`RecordingProxy.tag`, which the
orchestrator sets while one task runs (tasks run one at a time). A record is stored before
the reply's last byte (for a stream, its ``[DONE]`` event, where clients stop reading) goes to
the client, so it is there once the client has its answer.

A request whose client leaves before the answer (a runner killed at its task's timeout) is
cut short upstream too: the proxy closes its connection to the server, which then stops
generating, so an abandoned request does not hold a server slot and the CPU while the next
tasks run. Such a request leaves no record; :attr:`RecordingProxy.cut_short` counts them.

Usage comes from the reply's ``usage`` (with ``prompt_tokens_details.cached_tokens``), or, for
a stream that did not ask for usage, from llama.cpp's ``timings`` (``cache_n + prompt_n``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

_HOP_HEADERS = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"accept-encoding"}
)
_REPLY_SKIP = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})


@dataclass(frozen=True, slots=True)
class Record:
    tag: str | None
    path: str
    started: float
    """``time.perf_counter()`` at the request's arrival (this process's clock)."""
    seconds: float
    status: int
    stream: bool
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    tools_offered: int = 0
    tool_calls: int = 0
    finish_reason: str | None = None

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass(slots=True)
class _Reading:
    """What a reply said about itself, gathered from its JSON body or its SSE chunks."""

    prompt: int = 0
    cached: int = 0
    completion: int = 0
    tool_calls: int = 0
    finish: str | None = None
    _seen_usage: bool = False
    _ids: set[Any] = field(default_factory=set)

    def read(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        usage = payload.get("usage")
        if isinstance(usage, dict):
            details = usage.get("prompt_tokens_details")
            self.prompt = int(usage.get("prompt_tokens") or 0)
            self.completion = int(usage.get("completion_tokens") or 0)
            self.cached = int((details or {}).get("cached_tokens") or 0)
            self._seen_usage = True
        timings = payload.get("timings")
        if isinstance(timings, dict) and not self._seen_usage:
            self.cached = int(timings.get("cache_n") or 0)
            self.prompt = self.cached + int(timings.get("prompt_n") or 0)
            self.completion = int(timings.get("predicted_n") or 0)
        for choice in payload.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            self.finish = choice.get("finish_reason") or self.finish
            message = choice.get("message") or choice.get("delta") or {}
            for call in (message.get("tool_calls") or ()) if isinstance(message, dict) else ():
                # A streamed call arrives in pieces that share its index.
                key = call.get("index", len(self._ids)) if isinstance(call, dict) else None
                if key not in self._ids:
                    self._ids.add(key)
                    self.tool_calls += 1


def read_sse(lines: Iterable[str], reading: _Reading) -> bool:
    """Feed the ``data:`` payloads of SSE ``lines`` to ``reading``; True when one of them is
    the ``[DONE]`` that ends an OpenAI stream."""
    done = False
    for line in lines:
        if line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
            elif data:
                try:
                    reading.read(json.loads(data))
                except ValueError:
                    continue
    return done


def tools_offered(body: bytes) -> tuple[int, bool]:
    """How many tools a chat request offers, and whether it asks for a stream."""
    try:
        request = json.loads(body)
    except ValueError:
        return 0, False
    if not isinstance(request, dict):
        return 0, False
    tools = request.get("tools")
    return (len(tools) if isinstance(tools, list) else 0), bool(request.get("stream"))


class RecordingProxy:
    """An ASGI app forwarding ``/v1/*`` to ``upstream``, and the uvicorn server around it.

    Runs on the caller's event loop; :meth:`start` binds 127.0.0.1 on a free port.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.tag: str | None = None
        self.records: list[Record] = []
        self.cut_short = 0
        """Requests whose client left before the answer, closed upstream unanswered."""
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(None),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    def take(self, tag: str) -> list[Record]:
        """The records labelled ``tag``, removed from the store."""
        mine = [r for r in self.records if r.tag == tag]
        self.records = [r for r in self.records if r.tag != tag]
        return mine

    async def start(self) -> None:
        config = uvicorn.Config(
            self,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,  # a request still open does not hold the stop
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task  # raises the reason it could not start
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        await self._client.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        if not scope["path"].startswith("/v1/"):
            await _reply(send, 404, [], b"not proxied")
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answered = asyncio.Event()

        async def send_noting(message: dict[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        forward = asyncio.ensure_future(self._forward(scope, bytes(body), send_noting, started))
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait({forward, gone}, return_when=asyncio.FIRST_COMPLETED)
            # uvicorn reports a disconnect once the answer is sent, too: only a client that
            # left before it cut the request short.
            if not forward.done() and not answered.is_set():
                forward.cancel()  # closes the upstream connection: the server stops generating
                self.cut_short += 1
            with contextlib.suppress(asyncio.CancelledError):
                await forward
        finally:
            gone.cancel()
            forward.cancel()

    async def _forward(self, scope: dict[str, Any], body: bytes, send: Any, started: float) -> None:
        tag = self.tag
        path: str = scope["path"]
        offered, wants_stream = tools_offered(body)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.lower() not in _HOP_HEADERS
        ]
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + path + (f"?{query}" if query else "")
        reading = _Reading()

        def record(status: int, stream: bool) -> None:
            self.records.append(
                Record(
                    tag,
                    path,
                    started,
                    time.perf_counter() - started,
                    status,
                    stream,
                    reading.prompt,
                    reading.cached,
                    reading.completion,
                    offered,
                    reading.tool_calls,
                    reading.finish,
                )
            )

        request = self._client.build_request(
            scope["method"],
            url,
            headers=[*headers, ("accept-encoding", "identity")],
            content=body,
        )
        try:
            upstream = await self._client.send(request, stream=True)
        except httpx.HTTPError:
            record(502, wants_stream)
            await _reply(send, 502, [], b"upstream unavailable")
            return
        try:
            kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _REPLY_SKIP]
            if not upstream.headers.get("content-type", "").startswith("text/event-stream"):
                content = await upstream.aread()
                with contextlib.suppress(ValueError):
                    reading.read(json.loads(content))
                record(upstream.status_code, False)
                await _reply(send, upstream.status_code, kept, content)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status_code,
                    "headers": [(k.encode(), v.encode()) for k, v in kept],
                }
            )
            pending, recorded = "", False
            async for chunk in upstream.aiter_text():
                pending += chunk
                *lines, pending = pending.split("\n")
                # A client may stop reading at [DONE]: the record must exist before it.
                if read_sse(lines, reading) and not recorded:
                    record(upstream.status_code, True)
                    recorded = True
                piece = {"type": "http.response.body", "body": chunk.encode(), "more_body": True}
                await send(piece)
            read_sse([pending], reading)
            if not recorded:
                record(upstream.status_code, True)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()


async def _disconnect(receive: Any) -> None:
    """Returns when the client has gone (read after the request's whole body)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _reply(send: Any, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def model_seconds(records: Iterable[Record]) -> float:
    """Wall time during which at least one of ``records`` was in flight (overlapping requests,
    as a router's parallel subtasks make, count once)."""
    total, end = 0.0, float("-inf")
    for r in sorted(records, key=lambda r: r.started):
        if r.ended <= end:
            continue
        total += r.ended - max(r.started, end)
        end = r.ended
    return total
