"""The TCK's agent on its own and behind one or two gateways, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from agents.remote import RemoteA2AAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from tests.servers import running
from tests.tck.sut import build


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_in_front(url: str, name: str = "tck") -> Registry:
    """A registry whose agent ``name`` is the A2A agent whose card is served under ``url``."""
    remote = RemoteA2AAgent(name, url)
    asyncio.run(remote.connect())
    registry = Registry()
    registry.add(remote)
    return registry


@contextmanager
def sut(*, grpc: bool = False) -> Iterator[str]:
    """The TCK's agent (``tests.tck.sut``); yields its base URL."""
    port = free_port() if grpc else None
    with running(lambda base: build(base, port)) as url:
        yield url


@contextmanager
def behind_gateways(hops: int = 1, *, grpc: bool = False) -> Iterator[tuple[str, str]]:
    """The TCK's agent behind ``hops`` gateways, each reaching the next as the remote A2A
    agent ``tck``; yields (the agent's URL, the front gateway's ``/a2a/tck``). ``grpc``: the
    agent and the gateways serve A2A's gRPC binding too."""
    with sut(grpc=grpc) as direct, _chain(f"{direct}", hops, grpc) as front:
        yield direct, front


@contextmanager
def _chain(upstream: str, hops: int, grpc: bool) -> Iterator[str]:
    if hops == 0:
        yield upstream
        return
    registry = gateway_in_front(upstream)
    config = Config(a2a_grpc_port=0 if grpc else None)
    with (
        running(lambda base: create_app(registry, config, base_url=base)) as gw,
        _chain(f"{gw}/a2a/tck", hops - 1, grpc) as front,
    ):
        yield front
