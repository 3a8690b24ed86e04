"""The identity pieces on their own: claims to principals, challenges, card schemes, where a
user's upstream token may go, and the encrypted credential store."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from adapters.a2a.cards import provider_security
from adapters.errors import Internal
from agents import outbound
from agents.upstream_auth import bearer_for
from gateway.security.credentials import CredentialStore
from gateway.security.oauth import (
    InsufficientScope,
    InvalidToken,
    ResourceServer,
    principal_for,
    scopes_of,
)
from gateway.server import serve
from gateway.settings import SettingsError
from gateway.settings.file import load, validate
from gateway.settings.identity import OidcConfig

RULES = OidcConfig(
    issuer="https://idp.example",
    principals={"groups=admins": "ops", "scope=ide": "ide", "tier=gold": "gold"},
)


@pytest.mark.parametrize(
    ("claims", "scopes", "principal"),
    [
        ({"sub": "u1", "groups": ["staff", "admins"]}, (), "ops"),
        ({"sub": "u1", "groups": ["staff"]}, ("ide", "mcp"), "ide"),
        ({"sub": "u1", "tier": "gold"}, (), "gold"),
        ({"sub": "u1", "groups": "admins"}, (), "ops"),
        ({"sub": "ops"}, (), "oidc:ops"),  # a user called ops is not the ops token
        ({"sub": 42}, (), "oidc:42"),
    ],
)
def test_claims_map_to_principals_first_rule_first(
    claims: dict[str, object], scopes: tuple[str, ...], principal: str
) -> None:
    assert principal_for(claims, scopes, RULES) == principal


def test_a_token_naming_no_user_is_refused() -> None:
    with pytest.raises(InvalidToken):
        principal_for({"groups": ["staff"]}, (), RULES)


def test_scopes_come_from_scope_or_scp() -> None:
    assert scopes_of({"scope": "a b"}) == {"a", "b"}
    assert scopes_of({"scp": ["a", "b", 3]}) == {"a", "b"}
    assert scopes_of({}) == frozenset()


def test_challenges_name_the_metadata_and_say_why() -> None:
    server = ResourceServer(
        OidcConfig(issuer="https://idp.example", scopes=("mcp",)), "http://gw:1", outbound.OPEN
    )
    meta = 'resource_metadata="http://gw:1/.well-known/oauth-protected-resource"'
    assert server.challenge() == f'Bearer {meta}, scope="mcp"'
    refused = server.challenge(InvalidToken('a "quoted" reason'))
    assert refused == (
        f'Bearer {meta}, error="invalid_token", '
        'error_description="a \\"quoted\\" reason", scope="mcp"'
    )
    assert 'error="insufficient_scope"' in server.challenge(InsufficientScope())
    assert server.document()["resource"] == "http://gw:1"


def test_cards_declare_oidc_and_with_metadata_oauth2() -> None:
    bare = provider_security("https://idp.example/", None, ("mcp",))
    assert list(bare["securitySchemes"]) == ["oidc"]
    assert bare["securityRequirements"] == [{"schemes": {"oidc": {"list": ["mcp"]}}}]
    metadata = {"authorization_endpoint": "https://idp/a", "token_endpoint": "https://idp/t"}
    full = provider_security("https://idp.example", metadata)
    flow = full["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]
    assert flow["authorizationCode"]["tokenUrl"] == "https://idp/t"
    assert flow["authorizationCode"]["scopes"]  # A2A requires one


@pytest.mark.anyio
async def test_a_users_upstream_token_goes_only_under_the_upstreams_url() -> None:
    seen: list[tuple[str, str | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200)

    client = outbound.httpx_client(outbound.OPEN)
    async with httpx.AsyncClient(transport=httpx.MockTransport(record), auth=client.auth) as http:
        await http.get("http://up:1/mcp")  # outside any call
        with bearer_for("http://up:1/mcp", "user-token"):
            await http.get("http://up:1/mcp")
            await http.get("http://up:1/mcp/sub?x=1")
            await http.get("http://up:1/mcpx")  # a look-alike path
            await http.get("http://elsewhere:1/mcp")
        await http.get("http://up:1/mcp")
    await client.aclose()
    assert seen == [
        ("http://up:1/mcp", None),
        ("http://up:1/mcp", "Bearer user-token"),
        ("http://up:1/mcp/sub?x=1", "Bearer user-token"),
        ("http://up:1/mcpx", None),
        ("http://elsewhere:1/mcp", None),
        ("http://up:1/mcp", None),
    ]


def test_credentials_are_encrypted_and_revocation_blocks_them(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    path = tmp_path / "credentials.sqlite3"
    store = CredentialStore(key, path)
    store.put("alice", "files", access="ACCESS-SECRET", refresh="REFRESH-SECRET", expires_at=9.0)
    store.put("alice", "files", access="ACCESS-2", refresh=None, expires_at=10.0)
    held = store.get("alice", "files")
    assert held is not None
    assert (held.access, held.refresh) == ("ACCESS-2", "REFRESH-SECRET")
    assert store.get("bob", "files") is None
    raw = path.read_bytes()
    assert b"SECRET" not in raw
    assert b"ACCESS-2" not in raw
    assert path.stat().st_mode & 0o077 == 0
    assert store.revoke("bob", "files") is None
    assert store.revoke("alice", "files") is not None
    gone = store.get("alice", "files")
    assert gone is not None
    assert gone.revoked
    assert gone.access is None
    assert store.of("alice") == []
    store.put("alice", "notes", access="A", refresh="R", expires_at=None)
    store.close()
    with pytest.raises(Internal):
        CredentialStore(Fernet.generate_key().decode(), path).get("alice", "notes")
    with pytest.raises(ValueError, match="Fernet key"):
        CredentialStore("not-a-key")


@pytest.mark.parametrize(
    "table",
    [
        {"principals": {"groups": "ops"}},
        {"issuer": "ftp://idp"},
        {"upstreams": {"files": {"issuer": "https://idp"}}},
        {"upstreams": {"files": {"issuer": "https://idp", "client_id": "c", "grant": "other"}}},
    ],
)
def test_bad_oidc_settings_are_refused_by_key(table: dict[str, object]) -> None:
    with pytest.raises(SettingsError) as caught:
        validate(json.loads(json.dumps({"oidc": table})))
    assert str(caught.value).startswith("oidc")


UPSTREAM_FILE = """
[oidc]
issuer = "https://idp.example"
credential_key_env = "EFFMESH_T_NO_SUCH_KEY"

[oidc.upstreams.files]
issuer = "https://idp.example"
client_id = "effmesh"

[[agents]]
name = "files"
kind = "mcp"
url = "http://127.0.0.1:9/mcp"
"""


def test_upstreams_must_name_remote_agents(tmp_path: Path) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(UPSTREAM_FILE.replace('name = "files"', 'name = "other"'))
    with pytest.raises(SettingsError, match=r"oidc\.upstreams\.files: names no remote agent"):
        load(path)


def test_serve_refuses_upstreams_without_a_credential_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # serve() sets up logging on the stderr it finds, here the test's captured one: the
    # root logger gets its handlers and level back afterwards, or later tests' warnings are
    # written to a closed stream
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    path = tmp_path / "effmesh.toml"
    path.write_text(UPSTREAM_FILE)
    assert serve(host=None, port=0, config=str(path), data_dir=str(tmp_path / "data")) == 2
    assert "EFFMESH_T_NO_SUCH_KEY" in capsys.readouterr().err
