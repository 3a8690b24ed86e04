"""Where remote agents may live: not on link-local or cloud-metadata addresses unless the
operator allows it (a registered agent URL must not become a way into the host's network)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from adapters.errors import Forbidden, InvalidParams

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return True
    # AWS / GCP / Azure metadata, and the IPv6 form AWS uses.
    return str(ip) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")


def check_agent_url(url: str, *, allow_private: bool) -> str:
    """Return ``url`` if a remote agent may be registered there.

    Raises:
        InvalidParams: not an http(s) URL with a host.
        Forbidden: the host is, or resolves to, a link-local or metadata address.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParams(f"agent URL {url!r:.80} must be http(s)://host/...")
    if allow_private:
        return url
    host = parts.hostname.lower()
    if host in METADATA_HOSTS:
        raise Forbidden(f"agent host {host!r} is a cloud metadata service")
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
    except OSError:
        return url  # unresolvable now: the health check will say so
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if _forbidden(ip):
            raise Forbidden(f"agent host {host!r} resolves to the forbidden address {ip}")
    return url
