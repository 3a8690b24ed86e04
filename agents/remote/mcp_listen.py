"""A 2026-07-28 server's change events, heard through one ``subscriptions/listen`` stream.

A server that speaks only 2026-07-28 has no ``resources/subscribe``: a client names what it
wants told in a listen request, and the response stream carries the events. The remote agent
keeps one such stream to its server, for the union of the URIs its callers subscribed to (and
every list change), opened again whenever that set changes, and open too while a caller's own
listen stream wants list changes; each event reaches the agent's
listeners as the notification a handshake-era server would have sent, so the gateway hands it
on the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from mcp.shared.subscriptions import ServerEvent, event_to_notification

from agents.remote.mcp_upstream import Upstream

log = logging.getLogger(__name__)

ACK_TIMEOUT: Final = 30.0
"""Seconds a new stream may take to be acknowledged before a subscription is answered."""


def notification_of(event: ServerEvent) -> tuple[str, dict[str, object]]:
    """The method and params of the notification that carries ``event``."""
    wire = event_to_notification(event, {}).model_dump(by_alias=True, mode="json")
    params = {k: v for k, v in (wire.get("params") or {}).items() if k != "_meta" and v is not None}
    return str(wire["method"]), params


class UpstreamListen:
    """The listen stream of one upstream, for the URIs in ``uris``."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.uris: set[str] = set()
        self.watchers = 0
        """Callers' listen streams that want the server's list changes: while there is one,
        the server is listened to even with no URI to watch."""
        self._stream: asyncio.Task[None] | None = None

    async def changed(self) -> None:
        """Listen again for ``uris`` and every list change (and stop when no URI and no
        watcher is left); returns once the server acknowledged the new stream, so no update
        after this is missed.

        Raises:
            UpstreamUnavailable: the server cannot be reached.
            TimeoutError: it did not acknowledge in time.
        """
        await self.close()
        if not self.uris and not self.watchers:
            return
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stream = asyncio.get_running_loop().create_task(
            self._listen(frozenset(self.uris), acked)
        )
        await asyncio.wait_for(asyncio.shield(acked), ACK_TIMEOUT)

    async def _listen(self, uris: frozenset[str], acked: asyncio.Future[None]) -> None:
        try:
            client = await self.upstream.client()
            async with client.listen(
                resource_subscriptions=sorted(uris),
                tools_list_changed=True,
                prompts_list_changed=True,
                resources_list_changed=True,
            ) as events:
                acked.set_result(None)
                async for event in events:
                    await self.upstream.tell(*notification_of(event))
        except Exception as exc:  # noqa: BLE001 - the stream's own task: its end is reported
            if not acked.done():
                acked.set_exception(exc)
            else:
                log.warning("the listen stream of MCP agent %r ended", self.upstream.name)

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
