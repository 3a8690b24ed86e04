"""Each user's own token at an upstream agent that requires OAuth (``[oidc.upstreams]``).

For a call by principal P to upstream agent A, :class:`Broker` gives the token of P at A:

1. the stored access token, while it is valid;
2. else a new one from the stored refresh token (the refresh token the server returns
   replaces it);
3. else, where A's authorization server offers token exchange (RFC 8693) and A's entry allows
   it, one exchanged for P's newest valid token to the gateway (only that authorization
   server ever sees it: it is the one that issued it) -- unless P revoked A;
4. else :class:`AuthorizationRequired`: the caller is told the URL of the gateway's page where
   P authorizes A (authorization code with PKCE, S256, and A's resource indicator); the page's
   callback stores the tokens, encrypted (``gateway.security.credentials``).

:class:`PerUserAgent` wraps the remote agent A and puts P's token on the requests of each call
(``agents.upstream_auth``), so the upstream sees P's token for A and never the caller's token
to the gateway. Revocation forgets the tokens at once, asks A's authorization server to revoke
the refresh token, and blocks token exchange for the pair until P authorizes again.

Authorization links are used once, bound to P and A, and valid for :data:`LINK_SECONDS`. When
the gateway has its own client at its provider (``[oidc] client_id``), the page first signs the
browser's user in there, and goes on only if that user is P: a link that reaches someone else
(forwarded, phished) cannot bind their upstream account to P.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlencode

import httpx

from adapters.errors import (
    EffmeshError,
    Forbidden,
    InvalidParams,
    Unauthorized,
    UpstreamUnavailable,
)
from adapters.model import AgentDescriptor, Invocation, StreamItem
from agents import outbound
from agents.base import NOBODY, PRINCIPAL_KEY, Agent, principal_in
from agents.upstream_auth import bearer_for
from gateway.security.credentials import CredentialStore
from gateway.security.oauth import ResourceServer
from gateway.security.provider import AuthorizationServer
from gateway.settings.identity import OidcConfig, UpstreamAuth

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"
LINK_SECONDS: Final = 600.0
HELD: Final = 10_000
"""The most authorization links, and pending authorizations, held at once (the oldest go)."""
EARLY: Final = 30.0
"""An access token this close to its expiry is refreshed first."""
AUTHORIZE_PATH: Final = "/oauth/authorize"
CALLBACK_PATH: Final = "/oauth/callback"


class AuthorizationRequired(Forbidden):
    """The caller's user has no credential for an upstream agent: it must authorize it at
    ``url``. MCP answers it as URL elicitation (-32042, ``data.elicitations``)."""

    def __init__(self, agent: str, url: str, link_id: str) -> None:
        message = f"agent {agent!r} needs your authorization: open {url}"
        elicitation = {"mode": "url", "elicitationId": link_id, "url": url, "message": message}
        super().__init__(message, data={"elicitations": [elicitation], "authorize": url})


@dataclass(frozen=True, slots=True)
class _Pending:
    principal: str
    agent: str
    verifier: str
    created: float
    signing_in: bool


@dataclass(frozen=True, slots=True)
class SignIn:
    """How the authorization page makes sure the browser's user is the link's: it signs in
    with the gateway's own client at the gateway's provider, and the token it gets must map
    to the principal the link was made for."""

    client: UpstreamAuth
    """The gateway's client at its own provider (``resource``: the gateway's)."""
    principal_of: Callable[[str], Awaitable[str]]
    """The principal of an access token to the gateway (raises when it is not valid)."""


SubjectTokens = Callable[[str], str | None]
"""A principal's newest valid token to the gateway (None: none held)."""


class Broker:
    def __init__(
        self,
        upstreams: Mapping[str, UpstreamAuth],
        store: CredentialStore,
        policy: outbound.Policy,
        base_url: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upstreams = dict(upstreams)
        self.store = store
        self.policy = policy
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.subject_tokens: SubjectTokens = lambda principal: None
        """Set by the app to the resource server's record of each principal's token."""
        self.resources: dict[str, str] = {}
        """Each upstream agent's URL: its resource indicator unless its entry names one."""
        self._servers: dict[str, AuthorizationServer] = {}
        self._links: dict[str, tuple[str, str, float]] = {}
        self._pending: dict[str, _Pending] = {}
        self.sign_in: SignIn | None = None
        """Set by the app when the gateway has its own client at its provider."""

    def _server(self, auth: UpstreamAuth) -> AuthorizationServer:
        if auth.issuer not in self._servers:
            self._servers[auth.issuer] = AuthorizationServer(auth.issuer, self.policy)
        return self._servers[auth.issuer]

    def resource(self, agent: str) -> str:
        auth = self.upstreams[agent]
        return auth.resource or self.resources.get(agent, "")

    async def token(self, agent: str, principal: str | None) -> str:
        """``principal``'s access token at ``agent``.

        Raises:
            Unauthorized: the caller is no one the gateway can hold a credential for.
            AuthorizationRequired: no credential, and none can be obtained without the user.
            UpstreamUnavailable: the upstream's authorization server cannot be reached.
        """
        if principal is None or principal == NOBODY:
            raise Unauthorized(f"agent {agent!r} acts for signed-in users only")
        auth = self.upstreams[agent]
        held = self.store.get(principal, agent)
        now = self.clock()
        if held is not None and held.access and (held.expires_at or now + EARLY + 1) > now + EARLY:
            return held.access
        if held is not None and held.refresh:
            fresh = await self._grant(
                auth, {"grant_type": "refresh_token", "refresh_token": held.refresh}
            )
            if fresh is not None:
                return self._keep(principal, agent, fresh)
        if held is None or not held.revoked:
            subject = self.subject_tokens(principal)
            if subject is not None and await self._exchanges(auth):
                exchanged = await self._grant(
                    auth,
                    {
                        "grant_type": TOKEN_EXCHANGE,
                        "subject_token": subject,
                        "subject_token_type": ACCESS_TOKEN_TYPE,
                        "requested_token_type": ACCESS_TOKEN_TYPE,
                        "resource": self.resource(agent),
                        **({"scope": " ".join(auth.scopes)} if auth.scopes else {}),
                    },
                )
                if exchanged is not None:
                    return self._keep(principal, agent, exchanged)
        raise self.required(agent, principal)

    def required(self, agent: str, principal: str) -> AuthorizationRequired:
        now = self.clock()
        self._links = {t: v for t, v in self._links.items() if v[2] > now - LINK_SECONDS}
        link_id = secrets.token_urlsafe(32)
        while len(self._links) >= HELD:
            self._links.pop(next(iter(self._links)))
        self._links[link_id] = (principal, agent, now)
        return AuthorizationRequired(agent, f"{self.base_url}{AUTHORIZE_PATH}/{link_id}", link_id)

    async def _exchanges(self, auth: UpstreamAuth) -> bool:
        if auth.grant == "authorization-code":
            return False
        if auth.grant == "token-exchange":
            return True
        supported = (await self._server(auth).metadata()).get("grant_types_supported") or ()
        return TOKEN_EXCHANGE in supported

    def _keep(self, principal: str, agent: str, answer: Mapping[str, Any]) -> str:
        access = str(answer["access_token"])
        expires_in = answer.get("expires_in")
        expires = self.clock() + float(expires_in) if isinstance(expires_in, int | float) else None
        refresh = answer.get("refresh_token")
        self.store.put(
            principal,
            agent,
            access=access,
            refresh=refresh if isinstance(refresh, str) else None,
            expires_at=expires,
            scope=str(answer.get("scope", "")),
        )
        return access

    async def _post(
        self, auth: UpstreamAuth, endpoint: str, form: dict[str, str]
    ) -> httpx.Response:
        secret = _secret(auth)
        if secret is None:
            form = {**form, "client_id": auth.client_id}
        basic = httpx.BasicAuth(auth.client_id, secret) if secret is not None else httpx.Auth()
        try:
            async with outbound.httpx_client(self.policy, timeout=15.0) as http:
                return await http.post(endpoint, data=form, auth=basic)
        except (httpx.HTTPError, EffmeshError) as exc:
            raise UpstreamUnavailable(
                f"the authorization server {auth.issuer!r} cannot be reached"
            ) from exc

    async def _grant(self, auth: UpstreamAuth, form: dict[str, str]) -> dict[str, Any] | None:
        """The token endpoint's answer, or None when it refused the grant."""
        endpoint = await self._server(auth).endpoint("token_endpoint")
        if endpoint is None:
            raise UpstreamUnavailable(
                f"the authorization server {auth.issuer!r} has no token endpoint"
            )
        response = await self._post(auth, endpoint, form)
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            return None
        return body

    async def service_token(self, agent: str) -> str | None:
        """The gateway's own token at ``agent`` (client credentials), to list its skills;
        None when its entry asks for none or the server refuses."""
        auth = self.upstreams[agent]
        if not auth.service_scopes:
            return None
        answer = await self._grant(
            auth,
            {
                "grant_type": "client_credentials",
                "scope": " ".join(auth.service_scopes),
                "resource": self.resource(agent),
            },
        )
        return str(answer["access_token"]) if answer is not None else None

    async def begin(self, link_id: str) -> str:
        """Where the browser holding ``link_id`` goes first (the link is used up): the
        gateway's own provider to sign in when :attr:`sign_in` is set, else the upstream's
        authorization server.

        Raises:
            InvalidParams: an unknown, used or expired link.
        """
        found = self._links.pop(link_id, None)
        if found is None or found[2] <= self.clock() - LINK_SECONDS:
            raise InvalidParams("this authorization link is unknown, used or expired")
        principal, agent, _ = found
        if self.sign_in is not None:
            return await self._redirect(self.sign_in.client, principal, agent, signing_in=True)
        return await self._redirect(self.upstreams[agent], principal, agent, signing_in=False)

    async def _redirect(
        self, auth: UpstreamAuth, principal: str, agent: str, *, signing_in: bool
    ) -> str:
        """An authorization request at ``auth``'s server (PKCE, S256), remembered by state."""
        endpoint = await self._server(auth).endpoint("authorization_endpoint")
        if endpoint is None:
            raise _unavailable(auth, "has no authorization endpoint")
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        state = secrets.token_urlsafe(32)
        since = self.clock() - LINK_SECONDS
        self._pending = {s: p for s, p in self._pending.items() if p.created > since}
        while len(self._pending) >= HELD:
            self._pending.pop(next(iter(self._pending)))
        self._pending[state] = _Pending(principal, agent, verifier, self.clock(), signing_in)
        query = {
            "response_type": "code",
            "client_id": auth.client_id,
            "redirect_uri": f"{self.base_url}{CALLBACK_PATH}",
            "state": state,
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "resource": auth.resource if signing_in else self.resource(agent),
            "scope": " ".join(auth.scopes),
        }
        return f"{endpoint}?{urlencode(query)}"

    async def complete(self, state: str, code: str) -> tuple[str, str] | str:
        """Redeem the authorization ``code`` that came back with ``state``: the (principal,
        agent) now holding a credential, or, after the sign-in step, the URL of the
        upstream's authorization server to go on to.

        Raises:
            InvalidParams: an unknown or used state, or a code the server refused.
            Forbidden: the user who signed in is not the one the link was made for.
        """
        pending = self._pending.pop(state, None)
        if pending is None or pending.created <= self.clock() - LINK_SECONDS:
            raise InvalidParams("this authorization answer is unknown, used or expired")
        auth = self.sign_in.client if pending.signing_in and self.sign_in else None
        auth = auth or self.upstreams[pending.agent]
        answer = await self._grant(
            auth,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{self.base_url}{CALLBACK_PATH}",
                "code_verifier": pending.verifier,
                "resource": auth.resource if pending.signing_in else self.resource(pending.agent),
            },
        )
        if answer is None:
            raise InvalidParams("the authorization server refused the authorization code")
        if pending.signing_in and self.sign_in is not None:
            who = await self.sign_in.principal_of(str(answer["access_token"]))
            if who != pending.principal:
                raise Forbidden("this authorization link was made for another user")
            upstream = self.upstreams[pending.agent]
            return await self._redirect(upstream, who, pending.agent, signing_in=False)
        self._keep(pending.principal, pending.agent, answer)
        return pending.principal, pending.agent

    def forget(self, state: str) -> None:
        """Drop a pending authorization the server answered with an error."""
        self._pending.pop(state, None)

    def listing(self, principal: str) -> list[dict[str, Any]]:
        """What ``principal`` holds, without a token in it."""
        return [
            {
                "agent": c.agent,
                "scope": c.scope,
                "expires_at": c.expires_at,
                "refreshable": c.refresh is not None,
            }
            for c in self.store.of(principal)
            if c.agent in self.upstreams
        ]

    async def revoke(self, principal: str, agent: str) -> bool:
        """Forget ``principal``'s credential at ``agent`` now (False: it held none), and ask
        the authorization server to revoke the refresh token (RFC 7009; best effort)."""
        if agent not in self.upstreams:
            return False
        held = self.store.revoke(principal, agent)
        if held is None:
            return False
        auth = self.upstreams[agent]
        token = held.refresh or held.access
        endpoint = None
        try:
            endpoint = await self._server(auth).endpoint("revocation_endpoint")
            if endpoint is not None and token is not None:
                await self._post(auth, endpoint, {"token": token})
        except UpstreamUnavailable:
            pass  # forgotten here all the same; the token expires at the server
        return True


def _unavailable(auth: UpstreamAuth, why: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"the authorization server {auth.issuer!r} {why}")


def _secret(auth: UpstreamAuth) -> str | None:
    return os.environ.get(auth.client_secret_env) if auth.client_secret_env else None


class PerUserAgent(Agent):
    """A remote agent called with each user's own token (see the module docstring)."""

    delegating = True  # the gateway tells it who calls; it never passes that on

    def __init__(self, inner: Agent, url: str, broker: Broker) -> None:
        self.inner = inner
        self.url = url
        self.broker = broker
        broker.resources[inner.descriptor.name] = url

    @property
    def name(self) -> str:
        return self.inner.descriptor.name

    @property
    def descriptor(self) -> AgentDescriptor:
        return self.inner.descriptor

    @property
    def healthy(self) -> bool:
        return self.inner.healthy

    async def connect(self) -> None:
        token = await self.broker.service_token(self.name)
        if token is None:
            await self.inner.connect()
            return
        with bearer_for(self.url, token):
            await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        principal = principal_in(invocation.metadata)
        metadata = {k: v for k, v in invocation.metadata.items() if k != PRINCIPAL_KEY}
        token = await self.broker.token(self.name, principal)
        with bearer_for(self.url, token):
            async for item in self.inner.run(
                replace(invocation, metadata=metadata), task_id=task_id
            ):
                yield item


def sign_in(config: OidcConfig, oauth: ResourceServer) -> SignIn | None:
    """The authorization page's sign-in step: with the gateway's own client at its provider
    (``[oidc] client_id``), else None (the one-time link alone stands for the user)."""
    if not config.client_id:
        return None
    client = UpstreamAuth(
        issuer=config.issuer,
        client_id=config.client_id,
        client_secret_env=config.client_secret_env,
        resource=oauth.resource,
        scopes=("openid", *config.scopes),
    )

    async def principal_of(token: str) -> str:
        return (await oauth.authenticate(token)).principal

    return SignIn(client, principal_of)
