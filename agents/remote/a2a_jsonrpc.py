"""A2A 1.0's JSON-RPC binding, client side, straight over httpx with the sans-I/O adapter.

The gateway's own hop to a remote A2A agent is on every cross-protocol call, so it skips the
a2a-sdk client's protobuf round trip (wire JSON -> protobuf -> dict on every message): the
adapter already speaks the wire JSON. Agents whose card offers no JSON-RPC 1.x interface are
called through the SDK client instead (``agents.remote``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import httpx

from adapters import _json, a2a, jsonrpc
from adapters.errors import EffmeshError, Timeout, UpstreamUnavailable
from agents import outbound
from agents.pool import LoopPool

VERSION_HEADER: Final = "A2A-Version"
PROTOCOL_VERSION: Final = "1.0"
_RUNNING: Final = ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")


class JsonRpcA2A:
    """Calls to one A2A JSON-RPC endpoint. One connection pool per event loop."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str],
        policy: outbound.Policy = outbound.OPEN,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout = timeout
        self.headers = {
            **headers,
            "Content-Type": "application/json",
            VERSION_HEADER: PROTOCOL_VERSION,
        }
        self._ids = itertools.count(1)
        self._pool = LoopPool(
            lambda: outbound.httpx_client(policy, headers=self.headers, timeout=self.timeout)
        )

    def _client(self) -> httpx.AsyncClient:
        return self._pool.get()

    async def close(self) -> None:
        await self._pool.aclose()

    def _unavailable(self, what: str = "is unreachable") -> UpstreamUnavailable:
        return UpstreamUnavailable(f"A2A agent {self.name!r} {what}")

    def _body(self, method: str, params: dict[str, Any]) -> bytes:
        return _json.dumps(jsonrpc.request(next(self._ids), method, params))

    def _result(self, raw: bytes | str) -> Any:
        """The ``result`` of one JSON-RPC response; its ``error`` raised as canonical."""
        try:
            reply = _json.loads(raw)
        except EffmeshError:
            raise self._unavailable("sent a malformed reply") from None
        if type(reply) is not dict:
            raise self._unavailable("sent a malformed reply")
        if "error" in reply:
            raise a2a.decode_error(reply["error"])
        if "result" not in reply:
            raise self._unavailable("sent a malformed reply")
        return reply["result"]

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One request and its result.

        Raises:
            EffmeshError: the peer's error, as canonical; Timeout; UpstreamUnavailable for a
                transport failure or a reply that is not JSON-RPC.
        """
        try:
            r = await self._client().post(self.url, content=self._body(method, params))
        except httpx.TimeoutException:
            raise Timeout(f"A2A agent {self.name!r} timed out") from None
        except httpx.HTTPError as exc:
            raise self._unavailable() from exc
        return self._result(r.content)

    async def stream(self, method: str, params: dict[str, Any]) -> AsyncIterator[Any]:
        """The results of a streaming request, one per server-sent event."""
        headers = {"Accept": "text/event-stream"}
        try:
            async with self._client().stream(
                "POST", self.url, content=self._body(method, params), headers=headers
            ) as response:
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    # An error before the stream began comes back as one JSON response.
                    yield self._result(await response.aread())
                    return
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        yield self._result(line[5:])
        except httpx.TimeoutException:
            raise Timeout(f"A2A agent {self.name!r} timed out") from None
        except httpx.HTTPError as exc:
            raise self._unavailable() from exc

    async def cancel_context(self, context_id: str) -> None:
        """Cancel the tasks of ``context_id`` that still run (best effort: a peer without
        ListTasks, or one already gone, leaves nothing to do)."""
        try:
            listed = await self.call("ListTasks", {"contextId": context_id})
            tasks = listed.get("tasks", []) if isinstance(listed, dict) else []
            for task in tasks:
                state = task.get("status", {}).get("state") if isinstance(task, dict) else None
                if state in _RUNNING:
                    await self.call("CancelTask", {"id": task["id"]})
        except EffmeshError:
            return
