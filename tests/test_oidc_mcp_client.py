"""The official MCP client's own OAuth flow (``mcp.client.auth``) against the gateway and a
real OpenID provider, end to end: the 401 challenge, Protected Resource Metadata, the
provider's metadata, dynamic client registration, authorization code with PKCE and a resource
indicator, the token, and the retried request; the user's principal then owns what it made."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from gateway.settings.identity import OidcConfig
from tests.oidc_provider import CALLBACK, Provider, claims_of, provider
from tests.servers import running

pytestmark = pytest.mark.anyio


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, Provider]]:
    with provider() as idp:
        registry = Registry()
        registry.add(EchoAgent())
        registry.add(EchoAgent("dave_only"), allow=("oidc:dave",))
        config = Config(
            token_env="EFFMESH_UNSET_FOR_THIS_TEST",
            rate_per_minute=0,
            oidc=OidcConfig(issuer=idp.issuer, scopes=("mcp",)),
        )
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url, idp


def signed_in_as(idp: Provider, user: str, storage: Memory, server: str) -> OAuthClientProvider:
    """The SDK's OAuth provider for the MCP server ``server``, whose browser is ``user``
    signing in at ``idp``."""
    codes: list[AuthorizationCodeResult] = []

    async def redirect(url: str) -> None:
        # The person at the browser: the provider's pages sign in the login_hint's user.
        code = idp.authorize(f"{url}&{urlencode({'login_hint': user})}", CALLBACK)
        state = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["state"]
        codes.append(AuthorizationCodeResult(code=code, state=state, iss=idp.issuer))

    async def callback() -> AuthorizationCodeResult:
        return codes.pop()

    metadata = OAuthClientMetadata(
        client_name="mcp client",
        redirect_uris=[AnyUrl(CALLBACK)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=server,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect,
        callback_handler=callback,
    )


async def test_the_mcp_clients_oauth_flow_signs_a_user_in_and_calls_a_tool(
    gateway: tuple[str, Provider],
) -> None:
    url, idp = gateway
    storage = Memory()
    auth = signed_in_as(idp, "dave", storage, f"{url}/mcp")
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        tools = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("dave_only.echo", {"text": "hi"})
    assert "dave_only.echo" in tools
    assert not result.is_error
    # The client registered itself, asked for this gateway as the resource, and got a JWT
    # the provider issued for dave with the gateway as its audience.
    assert storage.client is not None
    assert storage.tokens is not None
    claims = claims_of(storage.tokens.access_token)
    assert claims["sub"] == "dave"
    assert claims["aud"] in (url, f"{url}/")
    assert "mcp" in claims["scope"].split()


async def test_another_user_through_the_same_flow_does_not_see_daves_agent(
    gateway: tuple[str, Provider],
) -> None:
    url, idp = gateway
    auth = signed_in_as(idp, "erin", Memory(), f"{url}/mcp")
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        tools = {t.name for t in (await client.list_tools()).tools}
    assert "echo.echo" in tools
    assert "dave_only.echo" not in tools


async def test_a_token_without_the_required_scope_is_told_which_scope(
    gateway: tuple[str, Provider],
) -> None:
    url, idp = gateway
    client = idp.register(client_name="narrow")
    token = idp.login(client, "dave", url, scope="openid")["access_token"]
    assert "mcp" not in claims_of(token).get("scope", "").split()
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{url}/agents", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp"' in challenge
    assert f'resource_metadata="{url}/.well-known/oauth-protected-resource"' in challenge
