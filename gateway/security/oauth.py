"""The gateway as an OAuth 2.1 resource server (the MCP authorization spec, RFC 9728, RFC 6750).

A caller's access token is checked here, after the named bearer tokens (``guard``) did not
match it: as a JWT signed by the provider (its key from the provider's JWKS, the algorithm one
of the allowed, ``iss`` the provider, ``aud`` this gateway's resource URI, ``exp`` / ``nbf``
within the clock skew), or, when an introspection endpoint is configured, by asking the
provider (RFC 7662) with the same audience and expiry checks. A token for another resource is
refused, so a token meant for the gateway is never one an upstream would take, nor the other
way round.

A JWT whose signature was checked is remembered (by its SHA-256) for a minute at most, never
past its expiry, so a client's repeated requests cost a hash, not an RSA check each.

The token's claims map to a principal (``OidcConfig.principals``): the name allow lists,
``operators`` and task ownership use. The newest valid token of each principal is kept in
memory until it expires, for token exchange at upstreams (``gateway.security.upstream``).

Refusals say how to authenticate: ``WWW-Authenticate: Bearer resource_metadata="<the
protected resource metadata URL>"``, with ``error="invalid_token"`` when a token was given and
refused, and ``error="insufficient_scope"`` (403) with the ``scope`` needed when it lacks one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx
import jwt

from adapters.a2a.cards import provider_security
from adapters.errors import EffmeshError, Forbidden, Unauthorized, UpstreamUnavailable
from agents import outbound
from gateway.security.provider import AuthorizationServer
from gateway.settings.identity import OidcConfig

if TYPE_CHECKING:
    from a2a.types import a2a_pb2 as pb

METADATA_PATH: Final = "/.well-known/oauth-protected-resource"
"""RFC 9728's well-known path; the same document is also served under it + ``/mcp``, the
path-suffixed form a client of the MCP endpoint may ask for first."""
METADATA_PATHS: Final = (METADATA_PATH, f"{METADATA_PATH}/mcp")
REMEMBER_SECONDS: Final = 60.0
"""How long a checked JWT is taken as valid again without checking its signature (an RSA
check costs about a millisecond here: ``make bench``, identity); a key the provider withdraws
stops its tokens within this time."""
REMEMBERED: Final = 10_000
"""The most tokens remembered at once."""


class InvalidToken(Unauthorized):
    """A token was presented and refused (RFC 6750 ``invalid_token``)."""

    default_message = "the access token is not valid"


class InsufficientScope(Forbidden):
    """A valid token without a scope the gateway requires (RFC 6750 ``insufficient_scope``)."""

    default_message = "the access token lacks a required scope"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid provider token speaks for."""

    principal: str
    subject: str
    scopes: frozenset[str]
    expires_at: float
    token: str


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def principal_for(claims: Mapping[str, Any], scopes: Iterable[str], config: OidcConfig) -> str:
    """The principal of a token with ``claims``: the first ``principals`` rule it matches,
    else ``principal_prefix`` + the ``principal_claim`` value.

    Raises:
        InvalidToken: no rule matches and the token has no such claim.
    """
    granted = set(scopes)
    for rule, principal in config.principals.items():
        claim, _, wanted = rule.partition("=")
        value = claims.get(claim)
        if claim == "scope":
            if wanted in granted:
                return principal
        elif value == wanted or (isinstance(value, list) and wanted in value):
            return principal
    subject = claims.get(config.principal_claim)
    if not isinstance(subject, str | int) or subject == "":
        raise InvalidToken(f"the access token has no {config.principal_claim!r} claim")
    return f"{config.principal_prefix}{subject}"


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """``scope`` (space-separated, RFC 9068) or ``scp`` (a list, as Entra ID and Okta)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(s for s in raw if isinstance(s, str))
    return frozenset()


class ResourceServer:
    """Checks provider tokens for one gateway, and says how to get one."""

    def __init__(
        self,
        config: OidcConfig,
        base_url: str,
        policy: outbound.Policy,
        *,
        clock: Callable[[], float] = time.time,
        remember_seconds: float = REMEMBER_SECONDS,
    ) -> None:
        """``remember_seconds``: how long a JWT whose signature was checked is taken as valid
        again without checking it (never past its ``exp``); 0: check every time."""
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.resource = config.resource or self.base_url
        self.metadata_url = f"{self.base_url}{METADATA_PATH}"
        self.policy = policy
        self.clock = clock
        self.server = AuthorizationServer(
            config.issuer, policy, jwks_uri=config.jwks_uri, refresh=config.jwks_refresh_seconds
        )
        # The audiences a token may name: the resource URI, with or without its final slash.
        self._audiences = list({self.resource, self.resource.rstrip("/"), self.resource + "/"})
        self._latest: dict[str, Identity] = {}
        self.remember_seconds = remember_seconds
        self._verified: dict[bytes, tuple[Identity, float]] = {}

    def document(self) -> dict[str, Any]:
        """The Protected Resource Metadata (RFC 9728)."""
        doc: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": [self.config.issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": "effmesh",
        }
        if self.config.scopes:
            doc["scopes_supported"] = list(self.config.scopes)
        return doc

    def card_security(self) -> dict[str, Any]:
        """The security schemes and requirements every A2A card of the gateway declares."""
        return provider_security(
            self.config.issuer, self.server.cached_metadata, self.config.scopes
        )

    def challenge(self, err: EffmeshError | None = None) -> str:
        """The ``WWW-Authenticate`` value for a refusal (None: no token was given)."""
        parts = [f"resource_metadata={_quoted(self.metadata_url)}"]
        if isinstance(err, InvalidToken):
            parts.append('error="invalid_token"')
            parts.append(f"error_description={_quoted(err.public_message)}")
        elif isinstance(err, InsufficientScope):
            parts.append('error="insufficient_scope"')
        if self.config.scopes:
            parts.append(f"scope={_quoted(' '.join(self.config.scopes))}")
        return "Bearer " + ", ".join(parts)

    def latest(self, principal: str) -> Identity | None:
        """The newest token ``principal`` presented, while it is valid."""
        found = self._latest.get(principal)
        if found is not None and found.expires_at <= self.clock():
            self._latest.pop(principal, None)
            return None
        return found

    def subject_token(self, principal: str) -> str | None:
        """The newest valid token ``principal`` presented (for token exchange)."""
        found = self.latest(principal)
        return found.token if found is not None else None

    async def authenticate(self, token: str) -> Identity:
        """The identity ``token`` speaks for.

        Raises:
            InvalidToken: not a token of the provider for this gateway, or expired.
            InsufficientScope: valid, but without a required scope.
            UpstreamUnavailable: the provider's keys or introspection cannot be reached.
        """
        now = self.clock()
        digest = hashlib.sha256(token.encode()).digest()
        seen = self._verified.get(digest)
        if seen is not None and seen[1] > now:
            self._keep_latest(seen[0])
            return seen[0]
        if self.config.introspection_endpoint:
            # The provider is asked every time: a token it revokes stops at once.
            claims = await self._introspect(token)
        else:
            claims = await self._verify_jwt(token)
        scopes = scopes_of(claims)
        missing = [s for s in self.config.scopes if s not in scopes]
        if missing:
            raise InsufficientScope(f"the access token lacks the scope {missing[0]!r}")
        principal = principal_for(claims, scopes, self.config)
        exp = claims.get("exp")
        expires = float(exp) if isinstance(exp, int | float) else self.clock() + 60
        identity = Identity(principal, str(claims.get("sub", "")), scopes, expires, token)
        self._keep_latest(identity)
        if self.remember_seconds > 0 and not self.config.introspection_endpoint:
            if len(self._verified) >= REMEMBERED:
                self._verified = {d: v for d, v in self._verified.items() if v[1] > now}
                if len(self._verified) >= REMEMBERED:
                    self._verified.clear()
            self._verified[digest] = (identity, min(expires, now + self.remember_seconds))
        return identity

    def _keep_latest(self, identity: Identity) -> None:
        held = self._latest.get(identity.principal)
        if held is None or held.expires_at <= identity.expires_at:
            self._latest[identity.principal] = identity

    async def _verify_jwt(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the access token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise InvalidToken(f"the signing algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = await self.server.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise InvalidToken("the access token is signed with an unknown key")
        declared = key._jwk_data.get("alg")
        if declared is not None and declared != alg:
            raise InvalidToken("the access token's algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=self.config.issuer,
                leeway=self.config.clock_skew_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the access token is for another resource") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the access token is from another issuer") from None
        except jwt.PyJWTError:
            raise InvalidToken() from None
        return claims

    async def _introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662, authenticated as the gateway's client; the answer must be active, for
        this resource and unexpired."""
        auth: httpx.Auth = (
            httpx.BasicAuth(self.config.client_id, self.config.client_secret or "")
            if self.config.client_id
            else httpx.Auth()  # no client authentication
        )
        try:
            async with outbound.httpx_client(self.policy, timeout=10.0) as http:
                response = await http.post(
                    self.config.introspection_endpoint,
                    data={"token": token, "token_type_hint": "access_token"},
                    auth=auth,
                    headers={"accept": "application/json"},
                )
                response.raise_for_status()
                claims = json.loads(response.content)
        except (httpx.HTTPError, ValueError, EffmeshError) as exc:
            raise UpstreamUnavailable(
                f"the authorization server {self.config.issuer!r} cannot be reached"
            ) from exc
        if not isinstance(claims, dict) or claims.get("active") is not True:
            raise InvalidToken()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(a in self._audiences for a in audiences):
            raise InvalidToken("the access token is for another resource")
        if claims.get("iss", self.config.issuer) != self.config.issuer:
            raise InvalidToken("the access token is from another issuer")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp + self.config.clock_skew_seconds < self.clock():
            raise InvalidToken("the access token has expired")
        return claims


def secure_card(card: pb.AgentCard, security: Mapping[str, Any]) -> None:
    """Put the gateway's security schemes and requirements on ``card`` in place of any the
    agent behind it declared: callers authenticate to the gateway, never to the agent."""
    from google.protobuf import json_format  # noqa: PLC0415 - only where A2A cards are served

    card.ClearField("security_schemes")
    card.ClearField("security_requirements")
    json_format.ParseDict(dict(security), card)
