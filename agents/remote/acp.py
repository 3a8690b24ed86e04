"""ACP servers as agents: plain REST + SSE over httpx."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx

from adapters import _json, acp
from adapters.errors import EffmeshError, UpstreamUnavailable
from adapters.model import AgentDescriptor, Invocation, StreamItem
from agents import outbound
from agents.pool import LoopPool
from agents.remote.base import Headers, Remote


class RemoteACPAgent(Remote):
    """An ACP server by its base URL; each ACP agent there is one skill. Calls share one
    pooled HTTP client per event loop."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Headers | None = None,
        policy: outbound.Policy = outbound.OPEN,
    ) -> None:
        super().__init__(name, url, timeout=timeout, headers=headers, policy=policy)
        self._pool = LoopPool(lambda: outbound.httpx_client(self.policy, timeout=self.timeout))

    async def close(self) -> None:
        await self._pool.aclose()

    async def connect(self) -> None:
        try:
            async with outbound.httpx_client(
                self.policy, headers=self.headers, timeout=self.timeout
            ) as http:
                r = await http.get(f"{self.url}/agents")
                r.raise_for_status()
                body = _json.loads(r.content)
        except (httpx.HTTPError, EffmeshError) as exc:
            self.healthy = False
            raise UpstreamUnavailable(f"ACP agent {self.name!r} is unreachable") from exc
        manifests: list[Any] = body.get("agents", []) if isinstance(body, dict) else []
        skills = tuple(s for m in manifests for s in acp.decode_agent(m).skills)
        self._adopt(AgentDescriptor(self.name, skills))

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        body, trace = acp.encode_invocation(replace(invocation, mode="stream", progress_token=None))
        headers = {**self.headers, **trace, "Content-Type": "application/json"}
        run_id: str | None = None
        http = self._pool.get()
        try:
            async with http.stream(
                "POST", f"{self.url}/runs", content=_json.dumps(body), headers=headers
            ) as response:
                if response.status_code >= 400:
                    raw = await response.aread()
                    raise acp.decode_error(response.status_code, _json.loads(raw))
                run_id = response.headers.get("Run-ID")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    for_this = acp.decode_stream_item(_json.loads(line[5:]), run_id=run_id)
                    yield for_this
        except asyncio.CancelledError:
            if run_id:
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(f"{self.url}/runs/{run_id}/cancel", headers=self.headers)
            raise
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"ACP agent {self.name!r} is unreachable") from exc
