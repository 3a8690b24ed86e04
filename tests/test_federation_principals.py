"""A forwarded call keeps its origin caller across three gateway processes (A -> B <- C), and
the gateway that runs it maps that caller by its own ``[federation] principals``, believing it
on A's signature (C holds A's key): a mapping on the gateway in between changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.mesh.federation.claims import KEY_FILE, Signer
from tests.gateway_procs import GatewayProcess, start_all, until

TOKENS = {"EFFMESH_TOKEN": "fp-default", "EFFMESH_FP_IDE": "fp-ide", "EFFMESH_FP_ALICE": "fp-al"}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def agents(gateway: GatewayProcess, token: str) -> set[str]:
    listed = httpx.get(f"{gateway.base}/agents", headers=auth(token), timeout=5).json()
    return {a["name"] for a in listed["agents"]}


def acp_run(gateway: GatewayProcess, token: str, agent: str) -> httpx.Response:
    run = {
        "agent_name": agent,
        "mode": "sync",
        "input": [{"role": "user", "parts": [{"content": "for alice"}]}],
    }
    return httpx.post(f"{gateway.base}/acp/runs", json=run, headers=auth(token), timeout=30)


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, ...]]:
    folder: Path = tmp_path_factory.mktemp("principals")
    # A's key, made where A keeps it (as `effmesh federation-key` makes it), and the table
    # entry the gateways that map A's callers need.
    a_key = Signer(folder / "a" / KEY_FILE).public_text()
    keys = f'[federation.keys]\na = "{a_key}"\n'
    with pytest.MonkeyPatch.context() as patch:
        for env, value in TOKENS.items():
            patch.setenv(env, value)  # the processes inherit them
        b = GatewayProcess(
            folder,
            "b",
            # B would let A's ide act as its alice: B only passes the call on, so it does not count.
            f'[federation.principals]\n"a/ide" = "alice"\n{keys}'
            '[tokens]\nalice = "EFFMESH_FP_ALICE"\n'
            '[[agents]]\nname = "calculator"\nkind = "calculator"\n',
        )
        a = GatewayProcess(
            folder,
            "a",
            '[tokens]\nide = "EFFMESH_FP_IDE"\n'
            '[[agents]]\nname = "calculator"\nkind = "calculator"\n',
            (b.ws,),
        )
        c = GatewayProcess(
            folder,
            "c",
            f'[federation.principals]\n"a/default" = "alice"\n{keys}'
            '[tokens]\nalice = "EFFMESH_FP_ALICE"\n'
            '[[agents]]\nname = "vault"\nkind = "echo"\nallow = ["alice"]\n',
            (b.ws,),
        )
        try:
            start_all(a, b, c)
            until(lambda: "vault" in agents(a, "fp-default"), what="A to learn C's vault")
            yield a, b, c
        finally:
            for g in (a, b, c):
                g.stop()


def test_the_far_gateway_runs_a_forwarded_call_as_the_caller_its_mapping_names(
    line: tuple[GatewayProcess, ...],
) -> None:
    a, _, c = line
    # C's vault is alice's alone there; C maps A's default to alice.
    assert "vault" not in agents(c, "fp-default")
    ran = acp_run(a, "fp-default", "vault.echo")
    assert ran.status_code == 200
    assert ran.json()["status"] == "completed"


def test_an_unmapped_origin_caller_reaches_only_what_the_federation_may(
    line: tuple[GatewayProcess, ...],
) -> None:
    a, _, _ = line
    # B maps A's ide to alice, C does not: C runs the call as the federation, which may not.
    refused = acp_run(a, "fp-ide", "vault.echo")
    body = refused.json()
    assert body.get("status") != "completed"
    assert "for alice" not in refused.text
