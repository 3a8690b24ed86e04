"""The outbound guard: where the gateway may open a connection, checked when it connects.

Every connection to a remote agent, a card's interface URL, a redirect target, a health check
or a peer gateway goes through :class:`Guard`: the host is resolved, **every** address it
resolves to is checked, and the connection is made to an address that was checked, never by
resolving the name a second time. So a name that answers differently between a check and a
connect (DNS rebinding) cannot slip through, and neither can the spellings of a forbidden
address (``::ffff:169.254.169.254``, ``::ffff:a9fe:a9fe``, the NAT64 and 6to4 forms, a decimal
``2852039166``), because the check reads the address the socket would use, with any IPv4
address embedded in an IPv6 one checked as that IPv4 address.

Always refused: link-local (which holds the cloud metadata services), the metadata addresses
that live elsewhere, unspecified, multicast, broadcast and reserved addresses. Loopback and
private ranges are refused only when the policy says so: a gateway whose agents run beside it
needs them.

The HTTP clients here are httpx and httpx2 clients whose connection pools use the guard as
their network backend; TLS still verifies the host name of the URL, not the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpcore2
import httpx
import httpx2

from adapters.errors import Forbidden, InvalidParams
from agents import upstream_auth

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
"""Names of metadata services that resolve only inside a cloud; refused by name too."""

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack (link-local anyway)
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private to a provider


@dataclass(frozen=True)
class Policy:
    """Which addresses outbound connections may reach, beyond the ones always refused."""

    allow_loopback: bool = True
    allow_private: bool = True
    allow_link_local: bool = False
    """Link-local and metadata addresses too: only for an agent that really lives there."""
    resolver: Resolver | None = field(default=None, compare=False)
    """How names are resolved (None: the event loop's resolver). A different resolver is for
    tests that inject a name whose answers change."""


OPEN = Policy()
"""The embedded default: agents beside the gateway and on the local network are reachable."""


def embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    # IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks); not :: or ::1.
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal(ip: IP, policy: Policy) -> str | None:
    """Why ``policy`` refuses ``ip`` (None: allowed). Embedded IPv4 addresses are checked as
    themselves, so every spelling of an address gets the same answer."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        why = refusal(inner, policy)
        return why if why is None else f"{why} (as {ip})"
    if not policy.allow_link_local:
        if ip in METADATA_ADDRESSES:
            return f"{ip} is a cloud metadata address"
        if ip.is_link_local:
            return f"{ip} is link-local"
    if ip.is_loopback:  # before "reserved": ::1 lies in the reserved ::/8
        return None if policy.allow_loopback else f"{ip} is loopback"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a unicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return f"{ip} is a broadcast address"
    if ip.is_private or ip in _SHARED:
        return None if policy.allow_private else f"{ip} is a private address"
    return None


def check_url(
    url: str, policy: Policy, *, schemes: Iterable[str] = ("http", "https")
) -> tuple[str, int]:
    """The host and port of an outbound URL, refusing what is not one.

    Raises:
        InvalidParams: not a URL of one of ``schemes`` with a host.
        Forbidden: the host is a metadata service's name (unless the policy allows those).
    """
    host, port = split_url(url, schemes=schemes)
    _check_name(host, policy)
    return host, port


def split_url(url: str, *, schemes: Iterable[str] = ("http", "https")) -> tuple[str, int]:
    """The host and port of a URL, its name not yet checked: for a client made before it
    connects, whose every connection goes through :func:`resolve_checked`.

    Raises:
        InvalidParams: not a URL of one of ``schemes`` with a host, or a bad port.
    """
    parts = urlsplit(url)
    allowed = tuple(schemes)
    if parts.scheme not in allowed or not parts.hostname:
        raise InvalidParams(f"URL {url!r:.80} must be {'|'.join(allowed)}://host/...")
    host = parts.hostname.lower().rstrip(".")
    secure = parts.scheme in ("https", "wss")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise InvalidParams(f"URL {url!r:.80} has an invalid port") from None
    return host, port


def _check_name(host: str, policy: Policy) -> None:
    if host in METADATA_HOSTS and not policy.allow_link_local:
        raise Forbidden(f"host {host!r} is a cloud metadata service")


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def resolve_checked(host: str, port: int, policy: Policy) -> str:
    """An address of ``host`` to connect to, after every address it resolves to was checked.

    Raises:
        Forbidden: the host is a metadata name, or one of its addresses is refused.
        OSError: the name does not resolve.
    """
    name = host.strip("[]").lower().rstrip(".")
    _check_name(name, policy)
    resolve = policy.resolver or _system_resolve
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await resolve(name, port)]
    if not addresses:
        raise OSError(f"{name!r} has no address")
    for ip in addresses:
        why = refusal(ip, policy)
        if why is not None:
            raise Forbidden(f"outbound connection to {name!r} refused: {why}")
    return str(addresses[0])


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, connecting only to addresses the guard checked."""

    def __init__(self, policy: Policy, inner: Any) -> None:
        self.policy = policy
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        address = await resolve_checked(host, port, self.policy)
        return await self.inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> Any:
        raise Forbidden("outbound connections go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _guard_pool(transport: Any, backend: _Backend) -> None:
    # httpx builds its httpcore pool itself and offers no hook for the network backend; the
    # pool reads this attribute for every new connection (httpcore 1.x, httpcore2 alike).
    transport._pool._network_backend = backend


def httpx_client(policy: Policy, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection (redirects included) is guarded, and
    whose requests carry the current call's upstream credential (``agents.upstream_auth``)."""
    transport = httpx.AsyncHTTPTransport()
    _guard_pool(transport, _Backend(policy, httpcore.AnyIOBackend()))
    kwargs.setdefault("auth", upstream_auth.HttpxBearer())
    return httpx.AsyncClient(transport=transport, **kwargs)


def httpx2_client(policy: Policy, **kwargs: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` (the MCP SDK's HTTP client) guarded the same way."""
    transport = httpx2.AsyncHTTPTransport()
    _guard_pool(transport, _Backend(policy, httpcore2.AnyIOBackend()))
    kwargs.setdefault("auth", upstream_auth.Httpx2Bearer())
    return httpx2.AsyncClient(transport=transport, **kwargs)


async def websocket_target(url: str, policy: Policy) -> dict[str, Any]:
    """Keyword arguments for ``websockets.connect(url, **kw)`` that connect to a checked
    address of the URL's host (the URL's own host name is kept for the handshake and TLS).

    Raises:
        InvalidParams, Forbidden, OSError: as :func:`check_url` and :func:`resolve_checked`.
    """
    host, port = check_url(url, policy, schemes=("ws", "wss"))
    address = await resolve_checked(host, port, policy)
    target: dict[str, Any] = {"host": address, "port": port}
    if url.startswith("wss:"):
        target["server_hostname"] = host
    return target
