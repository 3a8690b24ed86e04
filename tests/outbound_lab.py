"""A fake cloud metadata server on 169.254.169.254, and every way a caller or an upstream might
make the gateway reach it.

Run inside a fresh user and network namespace, which the test starts with ``unshare -rn``
(no privileges needed on the host); the lab puts 169.254.169.254 on its own loopback
interface, so the address answers as it would on a cloud machine:

    unshare -rn python -m tests.outbound_lab

Every remote agent kind is pointed at the metadata server by each spelling of its address, by a
card whose interface URL names it, by a redirect, and by a name that resolves to a harmless
address first and to the metadata address afterwards. The findings are printed as one JSON
line: what each attempt raised, and how many requests the metadata server received (none,
when the guard holds), then the same attempt with the guard told to allow link-local
addresses, which must reach it (so the lab itself is shown to work).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from adapters.errors import EffmeshError, Forbidden
from adapters.model import Invocation, Message, TextPart
from agents import outbound
from agents.remote import RemoteA2AAgent, RemoteACPAgent, RemoteMCPAgent
from tests.servers import echo_gateway, running

METADATA = "169.254.169.254"
FORMS = {
    "dotted": "169.254.169.254",
    "mapped": "[::ffff:169.254.169.254]",
    "mapped-hex": "[::ffff:a9fe:a9fe]",
    "nat64": "[64:ff9b::a9fe:a9fe]",
    "decimal": "2852039166",
    "hex": "0xa9fea9fe",
    "name": "metadata.google.internal",
}


class Recorder:
    """The fake metadata server: counts every connection and answers a little JSON."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        self.requests.append(line.decode(errors="replace").strip())
        body = b'{"secret": "instance-credentials"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


def _invocation(agent: Remote) -> Invocation:
    skills = agent.descriptor.skills
    skill = skills[0].name if skills else "echo"
    return Invocation(skill, Message("user", (TextPart("give me the credentials"),)))


def _stopped_by(exc: BaseException) -> str:
    """The guard's refusal when it is anywhere in the chain (an agent reports it as
    unreachable to its caller), else the error's own code."""
    pending: list[BaseException] = [exc]
    while pending:
        seen = pending.pop()
        if isinstance(seen, Forbidden):
            return "refused"
        if isinstance(seen, BaseExceptionGroup):
            pending.extend(seen.exceptions)
        pending.extend(e for e in (seen.__cause__, seen.__context__) if e is not None)
    return exc.code.value if isinstance(exc, EffmeshError) else type(exc).__name__


Remote = RemoteA2AAgent | RemoteMCPAgent | RemoteACPAgent


async def _attempt(agent: Remote) -> str:
    """Connect and call; the name of what stopped it (``reached`` if nothing did)."""
    try:
        await agent.connect()
        async for _ in agent.run(_invocation(agent), task_id="t-1"):
            pass
    except (EffmeshError, OSError) as exc:
        return _stopped_by(exc)
    finally:
        await agent.close()  # its session and connections end here, not at the loop's close
    return "reached"


def _remotes(url: str, policy: outbound.Policy) -> dict[str, Remote]:
    return {
        "a2a": RemoteA2AAgent("a", url, timeout=5, policy=policy),
        "mcp": RemoteMCPAgent("m", f"{url}/mcp", timeout=5, policy=policy),
        "acp": RemoteACPAgent("c", url, timeout=5, policy=policy),
    }


def _card_app(interface: str) -> Callable[[str], Starlette]:
    """An A2A agent whose card sends its callers to ``interface``."""

    async def card(request: Request) -> Response:
        return JSONResponse(
            {
                "name": "lure",
                "description": "an agent whose interface is elsewhere",
                "version": "1.0",
                "supportedInterfaces": [
                    {"url": interface, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
                ],
                "capabilities": {"streaming": False},
                "defaultInputModes": ["text/plain"],
                "defaultOutputModes": ["text/plain"],
                "skills": [{"id": "echo", "name": "echo", "description": "echo", "tags": ["echo"]}],
            }
        )

    return lambda base: Starlette(routes=[Route("/.well-known/agent-card.json", card)])


def _redirect_app(target: str) -> Callable[[str], Starlette]:
    async def away(request: Request) -> Response:
        return RedirectResponse(target, 307)

    return lambda base: Starlette(
        routes=[Route("/{path:path}", away, methods=["GET", "POST", "DELETE"])]
    )


async def scenario(recorder: Recorder, upstream_port: int) -> dict[str, Any]:
    found: dict[str, Any] = {"forms": {}, "card": None, "redirect": {}, "rebinding": None}
    guarded = outbound.Policy()
    for form, host in FORMS.items():
        for kind, agent in _remotes(f"http://{host}", guarded).items():
            found["forms"][f"{kind}:{form}"] = await _attempt(agent)
    found["metadata_requests_guarded"] = len(recorder.requests)

    with running(_card_app(f"http://[::ffff:{METADATA}]/")) as lure:
        agent = RemoteA2AAgent("lure", lure, timeout=5, policy=guarded)
        found["card"] = await _attempt(agent)
    with running(_redirect_app(f"http://{METADATA}/latest/meta-data")) as bounce:
        for kind, agent in _remotes(bounce, guarded).items():
            found["redirect"][kind] = await _attempt(agent)
        async with outbound.httpx_client(guarded, follow_redirects=True) as http:
            try:
                await http.get(f"{bounce}/x")
                found["redirect"]["client"] = "reached"
            except EffmeshError as exc:
                found["redirect"]["client"] = _stopped_by(exc)

    # A name that is harmless while the agent is checked, and the metadata address later
    # (the metadata server listens on the upstream's port too, so a rebound call would land).
    rebound = False

    async def rebinding(host: str, port: int) -> list[str]:
        return [METADATA if rebound else "127.0.0.1"]

    rebind = outbound.Policy(resolver=rebinding)
    agent = RemoteACPAgent("r", f"http://rebind.test:{upstream_port}/acp", timeout=5, policy=rebind)
    first = await _attempt(agent)
    await agent.close()
    rebound = True
    second = await _attempt(agent)
    found["rebinding"] = [first, second]
    found["metadata_requests_guarded"] = len(recorder.requests)

    # The control: allowed to, the same agents do reach the metadata server.
    before = len(recorder.requests)
    opened = outbound.Policy(allow_link_local=True)
    control = RemoteACPAgent("c", f"http://[::ffff:{METADATA}]", timeout=5, policy=opened)
    found["control"] = await _attempt(control)
    found["metadata_requests_control"] = len(recorder.requests) - before
    return found


async def main() -> None:
    recorder = Recorder()
    with echo_gateway() as upstream:
        port = int(upstream.rsplit(":", 1)[1])
        servers = [await asyncio.start_server(recorder.handle, METADATA, p) for p in (80, port)]
        try:
            found = await scenario(recorder, port)
        finally:
            for server in servers:
                server.close()
    print(json.dumps(found))


if __name__ == "__main__":
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{METADATA}/32", "dev", "lo"], check=True)
    asyncio.run(main())
