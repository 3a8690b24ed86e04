"""The rest of an MCP server's surface beside its tools (resources, prompts, completions, log
level: :class:`agents.remote.kinds.McpServerAgent`), in wire JSON, for
:class:`agents.remote.mcp.RemoteMCPAgent`. Each method raises the canonical error of the
server's answer (``UpstreamUnavailable`` when it is down)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final

import mcp_types as mt
from pydantic import BaseModel

from adapters.errors import EffmeshError, UpstreamUnavailable
from agents.remote.kinds import Listener
from agents.remote.mcp_listen import UpstreamListen
from agents.remote.mcp_upstream import Upstream

MAX_PAGES: Final = 100
"""Pages of one listing followed at most: a server whose cursor never ends cannot hang it."""


def wire(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


class ServerSurface:
    """What the agent shares with this surface: its name, its shared session, the listen
    stream to a 2026-07-28 server, and the session of the call being served."""

    name: str
    upstream: Upstream
    _listen: UpstreamListen

    def _session(self) -> Upstream:
        raise NotImplementedError

    def listen(self, listener: Listener) -> None:
        """Tell ``listener`` every notification of the server that belongs to no call."""
        self.upstream.listeners.append(listener)

    async def server_capabilities(self) -> mt.ServerCapabilities:
        """What the server declared when the session opened (opening one if none is)."""
        client = await self._session().client()
        return client.server_capabilities

    async def _listing(self, key: str, page: Callable[..., Awaitable[Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            got = wire(await self._session().request(partial(page, cursor=cursor)))
            items.extend(got.get(key, []))
            cursor = got.get("nextCursor")
            if not cursor:
                break
        return items

    async def list_resources(self) -> list[dict[str, Any]]:
        return await self._listing(
            "resources",
            lambda c, cursor: c.session.list_resources(
                params=mt.PaginatedRequestParams(cursor=cursor)
            ),
        )

    async def list_resource_templates(self) -> list[dict[str, Any]]:
        return await self._listing(
            "resourceTemplates",
            lambda c, cursor: c.session.list_resource_templates(
                params=mt.PaginatedRequestParams(cursor=cursor)
            ),
        )

    async def list_prompts(self) -> list[dict[str, Any]]:
        return await self._listing(
            "prompts",
            lambda c, cursor: c.session.list_prompts(
                params=mt.PaginatedRequestParams(cursor=cursor)
            ),
        )

    async def read_resource(self, uri: str) -> dict[str, Any]:
        return wire(await self._session().request(lambda c: c.read_resource(uri)))

    async def subscribe(self, uri: str) -> None:
        """A 2026-07-28 server is listened to for ``uri`` (:mod:`agents.remote.mcp_listen`)
        instead; its updates reach the listeners either way."""
        if await self._modern():
            self._listen.uris.add(uri)
            await self._listen_again()
            return
        await self._send(mt.SubscribeRequest(params=mt.SubscribeRequestParams(uri=uri)))

    async def watch_lists(self, on: bool) -> None:
        """A caller's listen stream wants the server's list changes (``on``), or no longer
        does. A 2026-07-28 server is listened to while any such stream is open; a
        handshake-era server tells its session of them anyway."""
        if not await self._modern():
            return
        self._listen.watchers += 1 if on else -1
        if self._listen.watchers == (1 if on else 0) and not self._listen.uris:
            try:
                await self._listen_again()
            except EffmeshError:
                if on:
                    self._listen.watchers -= 1  # not listened to: the caller is not counted
                raise

    async def unsubscribe(self, uri: str) -> None:
        if await self._modern():
            self._listen.uris.discard(uri)
            await self._listen_again()
            return
        await self._send(mt.UnsubscribeRequest(params=mt.UnsubscribeRequestParams(uri=uri)))

    async def _modern(self) -> bool:
        session = self._session()
        await session.client()  # opened first: whether the server speaks 2026-07-28 is known
        return session.modern

    async def _listen_again(self) -> None:
        try:
            await self._listen.changed()
        except EffmeshError:
            raise
        except Exception as exc:  # the SDK's errors, its task groups' and a timeout alike
            raise UpstreamUnavailable(
                f"MCP agent {self.name!r} did not take the subscription"
            ) from exc

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, str] | None,
        *,
        hand_on: bool = False,
        input_responses: dict[str, Any] | None = None,
        request_state: str | None = None,
    ) -> dict[str, Any]:
        """The prompt's wire result. ``hand_on`` (a 2026-07-28 caller's get): one round, sent
        with the caller's ``input_responses`` and ``request_state`` as they came, and an
        ``input_required`` result is the answer, for the caller to answer; otherwise the
        SDK's client asks the server's questions of the caller of a call in flight."""
        if not hand_on:
            return wire(await self._session().request(lambda c: c.get_prompt(name, arguments)))
        return wire(
            await self._session().request(
                lambda c: c.session.get_prompt(
                    name,
                    arguments,
                    input_responses=input_responses,
                    request_state=request_state,
                    allow_input_required=True,
                )
            )
        )

    async def complete(self, params: mt.CompleteRequestParams) -> dict[str, Any]:
        request = mt.CompleteRequest(params=params)
        return wire(
            await self._session().request(
                lambda c: c.session.send_request(request, mt.CompleteResult)
            )
        )

    async def set_level(self, level: mt.LoggingLevel) -> None:
        """Nothing for a server that speaks 2026-07-28: it has no level to set."""
        if await self._modern():
            return
        await self._send(mt.SetLevelRequest(params=mt.SetLevelRequestParams(level=level)))

    async def _send(self, request: Any) -> None:
        # Raw requests: the SDK's helpers for these methods warn that 2026-07-28 drops them;
        # a handshake-era session has them.
        await self._session().request(lambda c: c.session.send_request(request, mt.EmptyResult))
