"""Where remote agents may be registered: the outbound guard's rules (``agents.outbound``)
applied to a configured URL at start-up, so a bad address is reported before the first call.

The guard itself runs again at every connect; this early check only makes the error clear.
"""

from __future__ import annotations

import ipaddress
import socket

from adapters.errors import Forbidden
from agents import outbound
from gateway.settings import Config


def outbound_policy(cfg: Config) -> outbound.Policy:
    """Where the gateway's outbound connections may go, from its configuration."""
    return outbound.Policy(
        allow_loopback=cfg.outbound_loopback,
        allow_private=cfg.outbound_private,
        allow_link_local=cfg.allow_private_agents,
    )


def check_agent_url(url: str, policy: outbound.Policy) -> str:
    """Return ``url`` if a remote agent may be registered there under ``policy``.

    Raises:
        InvalidParams: not an http(s) URL with a host.
        Forbidden: the host is a metadata name, or resolves to an address the policy refuses.
    """
    host, port = outbound.check_url(url, policy)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return url  # unresolvable now: the health check will say so
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        why = outbound.refusal(ip, policy)
        if why is not None:
            raise Forbidden(f"agent host {host!r} refused: {why}")
    return url
