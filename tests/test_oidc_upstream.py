"""Each user's own credential at an upstream that requires OAuth, through the gateway.

The upstream is an MCP server built with the official SDK whose token verifier takes only
JWTs from the provider for its own resource URL; it records every token it is sent. Two
upstream entries point at it: ``files`` (the user consents on the gateway's page:
authorization code with PKCE) and ``notes`` (the provider offers token exchange). Users sign in
to the gateway with the provider (node-oidc-provider) and call through MCP, ACP and A2A."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import httpx2
import jwt
import mcp_types as mt
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from cryptography.fernet import Fernet
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError

from agents import outbound
from agents.remote import RemoteMCPAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.security.credentials import CredentialStore
from gateway.security.upstream import TOKEN_EXCHANGE, Broker, PerUserAgent
from gateway.settings import Config
from gateway.settings.identity import OidcConfig, UpstreamAuth
from tests.oidc_provider import Provider, claims_of, provider
from tests.servers import running

pytestmark = pytest.mark.anyio
URL_ELICITATION_REQUIRED = -32042


class ProviderTokens:
    """The upstream's own token verifier: a JWT of the provider, for this server's URL."""

    def __init__(self, issuer: str, resource: str) -> None:
        self.issuer = issuer
        self.resource = resource
        self.seen: list[str] = []

    async def verify_token(self, token: str) -> AccessToken | None:
        self.seen.append(token)
        async with httpx.AsyncClient(timeout=30) as http:
            keys = (await http.get(f"{self.issuer}/jwks")).json()
        kid = jwt.get_unverified_header(token).get("kid")
        found = [k for k in jwt.PyJWKSet.from_dict(keys).keys if k.key_id == kid]
        if not found:
            return None
        try:
            claims = jwt.decode(
                token, found[0].key, ["RS256"], audience=self.resource, issuer=self.issuer
            )
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            resource=self.resource,
            subject=str(claims.get("sub", "")),
            claims=claims,
        )


def upstream_server(issuer: str, base: str, verifier: ProviderTokens) -> MCPServer:
    server = MCPServer(
        "files",
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url=issuer, resource_server_url=f"{base}/mcp", validate_token_resource=True
        ),
    )

    @server.tool()
    def whoami() -> str:
        """Who the token this call came with speaks for."""
        token = get_access_token()
        assert token is not None
        return json.dumps({"sub": token.subject, "claims": token.claims})

    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    url: str
    idp: Provider
    verifier: ProviderTokens
    tokens: dict[str, str]
    data: Path
    gateway_client: str
    broker: Broker

    def bearer(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("credentials")
    with (
        provider(exchange={"effmesh gateway": gateway_url}) as idp,
        pytest.MonkeyPatch.context() as env,
    ):
        gateway_client = idp.register(
            client_name="effmesh gateway",
            token_endpoint_auth_method="client_secret_basic",
            grant_types=[
                "authorization_code",
                "refresh_token",
                "client_credentials",
                TOKEN_EXCHANGE,
            ],
            redirect_uris=[f"{gateway_url}/oauth/callback"],
        )
        env.setenv("EFFMESH_T_GATEWAY_SECRET", gateway_client["client_secret"])
        verifier_holder: list[ProviderTokens] = []

        def upstream_app(base: str) -> Any:
            verifier_holder.append(ProviderTokens(idp.issuer, f"{base}/mcp"))
            return upstream_server(idp.issuer, base, verifier_holder[0]).streamable_http_app()

        with running(upstream_app) as upstream:
            entry = {
                "issuer": idp.issuer,
                "client_id": gateway_client["client_id"],
                "client_secret_env": "EFFMESH_T_GATEWAY_SECRET",
                "scopes": ("mcp",),
                "service_scopes": ("mcp",),
            }
            oidc = OidcConfig(
                issuer=idp.issuer,
                # The gateway's own client, with which its authorization page signs users in.
                client_id=gateway_client["client_id"],
                client_secret_env="EFFMESH_T_GATEWAY_SECRET",
                upstreams={
                    "files": UpstreamAuth(**entry, grant="authorization-code"),
                    "notes": UpstreamAuth(**entry, grant="auto"),
                },
            )
            config = Config(token_env="EFFMESH_T_UNSET", rate_per_minute=0, oidc=oidc)
            store = CredentialStore(Fernet.generate_key().decode(), data / "credentials.sqlite3")
            broker = Broker(oidc.upstreams, store, outbound.OPEN, gateway_url)
            registry = Registry()
            for name in ("files", "notes"):
                agent = PerUserAgent(
                    RemoteMCPAgent(name, f"{upstream}/mcp"), f"{upstream}/mcp", broker
                )
                registry.add(agent)

            def gateway(base: str) -> Any:
                return create_app(registry, config, base_url=base, broker=broker)

            with running(gateway, port=port) as url:
                for name in ("files", "notes"):
                    asyncio.run(registry.find(name).connect())  # type: ignore[union-attr]
                users = idp.register(client_name="users")
                tokens = {
                    who: idp.login(users, who, url)["access_token"]
                    for who in ("alice", "bob", "carol")
                }
                client_id = gateway_client["client_id"]
                yield Lab(url, idp, verifier_holder[0], tokens, data, client_id, broker)
            store.close()


@asynccontextmanager
async def mcp(lab: Lab, who: str, **options: Any) -> AsyncIterator[Client]:
    """The official MCP client as ``who``; by default speaking 2025-11-25 (``legacy``), where
    a missing authorization is the -32042 error."""
    options.setdefault("mode", "legacy")
    async with (
        httpx2.AsyncClient(headers=lab.bearer(who), timeout=60) as http,
        Client(streamable_http_client(f"{lab.url}/mcp", http_client=http), **options) as client,
    ):
        yield client


async def whoami(lab: Lab, who: str, agent: str) -> dict[str, Any]:
    """The upstream's answer, or the error the gateway gave (its code and data)."""
    async with mcp(lab, who) as client:
        try:
            result = await client.call_tool(f"{agent}.whoami", {})
        except MCPError as exc:
            if exc.error.code == URL_ELICITATION_REQUIRED:
                # The SDK's own reading of the error: URL elicitations it can show the user.
                asked = UrlElicitationRequiredError.from_error(exc.error).elicitations
                assert [e.mode for e in asked] == ["url"]
            return {"error": exc.error.code, "data": exc.error.data, "message": exc.error.message}
    assert not result.is_error, result
    text = result.content[0].text  # type: ignore[union-attr]
    answer: dict[str, Any] = json.loads(text)
    return answer


def consent(lab: Lab, who: str, link: str) -> httpx.Response:
    """``who`` opens the link in a browser: signs in at the gateway's provider, then
    authorizes the upstream at its authorization server (the same provider here), each time
    as ``who``; the last gateway page the browser reaches."""
    callback = f"{lab.url}/oauth/callback"
    with httpx.Client(timeout=30) as browser:
        page = browser.get(link)
        while page.status_code == 302:
            at_provider = f"{page.headers['location']}&{urlencode({'login_hint': who})}"
            page = browser.get(lab.idp.follow(at_provider, callback))
        return page


async def connected(lab: Lab, who: str, agent: str = "files") -> dict[str, Any]:
    """The upstream's answer to ``who``, after consenting first if the gateway asks for it."""
    answer = await whoami(lab, who, agent)
    if "error" in answer:
        assert answer["error"] == URL_ELICITATION_REQUIRED, answer
        assert consent(lab, who, answer["data"]["elicitations"][0]["url"]).status_code == 200
        answer = await whoami(lab, who, agent)
    return answer


async def credentials(lab: Lab, who: str, method: str = "GET", agent: str = "") -> httpx.Response:
    path = f"{lab.url}/credentials" + (f"/{agent}" if agent else "")
    async with httpx.AsyncClient(headers=lab.bearer(who), timeout=30) as http:
        return await http.request(method, path)


async def test_a_user_without_a_credential_is_told_where_to_authorize(lab: Lab) -> None:
    answer = await whoami(lab, "alice", "files")
    assert answer["error"] == URL_ELICITATION_REQUIRED, answer
    elicitation = answer["data"]["elicitations"][0]
    assert elicitation["mode"] == "url"
    assert elicitation["url"].startswith(f"{lab.url}/oauth/authorize/")
    assert elicitation["url"] in answer["message"]


async def test_a_2026_client_is_asked_to_authorize_then_its_call_goes_through(lab: Lab) -> None:
    """MCP 2026-07-28 retired -32042: the call answers input_required with a URL
    elicitation; the SDK hands it to the client's callback (here: the user consents in a
    browser), retries with the answer, and the call runs with the new credential."""
    await credentials(lab, "alice", "DELETE", "files")
    shown: list[str] = []

    async def browser(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        assert isinstance(params, mt.ElicitRequestURLParams)
        shown.append(params.url)
        assert consent(lab, "alice", params.url).status_code == 200
        return mt.ElicitResult(action="accept")

    async with mcp(lab, "alice", mode="auto", elicitation_callback=browser) as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("files.whoami", {})
    assert len(shown) == 1
    assert shown[0].startswith(f"{lab.url}/oauth/authorize/")
    assert not result.is_error
    assert json.loads(result.content[0].text)["sub"] == "alice"  # type: ignore[union-attr]


async def test_a_2026_client_that_declines_gets_a_canceled_call(lab: Lab) -> None:
    await credentials(lab, "bob", "DELETE", "files")

    async def decline(context: object, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        return mt.ElicitResult(action="decline")

    async with mcp(lab, "bob", mode="auto", elicitation_callback=decline) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("files.whoami", {})
    assert info.value.error.data["effmesh_code"] == "canceled"


async def test_two_users_each_reach_the_upstream_with_their_own_token(lab: Lab) -> None:
    for who in ("alice", "bob"):
        await credentials(lab, who, "DELETE", "files")  # start without one
        link = (await whoami(lab, who, "files"))["data"]["elicitations"][0]["url"]
        page = consent(lab, who, link)
        assert page.status_code == 200
        assert "Connected" in page.text
    seen = {who: await whoami(lab, who, "files") for who in ("alice", "bob")}
    for who in ("alice", "bob"):
        assert seen[who]["sub"] == who
        assert seen[who]["claims"]["aud"].endswith("/mcp")
    # The gateway's tokens (audience: the gateway) never reached the upstream.
    for token in lab.verifier.seen:
        assert token not in lab.tokens.values()
        assert claims_of(token)["aud"] != lab.url


async def test_a_link_works_once_and_only_through_the_provider(lab: Lab) -> None:
    link = (await whoami(lab, "carol", "files"))["data"]["elicitations"][0]["url"]
    assert consent(lab, "carol", link).status_code == 200
    with httpx.Client(timeout=30) as browser:
        again = browser.get(link)
        forged = browser.get(f"{lab.url}/oauth/callback?state=made-up&code=x")
    assert again.status_code == 400
    assert forged.status_code == 400


async def test_a_link_made_for_one_user_does_nothing_for_another(lab: Lab) -> None:
    answer = await whoami(lab, "carol", "files")
    if "error" not in answer:
        assert (await credentials(lab, "carol", "DELETE", "files")).status_code == 200
        answer = await whoami(lab, "carol", "files")
    link = answer["data"]["elicitations"][0]["url"]
    page = consent(lab, "bob", link)  # carol's link, opened by bob
    assert page.status_code == 403
    assert (await whoami(lab, "carol", "files"))["error"] == URL_ELICITATION_REQUIRED
    assert "files" not in [
        c["agent"] for c in (await credentials(lab, "carol")).json()["credentials"]
    ]


async def test_credentials_are_each_users_own(lab: Lab) -> None:
    for who in ("alice", "bob"):
        assert (await connected(lab, who))["sub"] == who
    listed = {who: (await credentials(lab, who)).json()["credentials"] for who in ("alice", "bob")}
    assert [c["agent"] for c in listed["alice"]] == ["files"]
    assert "token" not in json.dumps(listed["alice"]).replace("refreshable", "")
    # Bob revokes his own, never alice's: hers still works.
    assert (await credentials(lab, "bob", "DELETE", "files")).status_code == 200
    assert (await credentials(lab, "bob", "DELETE", "files")).status_code == 404
    assert (await whoami(lab, "alice", "files"))["sub"] == "alice"
    assert (await whoami(lab, "bob", "files"))["error"] == URL_ELICITATION_REQUIRED
    async with httpx.AsyncClient(timeout=30) as http:
        anonymous = await http.get(f"{lab.url}/credentials")
    assert anonymous.status_code == 401


async def test_revocation_stops_the_next_call_at_once(lab: Lab) -> None:
    assert (await connected(lab, "carol"))["sub"] == "carol"
    assert (await credentials(lab, "carol", "DELETE", "files")).status_code == 200
    assert (await whoami(lab, "carol", "files"))["error"] == URL_ELICITATION_REQUIRED


async def test_an_expiring_upstream_token_is_refreshed(lab: Lab) -> None:
    first = await connected(lab, "alice")
    # The broker's clock an hour on: the stored access token is past its expiry.
    lab.broker.clock = lambda: time.time() + 3600
    try:
        second = await whoami(lab, "alice", "files")
    finally:
        lab.broker.clock = time.time
    assert second["sub"] == "alice"
    assert second["claims"]["jti"] != first["claims"]["jti"]
    assert (await credentials(lab, "alice")).json()["credentials"][0]["refreshable"] is True


async def test_tokens_are_encrypted_at_rest(lab: Lab) -> None:
    assert (await connected(lab, "alice"))["sub"] == "alice"
    raw = (lab.data / "credentials.sqlite3").read_bytes()
    for token in lab.verifier.seen:
        assert token.encode() not in raw
        assert claims_of(token)["jti"].encode() not in raw


async def test_token_exchange_needs_no_consent_and_stops_when_revoked(lab: Lab) -> None:
    answer = await whoami(lab, "alice", "notes")
    assert answer["sub"] == "alice"
    # Exchanged by the gateway's client, for alice: no page was shown, no code was issued.
    assert answer["claims"]["act"]["sub"] == lab.gateway_client
    assert (await credentials(lab, "alice", "DELETE", "notes")).status_code == 200
    assert (await whoami(lab, "alice", "notes"))["error"] == URL_ELICITATION_REQUIRED


async def test_acp_and_a2a_callers_use_their_own_credentials(lab: Lab) -> None:
    assert (await connected(lab, "alice"))["sub"] == "alice"
    body = {
        "agent_name": "files.whoami",
        "mode": "sync",
        "input": [{"role": "user", "parts": [{"content": "{}"}]}],
    }
    async with httpx.AsyncClient(headers=lab.bearer("alice"), timeout=60) as http:
        run = (await http.post(f"{lab.url}/acp/runs", json=body)).json()
    assert run["status"] == "completed", run
    assert '"sub": "alice"' in json.dumps(run["output"]).replace('\\"', '"')
    # ACP and A2A, for a user who holds no credential: the failure names the page to
    # authorize on.
    await credentials(lab, "bob", "DELETE", "files")
    async with httpx.AsyncClient(headers=lab.bearer("bob"), timeout=60) as http:
        refused = (await http.post(f"{lab.url}/acp/runs", json=body)).json()
    assert refused["status"] == "failed", refused
    assert f"{lab.url}/oauth/authorize/" in refused["error"]["message"]
    async with (
        httpx.AsyncClient(headers=lab.bearer("bob"), timeout=60) as http,
        await create_client(
            f"{lab.url}/a2a/files", client_config=ClientConfig(streaming=False, httpx_client=http)
        ) as client,
    ):
        await credentials(lab, "bob", "DELETE", "files")
        message = pb.Message(
            message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text="{}")]
        )
        request = pb.SendMessageRequest(message=message)
        request.metadata.update({"effmesh.skill": "whoami"})
        try:
            replies = [r async for r in client.send_message(request)]
            task = replies[-1].task
            assert task.status.state == pb.TASK_STATE_FAILED, task
            text = str(task.status.message)
        except Exception as exc:  # the SDK raises the JSON-RPC error as its own exception
            text = str(exc)
    assert f"{lab.url}/oauth/authorize/" in text
