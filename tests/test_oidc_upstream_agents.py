"""Each user's own identity at A2A and ACP agents behind the gateway: the upstream is a second
effmesh gateway that accepts the same provider's tokens for its own resource only, and lets
alice (not bob) call its echo agent. The front gateway reaches it as a remote A2A agent and a
remote ACP agent, exchanging each caller's token (RFC 8693) for one with the upstream's
audience; so the upstream sees alice as alice, and bob as bob."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import httpx2
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from cryptography.fernet import Fernet
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agents import outbound
from agents.echo import EchoAgent
from agents.remote import RemoteA2AAgent, RemoteACPAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.security.credentials import CredentialStore
from gateway.security.upstream import TOKEN_EXCHANGE, Broker, PerUserAgent
from gateway.settings import Config
from gateway.settings.identity import OidcConfig, UpstreamAuth
from tests.oidc_provider import Provider, provider
from tests.servers import running

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    front: str
    upstream: str
    idp: Provider
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    front_url = f"http://127.0.0.1:{free_port()}"
    with (
        provider(exchange={"front gateway": front_url}) as idp,
        pytest.MonkeyPatch.context() as env,
    ):
        front_client = idp.register(
            client_name="front gateway",
            token_endpoint_auth_method="client_secret_basic",
            grant_types=["client_credentials", TOKEN_EXCHANGE],
            redirect_uris=[],
            response_types=[],
        )
        env.setenv("EFFMESH_T_FRONT_SECRET", front_client["client_secret"])
        # The upstream gateway: its echo agent for alice, and for the front gateway's own
        # token (client credentials, whose subject is the client) so it can list the skills.
        upstream_registry = Registry()
        upstream_registry.add(EchoAgent(), allow=("oidc:alice", "lister"))
        upstream_config = Config(
            token_env="EFFMESH_T_UNSET",
            rate_per_minute=0,
            oidc=OidcConfig(
                issuer=idp.issuer, principals={f"sub={front_client['client_id']}": "lister"}
            ),
        )
        with running(
            lambda base: create_app(upstream_registry, upstream_config, base_url=base)
        ) as upstream:
            auth = UpstreamAuth(
                issuer=idp.issuer,
                client_id=front_client["client_id"],
                client_secret_env="EFFMESH_T_FRONT_SECRET",
                resource=upstream,
                grant="token-exchange",
                service_scopes=("mcp",),
            )
            oidc = OidcConfig(issuer=idp.issuer, upstreams={"ra2a": auth, "racp": auth})
            store = CredentialStore(Fernet.generate_key().decode())
            broker = Broker(oidc.upstreams, store, outbound.OPEN, front_url)
            agents = [
                PerUserAgent(RemoteA2AAgent("ra2a", f"{upstream}/a2a/echo"), upstream, broker),
                PerUserAgent(RemoteACPAgent("racp", f"{upstream}/acp"), upstream, broker),
            ]
            registry = Registry()
            for agent in agents:
                asyncio.run(agent.connect())
                registry.add(agent)
            config = Config(token_env="EFFMESH_T_UNSET", rate_per_minute=0, oidc=oidc)
            port = int(front_url.rsplit(":", 1)[1])
            with running(
                lambda base: create_app(registry, config, base_url=base, broker=broker), port=port
            ) as front:
                users = idp.register(client_name="users")
                tokens = {
                    who: idp.login(users, who, front)["access_token"] for who in ("alice", "bob")
                }
                tokens["alice@upstream"] = idp.login(users, "alice", upstream)["access_token"]
                yield Lab(front, upstream, idp, tokens)
            store.close()


@asynccontextmanager
async def mcp(lab: Lab, who: str) -> AsyncIterator[Client]:
    headers = {"authorization": f"Bearer {lab.tokens[who]}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{lab.front}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_the_front_gateway_lists_the_upstreams_skills_with_its_own_token(lab: Lab) -> None:
    async with mcp(lab, "alice") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
    assert {"ra2a.echo", "racp.echo.echo"} <= tools


@pytest.mark.parametrize("tool", ["ra2a.echo", "racp.echo.echo"])
async def test_the_upstream_sees_each_user_as_themselves(lab: Lab, tool: str) -> None:
    async with mcp(lab, "alice") as client:
        result = await client.call_tool(tool, {"text": "from alice"})
    assert not result.is_error, result
    assert "from alice" in json.dumps(result.model_dump(mode="json"))
    # Bob reaches the front gateway, but the upstream knows him as bob: not allowed there.
    async with mcp(lab, "bob") as client:
        try:
            refused = await client.call_tool(tool, {"text": "from bob"})
            failed = refused.is_error
        except MCPError:
            failed = True
    assert failed


async def test_the_upstream_task_belongs_to_alice_there(lab: Lab) -> None:
    async with mcp(lab, "alice") as client:
        await client.call_tool("ra2a.echo", {"text": "mine"})
    headers = {"authorization": f"Bearer {lab.tokens['alice@upstream']}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as http,
        await create_client(
            f"{lab.upstream}/a2a/echo", client_config=ClientConfig(httpx_client=http)
        ) as client,
    ):
        listed = await client.list_tasks(pb.ListTasksRequest())
    texts = [p.text for t in listed.tasks for m in t.history for p in m.parts]
    assert "mine" in texts


async def test_the_users_token_to_the_front_gateway_is_useless_upstream(lab: Lab) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{lab.upstream}/a2a/echo",
            json={
                "jsonrpc": "2.0",
                "id": str(uuid.uuid4()),
                "method": "ListTasks",
                "params": {},
            },
            headers={"authorization": f"Bearer {lab.tokens['alice']}"},
        )
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
