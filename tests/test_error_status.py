"""One HTTP status per error code (``adapters.errors.HTTP_STATUS``), and every protocol's HTTP
error answers use it: the adapters' encoders, the gateway's refusals, real answers on a socket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from a2a.utils import errors as sdk_errors

from adapters import a2a, acp
from adapters import errors as E
from adapters.errors import HTTP_STATUS, ErrorCode
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.errors import http_error
from gateway.registry import Registry
from gateway.settings import Config
from tests.servers import running

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("/mcp/", "/a2a", "/a2a/echo", "/.well-known/agent-card.json", "/acp/runs", "/agents")


def test_every_code_has_exactly_one_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorCode)
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())
    with pytest.raises(TypeError):
        HTTP_STATUS[ErrorCode.INTERNAL] = 200  # type: ignore[index]


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.value)
def test_every_protocols_error_answer_has_the_codes_status(code: ErrorCode) -> None:
    err = E.from_code(code)
    status = HTTP_STATUS[code]
    rest_status, rest_body = a2a.rest_error(err)
    assert (rest_status, rest_body["error"]["code"]) == (status, status)
    assert acp.encode_error(err)[0] == status
    for path in PATHS:
        assert http_error(path, err)[0] == status, path


# The A2A error each canonical code is sent as, and a2a-sdk's own status for it (A2A 1.0,
# section 5.4): the table must agree with the reference binding wherever A2A defines the error.
A2A_ERRORS = {
    ErrorCode.INVALID_REQUEST: sdk_errors.InvalidRequestError,
    ErrorCode.METHOD_NOT_FOUND: sdk_errors.MethodNotFoundError,
    ErrorCode.INVALID_PARAMS: sdk_errors.InvalidParamsError,
    ErrorCode.NOT_FOUND: sdk_errors.TaskNotFoundError,
    ErrorCode.UNSUPPORTED: sdk_errors.UnsupportedOperationError,
    ErrorCode.CANNOT_CARRY: sdk_errors.ContentTypeNotSupportedError,
    ErrorCode.ILLEGAL_TRANSITION: sdk_errors.TaskNotCancelableError,
    ErrorCode.INTERNAL: sdk_errors.InternalError,
}


@pytest.mark.parametrize("code", list(A2A_ERRORS), ids=lambda c: c.value)
def test_codes_a2a_defines_have_a2as_status(code: ErrorCode) -> None:
    assert HTTP_STATUS[code] == sdk_errors.A2A_ERROR_MAPPING[A2A_ERRORS[code]].http_code


def test_no_other_module_keeps_a_status_table() -> None:
    status_entry = re.compile(r"ErrorCode\.[A-Z_]+\s*:\s*\(?\s*[1-5]\d\d\b")
    found = [
        str(path.relative_to(ROOT))
        for folder in ("adapters", "gateway", "agents", "observability")
        for path in (ROOT / folder).rglob("*.py")
        if status_entry.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["adapters/errors.py"]


@pytest.fixture(scope="module")
def guarded() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_STATUS_TOKEN", "s3cret")
        registry = Registry()
        registry.add(EchoAgent())
        config = Config(token_env="EFFMESH_STATUS_TOKEN", rate_per_minute=0)
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url


AUTH = {"authorization": "Bearer s3cret"}


@pytest.mark.parametrize("path", ["/mcp/", "/a2a", "/acp/runs", "/agents"])
def test_a_refusal_at_the_edge_has_the_tables_status_in_every_protocol(
    guarded: str, path: str
) -> None:
    r = httpx.post(f"{guarded}{path}", json={})
    assert r.status_code == HTTP_STATUS[ErrorCode.UNAUTHORIZED]


def test_acp_answers_on_the_wire_have_the_tables_statuses(guarded: str) -> None:
    acp_url = f"{guarded}/acp"
    bad = httpx.post(f"{acp_url}/runs", json={"agent_name": "echo.echo", "input": []}, headers=AUTH)
    assert bad.status_code == HTTP_STATUS[ErrorCode.INVALID_PARAMS]
    missing = httpx.get(f"{acp_url}/runs/00000000-0000-0000-0000-000000000000", headers=AUTH)
    assert missing.status_code == HTTP_STATUS[ErrorCode.NOT_FOUND]
    body = {"agent_name": "echo.echo", "input": [{"parts": [{"content": "hi"}]}]}
    run = httpx.post(f"{acp_url}/runs", json=body, headers=AUTH).json()
    assert run["status"] == "completed"
    late = httpx.post(f"{acp_url}/runs/{run['run_id']}/cancel", headers=AUTH)
    assert late.json()["data"]["effmesh_code"] == ErrorCode.ILLEGAL_TRANSITION
    assert late.status_code == HTTP_STATUS[ErrorCode.ILLEGAL_TRANSITION]


def test_a2a_answers_on_the_wire_have_the_tables_statuses(guarded: str) -> None:
    nobody = httpx.post(f"{guarded}/a2a/nobody", json={}, headers=AUTH)
    assert nobody.status_code == HTTP_STATUS[ErrorCode.NOT_FOUND]
    # The REST binding, answered by a2a-sdk's own handler: the same status.
    headers = {**AUTH, "a2a-version": "1.0"}
    task = httpx.get(f"{guarded}/a2a/echo/rest/tasks/no-such-task", headers=headers)
    assert task.status_code == HTTP_STATUS[ErrorCode.NOT_FOUND]


def test_an_mcp_call_that_fails_is_a_json_rpc_error_in_a_200_answer(guarded: str) -> None:
    # MCP's own transport rule, the table's one exception (as the MCP SDK answers).
    headers = {**AUTH, "accept": "application/json, text/event-stream"}
    start = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    with httpx.Client(headers=headers) as http:
        opened = http.post(f"{guarded}/mcp/", json=start)
        session = opened.headers.get("mcp-session-id")
        if session:
            http.headers["mcp-session-id"] = session
        http.headers["mcp-protocol-version"] = "2025-11-25"
        http.post(f"{guarded}/mcp/", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "nobody.nothing", "arguments": {}},
        }
        r = http.post(f"{guarded}/mcp/", json=call)
    assert r.status_code == 200
    assert "effmesh_code" in r.text
