"""Who a forwarded call's caller is, believed only with the origin gateway's signature; and
which of a gateway's own tokens see the agents other gateways offer.

The gateway under test maps ``"a/ide"`` to its token ``alice`` and holds gateway ``a``'s
public key; a raw peer (``evil``, holding the federation token, as any member of the mesh
does) sends forged, tampered, replayed and genuine claims by hand."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from adapters import a2a
from adapters.errors import ErrorCode
from agents.echo import EchoAgent
from gateway import settings
from gateway.app import create_app
from gateway.mesh.federation import claims
from gateway.registry import Registry
from gateway.settings import Config, FederationConfig
from tests.servers import running
from tests.test_federation_peers import TOKEN, code_of, hello, run_params

ROOT = Path(__file__).resolve().parents[1]
CALLERS = {
    "EFFMESH_TOKEN": "cl-default",
    "EFFMESH_CL_ALICE": "cl-alice",
    "EFFMESH_CL_BOB": "cl-bob",
}


def claim_for(signer: claims.Signer, *, issued: float | None = None, **fields: str) -> str:
    values = {
        "origin": "a",
        "principal": "ide",
        "message": "m1",
        "destination": "g",
        "agent": "vault",
    } | fields
    when = int(time.time() if issued is None else issued)
    return signer.sign(claims.Claim(**values, issued=when))


@pytest.fixture
def keys(tmp_path: Path) -> tuple[claims.Signer, claims.Signer]:
    """Gateway a's key, and a key of nobody the gateway knows."""
    return claims.Signer(tmp_path / "a.key"), claims.Signer(tmp_path / "stranger.key")


@pytest.fixture
def gateway(
    monkeypatch: pytest.MonkeyPatch, keys: tuple[claims.Signer, claims.Signer], tmp_path: Path
) -> Iterator[str]:
    monkeypatch.setenv("EFFMESH_FEDERATION_TOKEN", TOKEN)
    for env, value in CALLERS.items():
        monkeypatch.setenv(env, value)
    registry = Registry()
    registry.add(EchoAgent("vault"), allow=("alice",))
    registry.add(EchoAgent("probe"))
    config = Config(
        data_dir=str(tmp_path / "data"),
        tokens=(("alice", "EFFMESH_CL_ALICE"), ("bob", "EFFMESH_CL_BOB")),
        federation=FederationConfig(
            name="g",
            heartbeat_seconds=2,
            principals={"a/ide": "alice"},
            keys={"a": keys[0].public_text()},
            remote_allow=("alice",),
        ),
    )
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


def test_a_signed_claim_verifies_and_every_changed_field_or_key_does_not(
    keys: tuple[claims.Signer, claims.Signer],
) -> None:
    a, stranger = keys
    known = {"a": claims.public_key(a.public_text())}
    expected = claims.Claim("a", "ide", "m1", "g", "vault", 0)
    assert claims.verify(claim_for(a), expected, known) is None
    for field, value in [
        ("principal", "root"),
        ("message", "m2"),
        ("destination", "h"),
        ("agent", "probe"),
        ("resume", "task-9"),
    ]:
        why = claims.verify(claim_for(a, **{field: value}), expected, known)
        assert why == "gateway 'a''s signature is for another call", field
    # A follow-up's claim covers the task it answers: none can be added to a plain call's.
    follow_up = replace(expected, resume="task-9")
    assert claims.verify(claim_for(a, resume="task-9"), follow_up, known) is None
    why = claims.verify(claim_for(a), follow_up, known)
    assert why == "gateway 'a''s signature is for another call"
    assert "signature" in str(claims.verify(claim_for(stranger), expected, known))
    assert "too old" in str(claims.verify(claim_for(a, issued=time.time() - 3600), expected, known))
    assert "without" in str(claims.verify(None, expected, known))
    assert "no key" in str(claims.verify(claim_for(a), expected, {}))
    payload, signature = claim_for(a).split(".")
    assert "signature" in str(claims.verify(f"{payload}x.{signature}", expected, known))
    assert "signature" in str(claims.verify("not a claim", expected, known))


def test_the_key_is_made_once_owner_only_and_printed_for_other_gateways(tmp_path: Path) -> None:
    def printed() -> str:
        run = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "federation-key", "--data-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return run.stdout

    first = printed()
    assert first == printed()  # the same key, not a new one each time
    name, _, key = first.strip().partition(" = ")
    assert name.endswith('-8640"')
    claims.public_key(json.loads(key))  # a key the [federation.keys] table takes
    mode = (tmp_path / claims.KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_a_mapping_without_the_origins_key_or_a_bad_key_is_refused_at_load(
    tmp_path: Path,
) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text('[federation.principals]\n"a/ide" = "alice"\n')
    with pytest.raises(settings.SettingsError, match="has no key for gateway 'a'"):
        settings.load(path)
    path.write_text('[federation.keys]\na = "c2hvcnQ="\n')
    with pytest.raises(settings.SettingsError, match="32 bytes"):
        settings.load(path)


def rpc(rid: int, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": "mesh/run", "params": params}


def vault_call(message: str, claim: str | None, principal: str = "ide") -> dict[str, Any]:
    fields: dict[str, Any] = {
        "message": message,
        "visited": ["a", "evil"],
        "hops": 2,
        "principal": principal,
    }
    if claim is not None:
        fields["claim"] = claim
    return run_params("vault", "echo", **fields)


def test_a_member_of_the_mesh_cannot_speak_for_another_gateways_caller(
    gateway: str, keys: tuple[claims.Signer, claims.Signer]
) -> None:
    a, stranger = keys

    async def go() -> list[Any]:
        peer, _ = await hello(gateway)
        sent = [
            vault_call("m1", None),  # no signature at all
            vault_call("m2", claim_for(stranger, message="m2")),  # someone else's key
            vault_call("m3", claim_for(a, message="m3", principal="guest")),  # another caller
            vault_call("m4", claim_for(a, message="m4", destination="h")),  # for another gateway
            vault_call("m5", claim_for(a, message="m5", agent="probe")),  # for another agent
            vault_call("m6", claim_for(a, message="m6", issued=time.time() - 3600)),  # stale
            vault_call("m7", claim_for(a, message="m7")),  # genuine
            vault_call("m7", claim_for(a, message="m7")),  # the genuine one, replayed
            vault_call("m8", None, principal="bob"),  # a caller nobody maps: the federation
        ]
        replies = []
        for rid, params in enumerate(sent, start=2):
            await peer.send(rpc(rid, params))
            replies.append(await peer.reply(rid))
        await peer.connection.close()
        return replies

    replies = asyncio.run(go())
    codes = [code_of(r) if "error" in r else "ok" for r in replies]
    refused = [ErrorCode.FORBIDDEN] * 6
    assert codes == [*refused, "ok", ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND]
    assert "without that gateway's signature" in replies[0]["error"]["message"]
    counters = httpx.get(
        f"{gateway}/federation", headers={"Authorization": "Bearer cl-alice"}
    ).json()["counters"]
    assert counters["claims_refused"] == 6


def test_agents_of_other_gateways_are_seen_only_by_the_tokens_remote_allow_names(
    gateway: str,
) -> None:
    card = a2a.encode_agent(EchoAgent("far").descriptor)

    async def go() -> dict[str, Any]:
        peer, _ = await hello(gateway)
        announce = {"origin": "evil", "version": [1, 1], "path": ["evil"], "agents": [card]}
        await peer.send({"jsonrpc": "2.0", "method": "mesh/announce", "params": announce})
        seen: dict[str, Any] = {}
        for _ in range(200):
            if "far" in names(gateway, "cl-alice"):
                break
            await asyncio.sleep(0.02)
        for who in ("cl-alice", "cl-bob"):
            seen[who] = {
                "agents": "far" in names(gateway, who),
                "tools": "far.echo" in await mcp_tools(gateway, who),
                "acp": "far.echo" in acp_agents(gateway, who),
                "card": httpx.get(
                    f"{gateway}/a2a/far/.well-known/agent-card.json", headers=bearer(who)
                ).status_code,
                "call": acp_call(gateway, who),
                "status": httpx.get(f"{gateway}/federation", headers=bearer(who)).json()["origins"][
                    "evil"
                ]["agents"],
            }
        await peer.connection.close()
        return seen

    seen = asyncio.run(go())
    assert seen["cl-alice"] == {
        "agents": True,
        "tools": True,
        "acp": True,
        "card": 200,
        "call": 0,
        "status": ["far"],
    }
    assert seen["cl-bob"] == {
        "agents": False,
        "tools": False,
        "acp": False,
        "card": 404,
        "call": 404,
        "status": [],  # GET /federation does not name it either
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def names(gateway: str, token: str) -> set[str]:
    listed = httpx.get(f"{gateway}/agents", headers=bearer(token)).json()["agents"]
    return {a["name"] for a in listed}


async def mcp_tools(gateway: str, token: str) -> set[str]:
    async with (
        httpx2.AsyncClient(headers=bearer(token), timeout=30) as http,
        Client(streamable_http_client(f"{gateway}/mcp", http_client=http)) as client,
    ):
        return {t.name for t in (await client.list_tools()).tools}


def acp_agents(gateway: str, token: str) -> set[str]:
    listed = httpx.get(f"{gateway}/acp/agents", headers=bearer(token)).json()["agents"]
    return {a["name"] for a in listed}


def acp_call(gateway: str, token: str) -> int:
    """The status of a sync ACP run on the far agent; only the refused case is read, since
    the raw peer does not answer forwarded calls."""
    if token != "cl-bob":
        return 0
    run = {"agent_name": "far.echo", "mode": "sync", "input": [{"parts": [{"content": "x"}]}]}
    reply = httpx.post(f"{gateway}/acp/runs", json=run, headers=bearer(token), timeout=10)
    return reply.status_code
