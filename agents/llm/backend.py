"""One model behind one interface: OpenAI-compatible servers, with replicas, limits and retries.

A :class:`ModelBackend` talks to one or more replicas of the same model (SGLang servers, the
``smg`` router in front of them, or llama.cpp servers). Every call:

- waits for a slot under the backend's concurrency limit, so a burst queues here instead of
  overloading a small server;
- goes to the replica with the fewest calls in flight; a replica that refused a connection
  sits out for a short cool-down;
- is bounded by the timeout (the whole call, streaming included);
- is retried with exponential backoff on connection errors and 5xx replies, on another replica
  where there is one; a streamed call is retried only before its first token.

Failures surface as the project's errors (``Timeout``, ``UpstreamUnavailable``, ``InvalidParams``
for a request the server refused); a server's own error text never leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from adapters.errors import InvalidParams, Timeout, Unsupported, UpstreamUnavailable
from agents.llm import wire
from agents.llm.http import ConnectionFailed, LeanClient
from agents.llm.wire import CAPABILITIES, ChatReply, ChatRequest, Chunk, ServerKind, Usage
from observability import tracing
from observability.genai import ModelCall

COOL_DOWN_SECONDS = 2.0
"""How long a replica that refused a connection is passed over."""


@dataclass(slots=True)
class _Replica:
    url: str
    in_flight: int = 0
    down_until: float = 0.0


class _Retryable(Exception):
    """A failure worth another attempt: no connection, or a 5xx reply."""


class ModelBackend:
    """Chat completions from one model on ``urls`` (replicas), as ``kind`` servers.

    Safe to share between tasks of one event loop; it owns one HTTP client
    (:class:`agents.llm.http.LeanClient`) with connections kept per replica.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        kind: ServerKind = ServerKind.SGLANG,
        model: str | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        retries: int = 2,
        backoff: float = 0.2,
        name: str = "model",
        unavailable: Callable[[], str | None] | None = None,
    ) -> None:
        """``unavailable``: why the model cannot serve now (None when it can), asked before
        every call so that calls to a model known to be down fail at once."""
        if not urls:
            raise InvalidParams("a model backend needs at least one URL", path=f"models.{name}")
        self.name = name
        self.kind = kind
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.capabilities = CAPABILITIES[kind]
        self.unavailable = unavailable
        self._replicas = [_Replica(u.rstrip("/")) for u in urls]
        self._slots = asyncio.Semaphore(max_concurrency)
        self._client: LeanClient | None = None
        self._turn = 0
        self.calls = 0
        self.usage = Usage()
        """Totals over every completed call (prompt, completion and cached prompt tokens)."""

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self._replicas]

    def _http(self) -> LeanClient:
        if self._client is None:
            self._client = LeanClient()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _check_up(self) -> None:
        why = self.unavailable() if self.unavailable is not None else None
        if why is not None:
            raise UpstreamUnavailable(f"model server {self.name!r} is down ({why})")

    def _pick(self, avoid: _Replica | None) -> _Replica:
        now = time.monotonic()
        up = [r for r in self._replicas if r.down_until <= now and r is not avoid]
        pool = up or [r for r in self._replicas if r is not avoid] or self._replicas
        self._turn += 1
        # Fewest in flight; ties go round-robin so idle replicas share the load.
        n = len(pool)
        order = [pool[(self._turn + i) % n] for i in range(n)]
        return min(order, key=lambda r: r.in_flight)

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter, so retrying callers do not arrive together."""
        return float(self.backoff * (2**attempt) * (0.5 + random.random()))  # noqa: S311 (not crypto)

    def _record(self, usage: Usage) -> None:
        self.calls += 1
        self.usage = Usage(
            self.usage.prompt_tokens + usage.prompt_tokens,
            self.usage.completion_tokens + usage.completion_tokens,
            self.usage.cached_tokens + usage.cached_tokens,
        )

    async def _post(
        self, replica: _Replica, path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> Any:
        try:
            status, body = await self._http().request(
                "POST", replica.url + path, json_body=payload, headers=headers
            )
        except ConnectionFailed:
            replica.down_until = time.monotonic() + COOL_DOWN_SECONDS
            raise _Retryable from None
        if status >= 500:
            raise _Retryable
        _refused(status)
        try:
            return json.loads(body)
        except ValueError:
            raise UpstreamUnavailable(wire._MALFORMED) from None

    async def _attempts(
        self, path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> tuple[Any, str, float]:
        """POST with retries; the JSON reply, the replica that gave it, and its seconds.
        ``headers`` carry the model call's trace context to the server."""
        self._check_up()
        last: _Replica | None = None
        for attempt in range(self.retries + 1):
            replica = self._pick(last)
            last = replica
            replica.in_flight += 1
            started = time.perf_counter()
            try:
                return (
                    await self._post(replica, path, payload, headers),
                    replica.url,
                    (time.perf_counter() - started),
                )
            except _Retryable:
                if attempt == self.retries:
                    break
                await asyncio.sleep(self._delay(attempt))
            finally:
                replica.in_flight -= 1
        raise UpstreamUnavailable(f"model server {self.name!r} is unavailable")

    async def chat(self, request: ChatRequest) -> ChatReply:
        """One completion.

        Raises:
            Timeout: no reply within the backend's timeout.
            UpstreamUnavailable: no replica answered, or the reply was malformed.
            InvalidParams: the server refused the request (4xx).
            Unsupported: the request needs a feature this server kind lacks.
        """
        payload = wire.body(self.kind, self.model, request, stream=False)
        call = self._call("chat", request, request.messages)
        return await self._complete("/v1/chat/completions", payload, wire.parse_reply, call)

    async def generate(self, text: str, request: ChatRequest) -> ChatReply:
        """SGLang's native ``/generate`` on an already templated prompt ``text``."""
        if not self.capabilities.generate:
            raise Unsupported(f"a {self.kind} server has no native /generate")
        payload = wire.generate_body(text, request)
        call = self._call("text_completion", request, [{"role": "user", "content": text}])
        return await self._complete("/generate", payload, wire.parse_generate, call)

    def _call(
        self, operation: str, request: ChatRequest, messages: Sequence[Mapping[str, str]]
    ) -> ModelCall:
        return ModelCall(
            operation=operation,
            provider=self.kind.value,
            model=self.model or self.name,
            server=self._replicas[0].url,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            messages=messages,
        )

    async def _complete(
        self,
        path: str,
        payload: dict[str, Any],
        parse: Callable[[Any], ChatReply],
        call: ModelCall,
    ) -> ChatReply:
        """One non-streamed call: a slot, the timeout around every attempt, usage recorded."""
        try:
            async with self._slots:
                try:
                    async with asyncio.timeout(self.timeout):
                        raw, url, seconds = await self._attempts(path, payload, call.headers)
                except TimeoutError:
                    raise Timeout(f"model server {self.name!r} did not answer in time") from None
            reply = replace(parse(raw), server=url, seconds=seconds)
        except BaseException as exc:
            call.fail(exc)
            raise
        self._record(reply.usage)
        _finish(call, reply.usage, reply.finish_reason, reply.model, reply.text)
        return reply

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Chunks of one streamed completion; the last carries the finish reason and usage.

        Raises as :meth:`chat` does; a stream cut after its first chunk is not retried.
        """
        payload = wire.body(self.kind, self.model, request, stream=True)
        call = self._call("chat", request, request.messages)
        usage, reason, model, pieces = Usage(), None, None, []
        try:
            async with self._slots:
                deadline = asyncio.get_running_loop().time() + self.timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        async for chunk in self._stream_attempts(payload, call.headers):
                            usage = chunk.usage or usage
                            reason = chunk.finish_reason or reason
                            model = chunk.model or model
                            pieces.append(chunk.text)
                            yield chunk
                except TimeoutError:
                    raise Timeout(f"model server {self.name!r} did not answer in time") from None
        except BaseException as exc:
            call.fail(exc)
            raise
        _finish(call, usage, reason, model, "".join(pieces))

    async def _stream_attempts(
        self, payload: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[Chunk]:
        self._check_up()
        last: _Replica | None = None
        for attempt in range(self.retries + 1):
            replica = self._pick(last)
            last = replica
            replica.in_flight += 1
            started = False
            usage = Usage()
            try:
                async for chunk in self._stream_once(replica, payload, headers):
                    started = True
                    if chunk.usage is not None:
                        usage = chunk.usage
                    yield chunk
            except _Retryable:
                if started:
                    raise UpstreamUnavailable(
                        f"model server {self.name!r} stopped mid-reply"
                    ) from None
                if attempt == self.retries:
                    break
                await asyncio.sleep(self._delay(attempt))
            else:
                self._record(usage)
                return
            finally:
                replica.in_flight -= 1
        raise UpstreamUnavailable(f"model server {self.name!r} is unavailable")

    async def _stream_once(
        self, replica: _Replica, payload: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[Chunk]:
        url = replica.url + "/v1/chat/completions"
        try:
            http = self._http()
            async with http.stream("POST", url, json_body=payload, headers=headers) as response:
                if response.status_code >= 500:
                    raise _Retryable
                _refused(response.status_code)
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    raise UpstreamUnavailable(wire._MALFORMED)
                finished = False
                async for line in response.lines():
                    if not line.startswith("data:"):
                        continue
                    chunk = wire.parse_chunk(line[5:])
                    if chunk is None:
                        return
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
                if not finished:
                    raise UpstreamUnavailable(f"model server {self.name!r} stopped mid-reply")
        except ConnectionFailed:
            replica.down_until = time.monotonic() + COOL_DOWN_SECONDS
            raise _Retryable from None

    async def count_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        """Prompt tokens of ``messages`` after the server's chat template, without generating."""
        if not self.capabilities.tokenize:
            raise Unsupported(f"a {self.kind} server cannot count tokens")
        payload = {"messages": [dict(m) for m in messages]}
        try:
            async with asyncio.timeout(self.timeout):
                raw, _, _ = await self._attempts("/apply-template", payload, tracing.wire_carrier())
                prompt = raw.get("prompt") if isinstance(raw, dict) else None
                if not isinstance(prompt, str):
                    raise UpstreamUnavailable(wire._MALFORMED)
                body = {"content": prompt, "add_special": True}
                raw, _, _ = await self._attempts("/tokenize", body, tracing.wire_carrier())
        except TimeoutError:
            raise Timeout(f"model server {self.name!r} did not answer in time") from None
        tokens = raw.get("tokens") if isinstance(raw, dict) else None
        if not isinstance(tokens, list):
            raise UpstreamUnavailable(wire._MALFORMED)
        return len(tokens)

    async def health(self) -> dict[str, bool]:
        """Each replica's answer to the kind's health path (a 2xx within 5 s)."""
        path = self.capabilities.health_path

        async def check(url: str) -> bool:
            try:
                async with asyncio.timeout(5.0):
                    status, _ = await self._http().request("GET", url + path)
            except (ConnectionFailed, TimeoutError):
                return False
            return 200 <= status < 300

        results = await asyncio.gather(*(check(r.url) for r in self._replicas))
        return dict(zip(self.urls, results, strict=True))

    async def info(self) -> dict[str, Any]:
        """The first reachable replica's model description (``/model_info``, ``/props``)."""
        for replica in self._replicas:
            try:
                async with asyncio.timeout(self.timeout):
                    status, body = await self._http().request(
                        "GET", replica.url + self.capabilities.info_path
                    )
            except (ConnectionFailed, TimeoutError):
                continue
            if 200 <= status < 300:
                try:
                    data = json.loads(body)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    return data
        raise UpstreamUnavailable(f"model server {self.name!r} is unavailable")


def _finish(
    call: ModelCall, usage: Usage, reason: str | None, model: str | None, text: str
) -> None:
    call.finish(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        finish_reason=reason,
        response_model=model,
        text=text,
    )


def _refused(status: int) -> None:
    if status >= 400:
        raise InvalidParams(f"the model server refused the request (HTTP {status})")


def dumps(value: Any) -> str:
    """Deterministic compact JSON: equal values give equal bytes, so prompts share prefixes."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
