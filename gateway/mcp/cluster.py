"""A legacy MCP session (2025-11-25 and older, over Streamable HTTP) taken up by a gateway
replica that did not open it, so that a load balancer needs no session affinity.

The MCP SDK keeps a session as a transport and a server loop in the process that answered
its ``initialize``. Another replica that receives a request naming the session reads it from
the shared session book (``gateway.runtime.sessions``: owner, protocol revision, the client's
initialize params) and starts the same transport and loop under the same id, with the
connection already initialized as the handshake left it; from then on both replicas hold the
session, each serving the requests that reach it. What the SDK's handshake would have
recorded is all a session's requests read: the revision, the client's capabilities and info.

This drives the SDK's session manager as its own opening request does (its task group, its
table of transports, its discard), and writes a notification another replica forwarded for
a session's GET stream where the SDK's server loop writes its own (the transport's write
stream): neither is offered as a public call.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, cast

import anyio
import mcp_types as mt
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.connection import Connection
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import SessionMessage
from mcp.shared.transport_context import TransportContext
from mcp_types import InitializeRequestParams

from gateway.runtime.sessions import StoredSession

log = logging.getLogger(__name__)


async def revive(manager: StreamableHTTPSessionManager, stored: StoredSession) -> None:
    """Hold ``stored`` in ``manager`` as if this process had opened it.

    Raises:
        pydantic.ValidationError: the stored initialize params are not valid ones.
    """
    session_id = stored.session_id
    params = InitializeRequestParams.model_validate(stored.client, by_name=False)
    transport = StreamableHTTPServerTransport(
        mcp_session_id=session_id,
        is_json_response_enabled=manager.json_response,
        event_store=manager.event_store,
        security_settings=manager.security_settings,
        retry_interval=manager.retry_interval,
        idle_timeout=manager.session_idle_timeout,
    )

    async def run(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with transport.connect() as (read, write):
            task_status.started()
            try:
                idle = transport.idle_scope or anyio.CancelScope()
                with idle:
                    dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                        read, write, inline_methods=frozenset({"initialize"})
                    )
                    connection = Connection.for_loop(dispatcher, session_id=session_id)
                    connection.client_params = params
                    connection.protocol_version = stored.version
                    connection.initialized.set()
                    await serve_connection(
                        manager.app,
                        dispatcher,
                        connection=connection,
                        lifespan_state=manager._lifespan_state,
                    )
            except Exception:
                log.exception("MCP session %s crashed", session_id[:64])
            finally:
                await manager._discard_session(session_id, transport)

    group = cast("TaskGroup | None", manager._task_group)
    if group is None:
        raise RuntimeError("the MCP session manager is not running")
    manager._server_instances[session_id] = transport
    await group.start(run)


async def notify(
    manager: StreamableHTTPSessionManager, session_id: str, message: dict[str, Any]
) -> None:
    """Send ``message``, a server's notification that belongs to no request, to the client of
    ``session_id`` (held by ``manager``): on its GET stream, as the SDK sends its own."""
    transport: Any = manager._server_instances.get(session_id)
    if transport is None or transport.is_terminated:
        return
    parsed = mt.jsonrpc_message_adapter.validate_python(message, by_name=False)
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await transport._write_stream.send(SessionMessage(parsed))


async def close(manager: StreamableHTTPSessionManager, session_id: str) -> bool:
    """Close the session ``session_id`` if ``manager`` holds it (its GET stream and calls
    end); whether it did."""
    transport: Any = manager._server_instances.get(session_id)
    if transport is None:
        return False
    await manager._discard_session(session_id, transport)
    return True
