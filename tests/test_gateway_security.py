"""Refusals at the gateway's edge: each one an error in the caller's protocol, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from mcp_types.jsonrpc import JSONRPCError

from adapters import jsonrpc
from adapters.errors import ErrorCode
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.security.guard import TokenBucket
from gateway.settings import Config, SettingsError, load
from tests.servers import running

CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def guarded(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch_module.setenv("EFFMESH_TEST_TOKEN", "s3cret")
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(token_env="EFFMESH_TEST_TOKEN", max_body_bytes=1000, rate_per_minute=0)
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic s3cret", "Bearer"])
def test_a_missing_or_wrong_token_is_an_mcp_error_with_401(guarded: str, auth: str | None) -> None:
    headers = dict(MCP_HEADERS)
    if auth:
        headers["authorization"] = auth
    r = httpx.post(f"{guarded}/mcp/", json=CALL, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    body = JSONRPCError.model_validate(r.json())
    assert body.error.data["effmesh_code"] == ErrorCode.UNAUTHORIZED


def test_the_right_token_passes(guarded: str) -> None:
    headers = {**MCP_HEADERS, "authorization": "Bearer s3cret"}
    r = httpx.get(f"{guarded}/agents", headers=headers)
    assert r.status_code == 200
    assert r.json()["agents"][0]["name"] == "echo"


def test_an_oversized_body_is_refused_before_it_is_read(guarded: str) -> None:
    headers = {**MCP_HEADERS, "authorization": "Bearer s3cret"}
    big = {**CALL, "params": {"pad": "x" * 5000}}
    r = httpx.post(f"{guarded}/mcp/", json=big, headers=headers)
    assert r.status_code == 413
    assert JSONRPCError.model_validate(r.json()).error.code == jsonrpc.INVALID_REQUEST


def test_a_client_over_its_rate_is_told_so() -> None:
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(rate_per_minute=3)
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        codes = [httpx.get(f"{url}/agents").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]


def test_the_bucket_refills_with_time() -> None:
    now = [0.0]
    bucket = TokenBucket(60, clock=lambda: now[0])
    assert all(bucket.take("a") for _ in range(60))
    assert not bucket.take("a")
    now[0] += 1.0
    assert bucket.take("a")
    assert bucket.take("b")


def test_config_rejects_unknown_and_mistyped_settings(tmp_path: object) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    typo = base / "typo.toml"
    typo.write_text("[gateway]\nprot = 1\n")
    with pytest.raises(SettingsError) as info:
        load(typo)
    assert info.value.key == "gateway.prot"
    wrong = base / "wrong.toml"
    wrong.write_text('[gateway]\nport = "eighty"\n')
    with pytest.raises(SettingsError) as info:
        load(wrong)
    assert info.value.key == "gateway.port"
    good = base / "good.toml"
    good.write_text('[gateway]\nport = 9000\n[[agents]]\nname = "e2"\nkind = "echo"\n')
    config = load(good)
    assert (config.port, config.agents[0].name) == (9000, "e2")
    named = base / "named.toml"
    named.write_text(
        '[tokens]\nide = "T_IDE"\n[[agents]]\nname = "e"\nkind = "echo"\nallow = ["ide"]\n'
    )
    config = load(named)
    assert (config.tokens, config.agents[0].allow) == ((("ide", "T_IDE"),), ("ide",))
    bad_tokens = base / "bad_tokens.toml"
    bad_tokens.write_text("[tokens]\nide = 3\n")
    with pytest.raises(SettingsError) as info:
        load(bad_tokens)
    assert info.value.key == "tokens.ide"


@pytest.fixture(scope="module")
def two_tokens(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch_module.setenv("EFFMESH_T_OPS", "ops-secret")
    monkeypatch_module.setenv("EFFMESH_T_IDE", "ide-secret")
    registry = Registry()
    registry.add(EchoAgent("open"))
    registry.add(EchoAgent("opsonly"), allow=("ops",))
    config = Config(
        token_env="EFFMESH_T_UNSET",
        tokens=(("ide", "EFFMESH_T_IDE"), ("ops", "EFFMESH_T_OPS")),
        rate_per_minute=0,
    )
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


def _as(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **MCP_HEADERS}


def test_an_allow_list_hides_and_refuses_an_agent_in_every_protocol(two_tokens: str) -> None:
    ops = httpx.get(f"{two_tokens}/agents", headers=_as("ops-secret")).json()["agents"]
    ide = httpx.get(f"{two_tokens}/agents", headers=_as("ide-secret")).json()["agents"]
    assert {a["name"] for a in ops} == {"open", "opsonly"}
    assert {a["name"] for a in ide} == {"open"}
    run = {
        "agent_name": "opsonly.echo",
        "mode": "sync",
        "input": [{"role": "user", "parts": [{"content": "x"}]}],
    }
    refused = httpx.post(f"{two_tokens}/acp/runs", json=run, headers=_as("ide-secret"))
    assert refused.status_code == 404
    allowed = httpx.post(f"{two_tokens}/acp/runs", json=run, headers=_as("ops-secret"))
    assert allowed.json()["status"] == "completed"
    send = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]},
            "metadata": {"effmesh.skill": "echo"},
        },
    }
    a2a_reply = httpx.post(
        f"{two_tokens}/a2a/opsonly", json=send, headers={**_as("ide-secret"), "A2A-Version": "1.0"}
    )
    # Hidden is the same as absent: the agent's endpoint is not found.
    assert a2a_reply.status_code == 404

    async def mcp_calls() -> tuple[set[str], int]:
        http = httpx2.AsyncClient(headers={"authorization": "Bearer ide-secret"})
        async with (
            http,
            Client(streamable_http_client(f"{two_tokens}/mcp/", http_client=http)) as c,
        ):
            names = {t.name for t in (await c.list_tools()).tools}
            try:
                await c.call_tool("opsonly.echo", {"text": "x"})
            except MCPError as exc:
                return names, exc.error.code
        return names, 0

    names, code = asyncio.run(mcp_calls())
    assert names == {"open.echo", "open.wait", "open.ask"}
    assert code == INVALID_PARAMS  # an unknown tool's code: the hidden agent is not named
