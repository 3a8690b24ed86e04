"""ACP servers as agents: plain REST + SSE over httpx.

Every call is a streamed run upstream, read by the ACP adapter's ``RunReader``. A run that
waits for input is remembered by the id of the question it asked: the caller's answer comes
back with that question last in its history (however the caller's protocol carries the
follow-up), and resumes the same run. The gateway stores the question and the run with its
own task (``waiting``), so a restarted gateway, or another replica, resumes that run too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Final

import httpx

from adapters import _json, acp
from adapters.errors import EffmeshError, UpstreamUnavailable
from adapters.model import JSON, AgentDescriptor, Invocation, Resume, StreamItem
from agents import outbound
from agents.pool import LoopPool
from agents.remote.base import Headers, Remote

MAX_AWAITING: Final = 10_000
"""Upstream runs waiting for their caller's answer that one agent remembers."""


class RemoteACPAgent(Remote):
    """An ACP server by its base URL; each ACP agent there is one skill. Calls share one
    pooled HTTP client per event loop."""

    remote = "acp"

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
        self._awaiting: dict[str, str] = {}
        """The question a waiting upstream run asked (its message id) -> the run's id."""
        self._asked: dict[str, tuple[str, str]] = {}
        """Gateway task id -> (question id, run id) of the run waiting for that task's caller,
        which the gateway stores with the task (``waiting``)."""

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
        """Always a streamed run upstream: its chunks reach a caller that streams, its run id
        comes first (so a call cancelled or abandoned early cancels it), and a run that waits
        for input is resumed, not started again, when the caller answers its question."""
        asked = invocation.history[-1].message_id if invocation.history else None
        waiting = self._awaiting.pop(asked, None) if asked else None
        headers = {**self.headers, "Content-Type": "application/json"}
        if waiting is not None:
            resume = Resume(waiting, invocation.message, "stream")
            url, body = f"{self.url}/runs/{waiting}", acp.encode_resume(resume)
            if invocation.trace is not None:
                headers.update(acp.trace_headers(invocation.trace))
        else:
            body, trace = acp.encode_invocation(
                replace(invocation, mode="stream", progress_token=None)
            )
            url = f"{self.url}/runs"
            headers.update(trace)
        reader = acp.RunReader(waiting, resumed=True) if waiting is not None else None
        http = self._pool.get()
        try:
            async with http.stream("POST", url, content=_json.dumps(body), headers=headers) as r:
                if r.status_code >= 400:
                    raise acp.decode_error(r.status_code, _json.loads(await r.aread()))
                if reader is None:
                    reader = acp.RunReader(r.headers.get("Run-ID", ""))
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    items = reader.feed(_json.loads(line[5:]))
                    if reader.question_id is not None:
                        # Held before the question goes out: the caller stops reading there.
                        self._hold(reader.question_id, reader.run_id, task_id)
                    for item in items:
                        yield item
                    if reader.question_id is not None:
                        return
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"ACP agent {self.name!r} is unreachable") from exc
        finally:
            # Cancelled, abandoned by its caller, or cut off: the run must not work on alone.
            if reader is not None and reader.open and reader.run_id:
                await asyncio.shield(self._cancel(reader.run_id))

    def _hold(self, question_id: str, run_id: str, task_id: str) -> None:
        """Remember which run asked ``question_id`` for gateway task ``task_id`` (a bounded
        number of them: the oldest question is forgotten first, and its run can no longer be
        resumed from here)."""
        while len(self._awaiting) >= MAX_AWAITING:
            self._awaiting.pop(next(iter(self._awaiting)))
        while len(self._asked) >= MAX_AWAITING:
            self._asked.pop(next(iter(self._asked)))
        self._awaiting[question_id] = run_id
        self._asked.pop(task_id, None)
        self._asked[task_id] = (question_id, run_id)

    def waiting(self, task_id: str) -> JSON | None:
        """The question and the run that wait for gateway task ``task_id``'s caller."""
        held = self._asked.get(task_id)
        return None if held is None else {"questionId": held[0], "runId": held[1]}

    def carry_on(self, task_id: str, kept: JSON) -> None:
        """Wait again in the run that :meth:`waiting` named for ``task_id``."""
        question = kept.get("questionId") if isinstance(kept, dict) else None
        run = kept.get("runId") if isinstance(kept, dict) else None
        if isinstance(question, str) and isinstance(run, str) and question and run:
            self._hold(question, run, task_id)

    async def _cancel(self, run_id: str) -> None:
        """``POST /runs/{id}/cancel``, best effort: a run that has ended meanwhile, or a peer
        that is gone, leaves nothing to cancel."""
        with contextlib.suppress(httpx.HTTPError):
            await self._pool.get().post(f"{self.url}/runs/{run_id}/cancel", headers=self.headers)
