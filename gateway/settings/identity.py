"""The ``[oidc]`` table: callers signed in with an OpenID provider, and the credentials the
gateway holds for each of them at upstream agents (``[oidc.upstreams.<agent>]``).

With ``issuer`` set, the gateway is an OAuth 2.1 resource server (``gateway.security.oauth``):
it accepts the provider's access tokens beside the named bearer tokens, and maps each token's
claims to a principal, the name that ``allow`` lists, ``operators`` and task ownership use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from adapters.errors import quote

Grant = Literal["auto", "token-exchange", "authorization-code"]


def _http_url(url: str) -> str:
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, not {quote(url)}")
    return url


def _rule(rule: str) -> str:
    claim, sep, value = rule.partition("=")
    if not sep or not claim or not value:
        raise ValueError(f'must read "<claim>=<value>", not {quote(rule)}')
    return rule


Url = Annotated[str, AfterValidator(_http_url)]


@dataclass(frozen=True, slots=True)
class UpstreamAuth:
    """How the gateway obtains each user's own token for one upstream agent (an MCP server,
    an A2A or ACP agent that requires OAuth): the caller's token is never passed on."""

    issuer: Url
    """The upstream's authorization server (its metadata is read from the issuer's
    well-known paths)."""
    client_id: str
    """The gateway's client at that authorization server."""
    client_secret_env: str = ""
    """The environment variable holding the client's secret; empty: a public client."""
    resource: Url = ""
    """The upstream's resource indicator (RFC 8707), the audience of its tokens; empty: the
    agent's URL."""
    scopes: tuple[str, ...] = ()
    """Scopes asked for each user's token."""
    grant: Grant = "auto"
    """``token-exchange``: the caller's token is exchanged (RFC 8693) at ``issuer`` for one
    for the upstream; ``authorization-code``: the user consents once on the gateway's page
    (the link a call without a credential answers with); ``auto``: exchange where the
    authorization server offers it, otherwise consent."""
    service_scopes: tuple[str, ...] = ()
    """Scopes of the gateway's own token (client credentials) used only to list the
    upstream's skills; empty: the listing is made without a token."""


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """An OpenID provider whose access tokens the gateway accepts."""

    issuer: Url = ""
    """The provider's issuer URL; empty: only the named bearer tokens are accepted."""
    resource: Url = ""
    """This gateway's resource URI (RFC 8707): tokens must name it as their audience; empty:
    the gateway's base URL."""
    jwks_uri: Url = ""
    """Where the provider's signing keys are; empty: from its metadata."""
    introspection_endpoint: Url = ""
    """Check tokens by introspection (RFC 7662) here instead of as JWTs."""
    client_id: str = ""
    """The gateway's client at the provider: for introspection, and for signing users in on
    the authorization pages (register ``<base>/oauth/callback`` as its redirect URI)."""
    client_secret_env: str = ""
    """The environment variable holding that client's secret."""
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
    """JWT signing algorithms accepted; anything else (``none``, HMAC) is refused."""
    clock_skew_seconds: Annotated[float, Field(ge=0, le=600)] = 30.0
    """Leeway when checking a token's ``exp``, ``nbf`` and ``iat``."""
    jwks_refresh_seconds: Annotated[float, Field(ge=1)] = 300.0
    """How long fetched keys are trusted before they are fetched again; a token signed with an
    unknown key id fetches them at once (at most once a second), so key rotation works."""
    scopes: tuple[str, ...] = ()
    """Scopes every token must carry; one without them is answered 403 ``insufficient_scope``."""
    principal_claim: str = "sub"
    """The claim naming the user; unmapped users' principal is ``principal_prefix`` + it."""
    principal_prefix: str = "oidc:"
    """Keeps users' names apart from the named tokens' (a user ``ops`` is not ``ops``)."""
    principals: dict[str, str] = field(default_factory=dict)
    """Claim values and the principal they act as, first match in order:
    ``"groups=admins" = "ops"`` (a list claim matches any of its values; ``scope`` matches
    one of the token's scopes). Users that share a principal share its tasks and upstream
    credentials."""
    credential_key_env: str = "EFFMESH_CREDENTIAL_KEY"
    """The environment variable holding the key that encrypts upstream credentials at rest
    (a Fernet key: 32 url-safe base64 bytes); required with ``upstreams``."""
    upstreams: dict[str, UpstreamAuth] = field(default_factory=dict)
    """Agents (by name) that require each user's own token, and how to obtain it."""

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @property
    def client_secret(self) -> str | None:
        return os.environ.get(self.client_secret_env) if self.client_secret_env else None

    @property
    def credential_key(self) -> str | None:
        return os.environ.get(self.credential_key_env) or None


def check_rules(config: OidcConfig) -> OidcConfig:
    """Every ``principals`` key is a ``claim=value`` rule.

    Raises:
        ValueError: the first that is not.
    """
    for rule in config.principals:
        _rule(rule)
    return config


OidcTable = Annotated[OidcConfig, AfterValidator(check_rules)]
