"""Hidden means hidden: an agent a token may not call is absent for it in every card, listing,
error and metric, and for a caller with no token too; a forwarded call's caller is mapped by
the gateway that runs it, never taken on its word."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters import _json, mesh
from adapters.model import Invocation, Message, TextPart
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.mesh.federation.calls import Calls
from gateway.mesh.federation.claims import Claim, Signer
from gateway.mesh.federation.table import RouteTable
from gateway.registry import Registry
from gateway.settings import Config
from gateway.settings.federation import FEDERATION
from tests.servers import running

TOKENS = {"EFFMESH_H_DEFAULT": "d-token", "EFFMESH_H_IDE": "i-token", "EFFMESH_H_OPS": "o-token"}
METRICS = b'effmesh_agent_calls_total{gen_ai_agent_name="secret"} 1\n'


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        for env, value in TOKENS.items():
            patch.setenv(env, value)
        registry = Registry()
        registry.add(EchoAgent("open"))
        registry.add(EchoAgent("secret"), allow=("default",))
        config = Config(
            token_env="EFFMESH_H_DEFAULT",
            tokens=(("ide", "EFFMESH_H_IDE"), ("ops", "EFFMESH_H_OPS")),
            operators=("ops",),
            rate_per_minute=0,
        )
        with running(
            lambda base: create_app(registry, config, base_url=base, metrics=lambda: METRICS)
        ) as url:
            yield url


def auth(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


@pytest.mark.parametrize(("token", "sees"), [(None, False), ("i-token", False), ("d-token", True)])
def test_the_gateway_card_lists_only_what_the_caller_may_call(
    gateway: str, token: str | None, sees: bool
) -> None:
    card = httpx.get(f"{gateway}/.well-known/agent-card.json", headers=auth(token))
    assert card.status_code == 200
    skills = {s["id"] for s in card.json()["skills"]}
    assert "open.echo" in skills
    assert ("secret.echo" in skills) is sees
    assert ("secret" in card.text) is sees


@pytest.mark.parametrize(("token", "sees"), [(None, False), ("i-token", False), ("d-token", True)])
def test_a_hidden_agents_card_is_not_found_like_an_absent_one(
    gateway: str, token: str | None, sees: bool
) -> None:
    url = gateway
    card = httpx.get(f"{url}/a2a/secret/.well-known/agent-card.json", headers=auth(token))
    absent = httpx.get(f"{url}/a2a/nosuch/.well-known/agent-card.json", headers=auth(token))
    assert absent.status_code == 404
    if sees:
        assert card.status_code == 200
    else:
        assert card.status_code == 404
        assert card.text.replace("secret", "nosuch") == absent.text


def test_listings_and_errors_never_name_a_hidden_agent(gateway: str) -> None:
    url = gateway
    ide = auth("i-token")
    assert "secret" not in httpx.get(f"{url}/agents", headers=ide).text
    assert "secret" not in httpx.get(f"{url}/acp/agents", headers=ide).text
    manifest = httpx.get(f"{url}/acp/agents/secret.echo", headers=ide)
    absent = httpx.get(f"{url}/acp/agents/nosuch.echo", headers=ide)
    assert manifest.status_code == absent.status_code == 404
    assert manifest.text.replace("secret", "nosuch") == absent.text
    run = {"mode": "sync", "input": [{"role": "user", "parts": [{"content": "x"}]}]}
    hidden = httpx.post(f"{url}/acp/runs", json={**run, "agent_name": "secret.echo"}, headers=ide)
    missing = httpx.post(f"{url}/acp/runs", json={**run, "agent_name": "nosuch.echo"}, headers=ide)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("secret", "nosuch") == missing.text


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("i-token", 403), ("d-token", 403), ("o-token", 200)]
)
def test_metrics_are_for_operator_tokens_only(gateway: str, token: str | None, status: int) -> None:
    reply = httpx.get(f"{gateway}/metrics", headers=auth(token))
    assert reply.status_code == status
    assert ("secret" in reply.text) is (status == 200)


# --- federation: the caller's claim, mapped by the gateway that runs the call ---------------


def test_a_forwarded_calls_principal_round_trips_the_run_frame() -> None:
    invocation = Invocation("echo", Message("user", (TextPart("x"),)))
    for principal in ("default", None):
        run = mesh.Run(7, "secret", invocation, mesh.Forwarding("m1", 2, ("a", "b"), principal))
        decoded = mesh.parse(_json.dumps(mesh.encode(run)))
        assert isinstance(decoded, mesh.Run)
        assert decoded.forwarding == run.forwarding


def test_the_far_gateway_maps_the_origin_and_principal_by_its_own_configuration(
    tmp_path: Path,
) -> None:
    a = Signer(tmp_path / "a.key")
    calls = Calls(
        Registry(),
        "c",
        max_hops=4,
        table=RouteTable("c", max_hops=4, epoch=1),
        links={},
        counters=collections.Counter(),
        principals={"a/default": "alice"},
        keys={"a": a.public_text()},
    )

    def who(visited: tuple[str, ...], principal: str | None) -> str:
        # Each claim signed by gateway a, as a would sign its own caller's.
        claim = a.sign(Claim("a", principal or "", "m", "c", "vault", int(time.time())))
        return calls.local_principal(mesh.Forwarding("m", 1, visited, principal, claim), "vault")

    assert who(("a", "b"), "default") == "alice"
    # Another caller of the same gateway, the same name from another gateway, no name, no
    # origin: each runs as the federation principal.
    assert who(("a", "b"), "ide") == FEDERATION
    assert who(("b", "a"), "default") == FEDERATION
    assert who(("a",), None) == FEDERATION
    assert who((), "default") == FEDERATION
