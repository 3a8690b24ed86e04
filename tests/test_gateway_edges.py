"""Edges every endpoint must survive: a slow agent, a client that leaves mid-stream, a body of
the wrong type. Each gets an error in the caller's protocol, and nothing is left running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from adapters.errors import ErrorCode
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from tests.servers import running


@pytest.fixture(scope="module")
def impatient() -> Iterator[str]:
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(call_timeout_seconds=0.3, rate_per_minute=0)
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


def test_a_slow_agent_times_out_as_an_mcp_error(impatient: str) -> None:
    async def call() -> int:
        async with Client(f"{impatient}/mcp") as client:
            try:
                await client.call_tool("echo.wait", {"text": "x"})
            except MCPError as exc:
                return exc.error.code
        return 0

    assert asyncio.run(call()) == -32001


def test_a_slow_agent_fails_an_acp_run_with_a_reason(impatient: str) -> None:
    run = httpx.post(
        f"{impatient}/acp/runs",
        json={
            "agent_name": "echo.wait",
            "mode": "sync",
            "input": [{"role": "user", "parts": [{"content": "x"}]}],
        },
        timeout=10,
    ).json()
    assert run["status"] == "failed"
    assert run["error"]["message"] == "the agent timed out"


def test_a_client_leaving_a_stream_leaves_no_task_running(impatient: str) -> None:
    body = {
        "agent_name": "echo.wait",
        "mode": "stream",
        "input": [{"role": "user", "parts": [{"content": "x"}]}],
    }
    with httpx.stream("POST", f"{impatient}/acp/runs", json=body, timeout=10) as response:
        run_id = response.headers["Run-ID"]
        next(response.iter_lines())  # the run has started; now hang up
    for _ in range(100):
        status = httpx.get(f"{impatient}/acp/runs/{run_id}").json()["status"]
        if status != "in-progress" and status != "created":
            break
        asyncio.run(asyncio.sleep(0.05))
    # The timeout ends it whether or not anyone is listening: no task outlives its budget.
    assert status == "failed"


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        ("/acp/runs", "text/plain", 400),
        ("/a2a/echo", "text/plain", 200),
    ],
)
def test_a_body_of_the_wrong_type_is_refused_in_the_callers_protocol(
    impatient: str, path: str, content_type: str, expected: int
) -> None:
    r = httpx.post(
        f"{impatient}{path}", content=b"hello there", headers={"content-type": content_type}
    )
    assert r.status_code == expected
    body = r.json()
    if path.startswith("/acp"):
        assert body["code"] == "invalid_input"
    else:
        assert body["error"]["code"] == -32700


def test_mcp_refuses_a_non_json_body_with_a_json_rpc_error(impatient: str) -> None:
    r = httpx.post(
        f"{impatient}/mcp/",
        content=b"hello",
        headers={"content-type": "text/plain", "accept": "application/json, text/event-stream"},
    )
    assert r.status_code == 415
    assert r.json()["error"]["code"] == -32600
    assert ErrorCode.INTERNAL.value not in r.text
