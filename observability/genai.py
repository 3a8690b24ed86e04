"""Model calls as OpenTelemetry GenAI client spans and metrics (``gen_ai.*``).

Prompt and answer text go into ``gen_ai.input.messages`` / ``gen_ai.output.messages`` only
when the operator turned ``capture_content`` on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from observability import metrics, tracing


class ModelCall:
    """One model call's span (not current: the caller passes :attr:`headers` on the HTTP
    request) and its metrics, recorded by :meth:`finish` or :meth:`fail`."""

    __slots__ = ("_began", "_done", "_labels", "headers", "span")

    def __init__(
        self,
        *,
        operation: str,
        provider: str,
        model: str,
        server: str,
        max_tokens: int,
        temperature: float,
        messages: Sequence[Mapping[str, str]] | None = None,
    ) -> None:
        parts = urlsplit(server)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.request.max_tokens": max_tokens,
            "gen_ai.request.temperature": temperature,
            "server.address": parts.hostname or "",
        }
        if parts.port is not None:
            attrs["server.port"] = parts.port
        if messages is not None and tracing.content_enabled():
            attrs["gen_ai.input.messages"] = json.dumps(list(map(dict, messages)))
        self.span, ctx = tracing.start(
            f"{operation} {model}", kind=tracing.SpanKind.CLIENT, attributes=attrs
        )
        self.headers = tracing.wire_carrier(ctx)
        self._labels = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        self._began = time.perf_counter()
        self._done = False

    def finish(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int,
        finish_reason: str | None,
        response_model: str | None,
        text: str | None = None,
    ) -> None:
        if self._done:
            return
        self._done = True
        s = self.span
        s.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        s.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        s.set_attribute("gen_ai.usage.cache_read.input_tokens", cached_tokens)
        if finish_reason:
            s.set_attribute("gen_ai.response.finish_reasons", (finish_reason,))
        if response_model:
            s.set_attribute("gen_ai.response.model", response_model)
        if text is not None and tracing.content_enabled():
            s.set_attribute(
                "gen_ai.output.messages",
                json.dumps([{"role": "assistant", "content": text}]),
            )
        labels = self._labels
        metrics.TOKENS.record(input_tokens, {**labels, "gen_ai.token.type": "input"})
        metrics.TOKENS.record(output_tokens, {**labels, "gen_ai.token.type": "output"})
        metrics.PROMPT_TOKENS.add(input_tokens, labels)
        metrics.CACHED_TOKENS.add(cached_tokens, labels)
        metrics.CACHE_HITS.add(input_tokens, cached_tokens, labels)
        self._end(None)

    def fail(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        tracing.failed(self.span, exc)
        self._end("closed" if isinstance(exc, GeneratorExit) else type(exc).__name__)

    def _end(self, error: str | None) -> None:
        labels = self._labels if error is None else {**self._labels, "error.type": error}
        metrics.MODEL_DURATION.record(time.perf_counter() - self._began, labels)
        self.span.end()
