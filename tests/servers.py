"""Real servers on 127.0.0.1 for the tests: uvicorn in a thread, bound to port 0."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn
from a2a.client import Client as A2AClient
from a2a.client import ClientConfig, create_client
from starlette.types import ASGIApp

from agents.base import Agent
from agents.echo import EchoAgent
from agents.remote import RemoteA2AAgent, RemoteACPAgent, RemoteMCPAgent
from gateway.app import create_app
from gateway.registry import Registry


@contextmanager
def running(
    make: Callable[[str], ASGIApp],
    port: int = 0,
    *,
    graceful: float | None = None,
    host: str = "127.0.0.1",
    http: type[asyncio.Protocol] | None = None,
) -> Iterator[str]:
    """Serve ``make(base_url)`` on ``host`` until the block ends; yields the base URL.
    ``graceful``: how long to wait for open requests at the end (None: until they finish);
    ``http``: uvicorn's HTTP protocol class (default: its own choice)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    app = make(f"http://{host}:{port}")
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=graceful,
        http=http or "auto",
        proxy_headers=False,  # as effmesh serve: the guard decides whom to believe
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()

    def wait_started() -> None:
        while not server.started and thread.is_alive():
            started.wait(0.01)

    wait_started()
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def behind_remotes(agent: Agent) -> Iterator[str]:
    """Two gateways: an upstream serving ``agent``, and the gateway under test reaching it as
    three remote agents, ``up_mcp``, ``up_a2a`` and ``up_acp``. Yields the latter's URL."""
    upstream = Registry()
    upstream.add(agent)
    name = agent.descriptor.name
    with running(lambda base: create_app(upstream, base_url=base)) as up:
        remotes = [
            RemoteMCPAgent("up_mcp", f"{up}/mcp"),
            RemoteA2AAgent("up_a2a", f"{up}/a2a/{name}"),
            RemoteACPAgent("up_acp", f"{up}/acp"),
        ]

        async def connect() -> None:
            for remote in remotes:
                await remote.connect()

        asyncio.run(connect())
        registry = Registry()
        for remote in remotes:
            registry.add(remote)
        with running(lambda base: create_app(registry, base_url=base)) as url:
            yield url


@contextmanager
def echo_gateway() -> Iterator[str]:
    """A gateway with the echo agent and default settings; yields its base URL."""
    registry = Registry()
    registry.add(EchoAgent())
    with running(lambda base: create_app(registry, base_url=base)) as url:
        yield url


@asynccontextmanager
async def slow_a2a_client(
    card_url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[A2AClient]:
    """A streaming A2A client with room for a small model on a loaded 2-core machine (httpx's
    5 s default read timeout is shorter than some model calls there)."""
    async with httpx.AsyncClient(timeout=120, headers=headers) as http:
        config = ClientConfig(streaming=True, httpx_client=http)
        async with await create_client(card_url, client_config=config) as client:
            yield client


def namespaces_work(*ip_args: str) -> bool:
    """Whether this machine lets an unprivileged user make a user and network namespace and
    run ``ip *ip_args`` in it (the labs that build test hosts need both)."""
    try:
        done = subprocess.run(["unshare", "-rn", "ip", *ip_args], check=False, capture_output=True)
    except OSError:
        return False
    return done.returncode == 0
