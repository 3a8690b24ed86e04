"""Bad input the endpoint fuzz tests found, one named test each: every answer is in the
caller's own protocol, with effmesh's words, never a 500, a silence or a parser's text.
(``tests/test_fuzz_endpoints.py`` generates such input by the thousand.)"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets import Subprotocol
from websockets.sync.client import connect

from adapters import _json, jsonrpc, mesh
from adapters.errors import ErrorCode, ParseError
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from observability import tracing
from tests.fuzzwire import http_problem, leak
from tests.servers import running

LIMIT = 64 * 1024
JSON = {"content-type": "application/json"}
A2A = {**JSON, "a2a-version": "1.0"}
MCP = {**JSON, "accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(rate_per_minute=0, max_body_bytes=LIMIT)
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        yield url


def effmesh_code(details: Any) -> str:
    """The canonical code in an A2A error's ErrorInfo detail."""
    return str(details[0]["metadata"]["effmesh_code"])


def a2a_message(skill: str) -> dict[str, Any]:
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    return {"message": message, "metadata": {"effmesh.skill": skill}}


# --- A2A -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/a2a/echo/rest/message:send", "/a2a/rest/message:send"])
def test_invalid_utf8_in_an_a2a_rest_body_is_a_rest_parse_error_not_a_500(
    gateway: str, path: str
) -> None:
    answer = httpx.post(f"{gateway}{path}", content=b'{"message": \xff}', headers=A2A)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert effmesh_code(error["details"]) == ErrorCode.PARSE_ERROR


@pytest.mark.parametrize("path", ["/a2a", "/a2a/echo"])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":' + b'{"a":' * 3000 + b"1}" * 3001,
    ],
    ids=["bare", "in-params"],
)
def test_deeply_nested_json_to_a2a_json_rpc_is_a_parse_error_without_internal_text(
    gateway: str, path: str, body: bytes
) -> None:
    answer = httpx.post(f"{gateway}{path}", content=body, headers=A2A)
    assert answer.status_code == 200  # a2a-sdk answers every JSON-RPC error in a 200
    assert answer.json()["error"]["code"] == jsonrpc.PARSE_ERROR
    assert answer.json()["id"] is None
    assert leak(answer.text) is None


def test_a_repeated_name_is_a_parse_error_not_the_rest_parsers_text(gateway: str) -> None:
    body = b'{"message": {"messageId": "m1", "messageId": "m2"}}'
    answer = httpx.post(f"{gateway}/a2a/echo/rest/message:send", content=body, headers=A2A)
    assert answer.status_code == 400
    assert effmesh_code(answer.json()["error"]["details"]) == ErrorCode.PARSE_ERROR
    assert leak(answer.text) is None


def test_the_json_reader_refuses_a_repeated_name_at_any_depth() -> None:
    for raw in (b'{"a": 1, "a": 2}', b'[{"x": {"b": 1, "b": 1}}]'):
        with pytest.raises(ParseError):
            _json.loads(raw)
    assert _json.loads(b'[{"x": 1}, {"x": 2}]') == [{"x": 1}, {"x": 2}]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a:": 1, "b": "x:y", "b": 2}',  # colons in names and strings beside the repeat
        b'{"k": 1, "k": "\\u003a"}',  # an escaped colon, which a count of colons cannot see
        b'{"k\\u003A": 1, "k:": 2}',  # the same name, spelled two ways
        '{"s": "\u00e9:", "s": 1}'.encode(),
    ],
)
def test_a_repeated_name_is_found_whatever_colons_the_strings_hold(raw: bytes) -> None:
    with pytest.raises(ParseError):
        _json.loads(raw)
    with pytest.raises(ParseError):
        _json.loads(raw.decode())


def test_the_json_reader_reads_numbers_and_text_as_pythons_reader_does() -> None:
    raw = b'{"big": 123456789012345678901234567890, "top": 18446744073709551616, "x": "a:b"}'
    read = _json.loads(raw)
    assert read == {"big": 123456789012345678901234567890, "top": 2**64, "x": "a:b"}
    assert type(read["big"]) is int
    assert _json.loads(b"1e400") == float("inf")  # beyond a double, as Python reads it
    for refused in (b"[NaN]", b"[Infinity]", b'"\\ud800"', b"\xef\xbb\xbf{}", b"[1,]"):
        with pytest.raises(ParseError):
            _json.loads(refused)
    with pytest.raises(ParseError):
        _json.loads(b"[" * 33 + b"1" + b"]" * 33)


def test_an_acp_stream_that_cannot_carry_its_outcome_ends_with_an_error_event(
    gateway: str,
) -> None:
    run = {"agent_name": "echo.echo", "input": [{"role": "user", "parts": []}], "mode": "stream"}
    with httpx.stream("POST", f"{gateway}/acp/runs", json=run, timeout=30) as answer:
        events = [json.loads(line[5:]) for line in answer.iter_lines() if line.startswith("data:")]
    assert events[0]["type"] == "run.created"
    assert events[-1]["type"] == "error"  # the stream ends cleanly, not mid-chunk
    assert events[-1]["error"]["data"]["effmesh_code"] == ErrorCode.CANNOT_CARRY


# --- MCP -----------------------------------------------------------------------------------


def mcp_session(http: httpx.Client) -> None:
    start = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = http.post("/mcp", json=start)
    http.headers["mcp-session-id"] = opened.headers["mcp-session-id"]
    http.headers["mcp-protocol-version"] = "2025-11-25"
    http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})


@pytest.mark.parametrize("rid", [{"a": 1}, 1.5, True, None, [1]], ids=repr)
def test_an_mcp_request_whose_id_is_not_a_string_or_integer_is_an_invalid_request(
    gateway: str, rid: Any
) -> None:
    with httpx.Client(base_url=gateway, headers=MCP) as http:
        mcp_session(http)
        request = {"jsonrpc": "2.0", "id": rid, "method": "tools/list", "params": {}}
        answer = http.post("/mcp", json=request)
    assert answer.status_code == 400  # never the silent 202 of a notification
    assert answer.json()["error"]["code"] == jsonrpc.INVALID_REQUEST
    assert answer.json()["id"] is None


def test_an_mcp_body_the_sdk_would_answer_with_its_validator_text_gets_ours(
    gateway: str,
) -> None:
    answer = httpx.post(f"{gateway}/mcp", json={"jsonrpc": "2.0", "id": 1}, headers=MCP)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == jsonrpc.INVALID_REQUEST
    assert leak(answer.text) is None


# --- WebSockets ----------------------------------------------------------------------------

WEBSOCKETS = [("/mcp/ws", "mcp"), ("/ws", mesh.SUBPROTOCOL), ("/a2a/ws", "a2a"), ("/acp/ws", "acp")]


def ws_exchange(gateway: str, path: str, subprotocol: str, *frames: str | bytes) -> list[Any]:
    """One answer per frame, in order."""
    url = f"{gateway.replace('http', 'ws', 1)}{path}"
    with connect(url, subprotocols=[Subprotocol(subprotocol)], open_timeout=10) as ws:
        answers = []
        for frame in frames:
            ws.send(frame)
            answers.append(json.loads(ws.recv(timeout=10)))
        return answers


@pytest.mark.parametrize(("path", "subprotocol"), WEBSOCKETS[:2])
@pytest.mark.parametrize("rid", [{"a": 1}, 1.5, None])
def test_mcp_ws_and_mesh_ws_answer_a_request_with_a_bad_id_as_an_invalid_request(
    gateway: str, path: str, subprotocol: str, rid: Any
) -> None:
    frame = json.dumps({"jsonrpc": "2.0", "id": rid, "method": "mesh/ping", "params": {}})
    (answer,) = ws_exchange(gateway, path, subprotocol, frame)
    assert answer["error"]["code"] == jsonrpc.INVALID_REQUEST
    assert answer["id"] is None


@pytest.mark.parametrize(("path", "subprotocol"), WEBSOCKETS)
def test_a_binary_frame_is_answered_in_the_protocol_and_the_connection_goes_on(
    gateway: str, path: str, subprotocol: str
) -> None:
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "no/such/method", "params": {}})
    refused, after = ws_exchange(gateway, path, subprotocol, b'{"not": "text"}', ping)
    assert refused["error"]["code"] in (jsonrpc.INVALID_REQUEST, jsonrpc.INVALID_PARAMS)
    assert refused["id"] is None
    assert after["id"] == 1  # still serving: the unknown method is answered as such


def test_a2a_ws_answers_a_request_whose_metadata_is_not_an_object(gateway: str) -> None:
    request = {
        "jsonrpc": "2.0",
        "id": "s",
        "method": "SendStreamingMessage",
        "params": {**a2a_message("echo.echo"), "metadata": 2**63},
    }
    (answer,) = ws_exchange(gateway, "/a2a/ws", "a2a", json.dumps(request))
    assert answer["id"] == "s"
    assert answer["error"]["code"] == jsonrpc.INVALID_PARAMS


def test_trace_context_is_read_only_from_a_map() -> None:
    for value in (2**63, ["traceparent"], "traceparent", None):
        assert tracing.carrier_of(value) == {}


def test_mesh_answers_a_bad_request_but_never_a_bad_reply() -> None:
    with pytest.raises(jsonrpc.EnvelopeError) as request:
        mesh.parse(b'{"jsonrpc": "2.0", "id": {}, "method": "mesh/register", "params": {}}')
    assert (request.value.owed, request.value.id) == (True, None)
    with pytest.raises(jsonrpc.EnvelopeError) as reply:
        mesh.parse(b'{"jsonrpc": "2.0", "id": {}, "result": {}}')
    assert reply.value.owed is False  # answering a reply could ping-pong between two peers


# --- unknown paths, wrong methods, limits --------------------------------------------------


def gateway_error(body: Any) -> str:
    return str(body["error"]["code"])


def acp_error(body: Any) -> str:
    return str(body["data"]["effmesh_code"])


def jsonrpc_error(body: Any) -> str:
    return str(body["error"]["code"])


def rest_error(body: Any) -> str:
    return effmesh_code(body["error"]["details"])


NOT_FOUND = ErrorCode.METHOD_NOT_FOUND.value
ROUTES: list[tuple[str, str, int, Callable[[Any], str], object]] = [
    ("GET", "/nope", 404, gateway_error, NOT_FOUND),
    ("POST", "/agents", 405, gateway_error, NOT_FOUND),
    ("GET", "/metrics", 404, gateway_error, ErrorCode.NOT_FOUND.value),  # metrics are off
    ("GET", "/acp/nope", 404, acp_error, NOT_FOUND),
    ("DELETE", "/acp/runs", 405, acp_error, NOT_FOUND),
    ("GET", "/a2a/echo/nope", 404, jsonrpc_error, jsonrpc.METHOD_NOT_FOUND),
    ("PUT", "/a2a/echo", 405, jsonrpc_error, jsonrpc.METHOD_NOT_FOUND),
    ("GET", "/a2a/echo/rest/nope/", 404, rest_error, NOT_FOUND),
    ("DELETE", "/a2a/echo/rest/tasks", 405, rest_error, NOT_FOUND),
    ("GET", "/mcp/nope", 404, jsonrpc_error, jsonrpc.METHOD_NOT_FOUND),
    ("PUT", "/mcp", 405, jsonrpc_error, jsonrpc.METHOD_NOT_FOUND),
]


@pytest.mark.parametrize(("method", "path", "status", "code_of", "code"), ROUTES)
def test_unknown_paths_and_wrong_methods_are_json_in_the_paths_protocol(
    gateway: str,
    method: str,
    path: str,
    status: int,
    code_of: Callable[[Any], str],
    code: object,
) -> None:
    answer = httpx.request(method, f"{gateway}{path}", headers=A2A)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert code_of(answer.json()) == str(code)
    if status == 405:
        assert answer.headers["allow"]
    if "/rest/" in path:
        assert answer.json()["error"]["code"] == status


@pytest.mark.parametrize(
    "path",
    [
        "/mcp",
        "/a2a",
        "/a2a/echo",
        "/a2a/echo/rest/message:send",
        "/acp/runs",
        "/acp/runs/00000000-0000-0000-0000-000000000000",
        "/nope",
    ],
)
def test_a_chunked_body_over_the_limit_is_413_in_the_protocol_on_every_endpoint(
    gateway: str, path: str
) -> None:
    chunks = (b" " * 1024 for _ in range(2 * LIMIT // 1024))
    answer = httpx.post(f"{gateway}{path}", content=chunks, headers=MCP)
    assert answer.status_code == 413
    assert answer.headers["connection"] == "close"
    sent = b'{"jsonrpc": "2.0", "method": "x"}'  # what the path's check reads the answer as
    assert http_problem(path, 413, answer.headers["content-type"], answer.content, sent) is None


def test_a_fault_of_the_gateways_own_is_a_json_internal_error_without_its_text() -> None:
    def broken() -> bytes:
        raise RuntimeError("a detail only the server log may see")

    registry = Registry()
    registry.add(EchoAgent())
    config = Config(rate_per_minute=0)
    with running(lambda base: create_app(registry, config, base_url=base, metrics=broken)) as url:
        answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == ErrorCode.INTERNAL
    assert "detail" not in answer.text
