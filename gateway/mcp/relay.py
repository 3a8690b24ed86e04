"""An MCP caller as the relay of an upstream MCP server's requests and log lines
(:mod:`agents.remote.mcp_relay`): what the upstream asks during the call is asked of the
caller on the call's own stream, if the caller declared it can answer. A 2026-07-28 caller
has no such requests: it ``pauses``, and the remote agent hands the question back to it as its
call's ``input_required`` (:mod:`agents.remote.mcp_asking`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as mt
from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, ValidationError

from adapters import mcp as mcp_adapter
from adapters.errors import Canceled, InvalidParams, Unsupported
from agents.remote.mcp_relay import ELICITATION, ROOTS, SAMPLING
from gateway.mcp.passthrough import LEVELS, admits


class _AnyResult(mt.Result):
    """A client's result as it came: checked by the upstream that asked for it."""

    model_config = ConfigDict(extra="allow")


class SessionRelay:
    """The caller of one request on an SDK server session."""

    def __init__(
        self, ctx: ServerRequestContext[Any], principal: str | None, level: str | None
    ) -> None:
        self.ctx = ctx
        self.principal = principal
        self.level = level
        """The log level the caller chose (None: none, every line)."""
        self.pauses = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        """2026-07-28 has no requests from server to client: such a caller answers a paused
        call's ``input_required`` instead."""

    def can_answer(self, method: str) -> bool:
        caps = self.ctx.session.client_capabilities
        if caps is None:
            return False
        wanted = {SAMPLING: caps.sampling, ELICITATION: caps.elicitation, ROOTS: caps.roots}
        return wanted.get(method) is not None

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.pauses or not self.can_answer(method):
            raise Unsupported(f"the caller cannot answer {method}")
        try:
            request = mt.server_request_adapter.validate_python(
                {"method": method, "params": params}, by_name=False
            )
        except ValidationError:
            raise InvalidParams(f"not a valid {method} request") from None
        related = ServerMessageMetadata(related_request_id=self.ctx.request_id)
        try:
            result = await self.ctx.session.send_request(request, _AnyResult, metadata=related)
        except MCPError as exc:
            raise mcp_adapter.decode_error(exc.error.model_dump(mode="json")) from None
        except ValidationError:
            raise Canceled("the caller's answer is not a result") from None
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    def log_level(self) -> str | None:
        if self.pauses:  # 2026-07-28: the request's own opt-in
            allowed = allowed_log_levels(self.ctx.protocol_version, self.ctx.meta)
            return next((level for level in LEVELS if level in allowed), None)
        return self.level or LEVELS[0]  # no level set: every line, as the handshake era has it

    async def log(self, params: dict[str, Any]) -> None:
        level = str(params.get("level"))
        version = self.ctx.protocol_version
        if version in MODERN_PROTOCOL_VERSIONS:
            if level not in allowed_log_levels(version, self.ctx.meta):
                return
        elif not admits(self.level, level):
            return
        note = mt.LoggingMessageNotification(
            params=mt.LoggingMessageNotificationParams.model_validate(params, by_name=False)
        )
        await self.ctx.session.send_notification(note, related_request_id=self.ctx.request_id)


CAPABILITY = {SAMPLING: "sampling", ELICITATION: "elicitation", ROOTS: "roots"}
"""The client capability each upstream request needs."""


class FrameRelay:
    """The caller of one call on a connection served frame by frame (``/mcp/ws``): it asks
    with ``ask`` (a request frame, its answer's result) and tells with ``notify``."""

    def __init__(
        self,
        principal: str | None,
        version: str,
        *,
        capabilities: dict[str, Any],
        level: str | None,
        ask: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
        notify: Callable[[str, dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.principal = principal
        self.version = version
        self.pauses = version in MODERN_PROTOCOL_VERSIONS
        """2026-07-28: answers a paused call's ``input_required`` instead of requests."""
        self.capabilities = capabilities
        self.level = level
        self._ask = ask
        self._notify = notify

    def can_answer(self, method: str) -> bool:
        return CAPABILITY.get(method, "") in self.capabilities

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.pauses or not self.can_answer(method):
            raise Unsupported(f"the caller cannot answer {method}")
        return await self._ask(method, params)

    def log_level(self) -> str | None:
        # 2026-07-28: the request's own opt-in; before, no level set means every line.
        return self.level if self.pauses else (self.level or LEVELS[0])

    async def log(self, params: dict[str, Any]) -> None:
        # 2026-07-28: lines only for a request that opted in with a level in its _meta.
        opted_in = self.version not in MODERN_PROTOCOL_VERSIONS or self.level is not None
        if opted_in and admits(self.level, str(params.get("level"))):
            await self._notify("notifications/message", params)
