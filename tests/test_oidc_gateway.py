"""The gateway as an OAuth resource server for a real OpenID provider (node-oidc-provider):
its metadata, its challenges, the tokens it takes and refuses, and provider users as tenants
of every protocol, beside a configured bearer token."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
import websockets
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessagePart
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.runner import Runtime
from gateway.runtime.store import MemoryTaskStore
from gateway.security.guard import BEARER_SUBPROTOCOL
from gateway.settings import Config
from gateway.settings.identity import OidcConfig
from tests.oidc_provider import Provider, claims_of, provider
from tests.servers import running

pytestmark = pytest.mark.anyio
STATIC = "static-secret"
METADATA = "/.well-known/oauth-protected-resource"


@dataclass
class Lab:
    url: str
    idp: Provider
    client: dict[str, Any]
    tokens: dict[str, str]

    def bearer(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with (
        provider({"carol": ["admins"], "alice": ["staff"]}) as idp,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("EFFMESH_T_OIDC", STATIC)
        registry = Registry()
        registry.add(EchoAgent())
        registry.add(EchoAgent("private"), allow=("oidc:alice",))
        config = Config(
            token_env="EFFMESH_T_OIDC",
            operators=("ops",),
            rate_per_minute=0,
            oidc=OidcConfig(
                issuer=idp.issuer, clock_skew_seconds=0, principals={"groups=admins": "ops"}
            ),
        )
        runtime = Runtime(MemoryTaskStore(), timeout=30)
        with running(
            lambda base: create_app(registry, config, base_url=base, runtime=runtime)
        ) as url:
            client = idp.register(client_name="tests")
            tokens = {
                who: idp.login(client, who, url)["access_token"]
                for who in ("alice", "bob", "carol")
            }
            tokens["static"] = STATIC
            yield Lab(url, idp, client, tokens)


def challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate: Bearer ...`` answer."""
    scheme, _, rest = response.headers["www-authenticate"].partition(" ")
    assert scheme == "Bearer"
    out = {}
    for part in rest.split(", "):
        key, _, value = part.partition("=")
        out[key] = json.loads(value)
    return out


MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
}


async def post_mcp(url: str, token: str | None) -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{url}/mcp", json=MCP_LIST, headers=headers)


async def get_agents(url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(f"{url}/agents", headers={"authorization": f"Bearer {token}"})


@pytest.mark.parametrize("path", [METADATA, f"{METADATA}/mcp"])
async def test_protected_resource_metadata_names_the_provider(lab: Lab, path: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        doc = (await http.get(f"{lab.url}{path}")).json()
    assert doc["resource"] == lab.url
    assert doc["authorization_servers"] == [lab.idp.issuer]
    assert doc["bearer_methods_supported"] == ["header"]


async def test_a_call_without_a_token_is_told_where_the_metadata_is(lab: Lab) -> None:
    answer = await post_mcp(lab.url, None)
    assert answer.status_code == 401
    params = challenge(answer)
    assert params == {"resource_metadata": f"{lab.url}{METADATA}"}
    assert answer.json()["error"]["code"] == -32010


@pytest.mark.parametrize("path", ["/mcp", "/a2a", "/acp/agents", "/agents"])
async def test_a_token_for_another_resource_is_refused_on_every_protocol(
    lab: Lab, path: str
) -> None:
    other = lab.idp.login(lab.client, "alice", "http://127.0.0.1:9/elsewhere")["access_token"]
    assert claims_of(other)["aud"] == "http://127.0.0.1:9/elsewhere"
    async with httpx.AsyncClient(timeout=30) as http:
        if path == "/mcp":
            answer = await post_mcp(lab.url, other)
        elif path == "/a2a":
            body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
            answer = await http.post(
                f"{lab.url}/a2a", json=body, headers={"authorization": f"Bearer {other}"}
            )
        else:
            answer = await http.get(
                f"{lab.url}{path}", headers={"authorization": f"Bearer {other}"}
            )
    assert answer.status_code == 401
    params = challenge(answer)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == f"{lab.url}{METADATA}"


async def test_an_expired_token_is_refused_as_invalid(lab: Lab) -> None:
    short = lab.idp.register(client_name="short-lived")
    token = lab.idp.login(short, "alice", lab.url)["access_token"]
    assert (await get_agents(lab.url, token)).status_code == 200
    # The provider made it live 2 seconds; the gateway allows no clock skew here.
    time.sleep(max(0.0, claims_of(token)["exp"] - time.time()) + 1.1)
    answer = await post_mcp(lab.url, token)
    assert answer.status_code == 401
    assert challenge(answer)["error"] == "invalid_token"
    assert "expired" in challenge(answer)["error_description"]


def forged(token: str, **header: Any) -> str:
    head, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    fields.update(header)
    new_head = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    return ".".join((new_head, payload, "" if header.get("alg") == "none" else signature))


async def test_forged_tokens_are_refused(lab: Lab) -> None:
    real = lab.tokens["alice"]
    head, _, signature = real.split(".")
    claims = claims_of(real)
    claims["sub"] = "carol"
    other_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (
        f"{head}.{other_payload}.{signature}",  # a changed payload
        forged(real, alg="none"),  # no signature at all
        forged(real, alg="HS256"),  # the public key as an HMAC secret
        forged(real, kid="unknown-key"),
        "not-a-token",
    ):
        answer = await post_mcp(lab.url, token)
        assert answer.status_code == 401, token
        assert challenge(answer)["error"] == "invalid_token"


async def test_a_rotated_signing_key_is_fetched_when_a_token_names_it(lab: Lab) -> None:
    assert (await get_agents(lab.url, lab.tokens["bob"])).status_code == 200
    kid = lab.idp.rotate()
    token = lab.idp.login(lab.client, "bob", lab.url)["access_token"]
    head = token.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"] == kid
    assert (await get_agents(lab.url, token)).status_code == 200
    # Tokens signed with the old key stay valid while the provider still lists it.
    assert (await get_agents(lab.url, lab.tokens["bob"])).status_code == 200


@asynccontextmanager
async def mcp(lab: Lab, who: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=lab.bearer(who), timeout=30) as http,
        Client(streamable_http_client(f"{lab.url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_provider_users_see_the_agents_their_principal_may_call(lab: Lab) -> None:
    seen = {}
    for who in ("alice", "bob", "static"):
        async with mcp(lab, who) as client:
            seen[who] = {t.name for t in (await client.list_tools()).tools}
    assert "private.echo" in seen["alice"]
    assert "private.echo" not in seen["bob"]
    assert "private.echo" not in seen["static"]
    assert "echo.echo" in seen["bob"]
    assert "echo.echo" in seen["static"]
    async with mcp(lab, "alice") as client:
        result = await client.call_tool("private.echo", {"text": "hi"})
    assert not result.is_error


@asynccontextmanager
async def a2a(lab: Lab, who: str) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(headers=lab.bearer(who), timeout=30) as http:
        config = ClientConfig(streaming=False, httpx_client=http)
        async with await create_client(f"{lab.url}/a2a/echo", client_config=config) as client:
            yield client


def send(skill: str) -> pb.SendMessageRequest:
    message = pb.Message(message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text="x")])
    req = pb.SendMessageRequest(message=message)
    req.metadata.update({"effmesh.skill": skill})
    return req


async def test_a2a_tasks_belong_to_the_provider_user_and_the_operator_group(lab: Lab) -> None:
    async with a2a(lab, "alice") as client:
        task_id = [r async for r in client.send_message(send("echo.ask"))][-1].task.id
    listed = {}
    for who in ("alice", "bob", "carol", "static"):
        async with a2a(lab, who) as client:
            listed[who] = {t.id for t in (await client.list_tasks(pb.ListTasksRequest())).tasks}
    assert task_id in listed["alice"]
    assert task_id not in listed["bob"]
    assert task_id not in listed["static"]
    assert task_id in listed["carol"]  # in the admins group: the ops principal, an operator


async def test_acp_runs_belong_to_the_provider_user(lab: Lab) -> None:
    json_type = {"Content-Type": "application/json"}
    async with ACPClient(
        base_url=f"{lab.url}/acp", headers={**json_type, **lab.bearer("alice")}
    ) as client:
        run = await client.run_async([Message(parts=[MessagePart(content="x")])], agent="echo.ask")
    async with httpx.AsyncClient(timeout=30) as http:
        mine = await http.get(f"{lab.url}/acp/runs/{run.run_id}", headers=lab.bearer("alice"))
        theirs = await http.get(f"{lab.url}/acp/runs/{run.run_id}", headers=lab.bearer("bob"))
    assert mine.status_code == 200
    assert theirs.status_code == 404


async def test_websockets_take_provider_tokens_as_a_header_or_a_subprotocol(lab: Lab) -> None:
    ws_url = lab.url.replace("http://", "ws://")
    raw = base64.urlsafe_b64encode(lab.tokens["alice"].encode()).rstrip(b"=").decode()
    body = {"jsonrpc": "2.0", "id": 1, "method": "agents/list", "params": {}}
    async with websockets.connect(
        f"{ws_url}/acp/ws", subprotocols=[f"{BEARER_SUBPROTOCOL}{raw}"]
    ) as ws:
        await ws.send(json.dumps(body))
        assert "result" in json.loads(await ws.recv())
    async with websockets.connect(f"{ws_url}/a2a/ws", additional_headers=lab.bearer("bob")) as ws:
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}})
        )
        assert "error" in json.loads(await ws.recv())
    bad = forged(lab.tokens["alice"], kid="unknown-key")
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            f"{ws_url}/mcp/ws", additional_headers={"authorization": f"Bearer {bad}"}
        ):
            pass


@pytest.mark.parametrize(
    "path", ["/.well-known/agent-card.json", "/a2a/echo/.well-known/agent-card.json"]
)
async def test_a2a_cards_declare_the_providers_schemes(lab: Lab, path: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        card = (await http.get(f"{lab.url}{path}")).json()
    schemes = card["securitySchemes"]
    discovery = f"{lab.idp.issuer}/.well-known/openid-configuration"
    assert schemes["oidc"]["openIdConnectSecurityScheme"]["openIdConnectUrl"] == discovery
    flow = schemes["oauth2"]["oauth2SecurityScheme"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == f"{lab.idp.issuer}/auth"
    assert flow["tokenUrl"] == f"{lab.idp.issuer}/token"
    assert flow["pkceRequired"] is True
    assert {next(iter(r["schemes"])) for r in card["securityRequirements"]} == {"oidc", "oauth2"}


async def test_opaque_tokens_are_checked_by_introspection(lab: Lab) -> None:
    introspector = lab.idp.register(
        client_name="introspection",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["client_credentials"],
        redirect_uris=[],
        response_types=[],
    )
    registry = Registry()
    registry.add(EchoAgent("private"), allow=("oidc:alice",))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_T_INTROSPECTION", introspector["client_secret"])

        def app(base: str) -> Any:
            oidc = OidcConfig(
                issuer=lab.idp.issuer,
                resource=f"{base}/opaque",
                introspection_endpoint=f"{lab.idp.issuer}/token/introspection",
                client_id=introspector["client_id"],
                client_secret_env="EFFMESH_T_INTROSPECTION",
            )
            return create_app(
                registry, Config(token_env="EFFMESH_T_UNSET", oidc=oidc), base_url=base
            )

        with running(app) as url:
            opaque = lab.idp.login(lab.client, "alice", f"{url}/opaque")["access_token"]
            assert opaque.count(".") == 0  # not a JWT: only the provider can read it
            elsewhere = lab.idp.login(lab.client, "alice", "http://127.0.0.1:9/opaque")
            seen = (await get_agents(url, opaque)).json()["agents"]
            refused = await get_agents(url, elsewhere["access_token"])
            unknown = await get_agents(url, "made-up-token")
    assert [a["name"] for a in seen] == ["private"]
    assert refused.status_code == 401
    assert challenge(refused)["error"] == "invalid_token"
    assert unknown.status_code == 401
