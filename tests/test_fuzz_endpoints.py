"""Every endpoint answers generated bad input in its own protocol, on a real gateway.

For each endpoint kind, hypothesis draws batches of recipes (``tests.fuzzwire``) that break
valid messages at the structure and byte level; the batches go over one keep-alive HTTP
connection or one WebSocket. Every answer must be in the endpoint's protocol (its error or a
valid answer), never a 500, never internal text; every frame owed an answer gets one; and
after the run the endpoint still serves a good call. The counts of what was tried and what
held, per kind, are written to ``fuzz-counts.json`` in pytest's temporary directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, Final

import httpx
import mcp_types as mt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets import Subprotocol
from websockets.sync.client import connect

from adapters import mesh
from adapters.model import AgentDescriptor, Message, Skill, StatusEvent, TaskState, TextPart
from tests.fuzzdrive import (
    NULL,
    WAIT,
    Answer,
    Expected,
    Http,
    Kind,
    Ws,
    check_http,
    gateway_process,
    http_label,
    owed,
)
from tests.fuzzwire import Recipe, Tally, build, recipes

BATCH: Final = 25
EXAMPLES: Final = 400
"""Examples per kind: ``BATCH * EXAMPLES`` = 10,000 inputs per endpoint kind."""
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same inputs on every run: a red run reproduces
    database=None,
    deadline=None,
    # No shrinking: a failure names the one input that failed, and shrinking a batch would
    # replay it hundreds of times.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT = "hi"
ACCEPT = "application/json, text/event-stream"
MODERN: Final = "2026-07-28"
LEGACY: Final = "2025-11-25"


@dataclass(frozen=True)
class Base:
    """A valid request to break: its HTTP method and path, headers, and JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    doc: Any


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gateway_process(tmp_path_factory.mktemp("fuzz") / "gateway.log") as url:
        yield url


@pytest.fixture(scope="module")
def tallies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Tally]]:
    counts: dict[str, Tally] = {}
    yield counts
    report = {kind: tally.as_json() for kind, tally in counts.items()}
    path = tmp_path_factory.getbasetemp() / "fuzz-counts.json"
    path.write_text(json.dumps(report, indent=2))
    for kind, tally in counts.items():
        print(f"\n{kind}: tried {tally.tried}, held {tally.held}")
    print(f"\ncounts written to {path}")


def rpc(rid: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


def note(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def a2a_message(skill: str) -> dict[str, Any]:
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": TEXT}]}
    return {"message": message, "metadata": {"effmesh.skill": skill}}


def acp_run(mode: str) -> dict[str, Any]:
    parts = [{"content": TEXT, "content_type": "text/plain"}]
    return {"agent_name": "echo.echo", "input": [{"role": "user", "parts": parts}], "mode": mode}


MODERN_META = {
    mt.PROTOCOL_VERSION_META_KEY: MODERN,
    mt.CLIENT_CAPABILITIES_META_KEY: {},
    mt.CLIENT_INFO_META_KEY: {"name": "fuzz", "version": "1"},
}
INITIALIZE = rpc(
    0,
    "initialize",
    {
        "protocolVersion": LEGACY,
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"},
    },
)
ECHO_CALL = {"name": "echo.echo", "arguments": {"text": TEXT}}


def mcp_messages() -> list[dict[str, Any]]:
    """What an MCP client sends once it is initialized (either era)."""
    return [
        rpc("l1", "tools/list", {}),
        rpc("c1", "tools/call", ECHO_CALL),
        rpc(7, "ping", {}),
        note("notifications/initialized", {}),
        note("notifications/cancelled", {"requestId": 99_999}),
        {"jsonrpc": "2.0", "id": "e1", "result": {}},
        rpc("c2", "tools/call", {**ECHO_CALL, "_meta": MODERN_META}),
    ]


def mcp_bases(session: str) -> list[Base]:
    legacy = {"accept": ACCEPT, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    modern = {"accept": ACCEPT, "mcp-protocol-version": MODERN}
    bases = [Base("POST", "/mcp", {"accept": ACCEPT}, INITIALIZE)]
    bases += [Base("POST", "/mcp", legacy, doc) for doc in mcp_messages()[:-1]]
    for method, params in [
        ("tools/call", ECHO_CALL),
        ("tools/list", {}),
        ("server/discover", {}),
    ]:
        headers = {**modern, "mcp-method": method}
        if method == "tools/call":
            headers["mcp-name"] = "echo.echo"
        bases.append(
            Base("POST", "/mcp", headers, rpc(3, method, {**params, "_meta": MODERN_META}))
        )
    return bases


def a2a_calls(skill: str) -> list[dict[str, Any]]:
    return [
        rpc(1, "SendMessage", a2a_message(skill)),
        rpc("s", "SendStreamingMessage", a2a_message(skill)),
        rpc(2, "GetTask", {"id": "no-such-task"}),
        rpc(3, "ListTasks", {}),
        rpc(4, "CancelTask", {"id": "no-such-task"}),
        rpc(5, "SubscribeToTask", {"id": "no-such-task"}),
        rpc(6, "GetExtendedAgentCard", {}),
    ]


def a2a_jsonrpc_bases() -> list[Base]:
    headers = {"a2a-version": "1.0"}
    return [Base("POST", "/a2a", headers, doc) for doc in a2a_calls("echo.echo")] + [
        Base("POST", "/a2a/echo", headers, doc) for doc in a2a_calls("echo")
    ]


def a2a_rest_bases() -> list[Base]:
    headers = {"a2a-version": "1.0"}
    push = {"taskId": "no-such-task", "id": "p1", "url": "http://127.0.0.1:9/hook"}
    return [
        Base("POST", "/a2a/echo/rest/message:send", headers, a2a_message("echo")),
        Base("POST", "/a2a/rest/message:send", headers, a2a_message("echo.echo")),
        Base("POST", "/a2a/echo/rest/message:stream", headers, a2a_message("echo")),
        Base("POST", "/a2a/echo/rest/tasks/no-such-task:cancel", headers, {}),
        Base("POST", "/a2a/echo/rest/tasks/no-such-task/pushNotificationConfigs", headers, push),
    ]


def acp_bases(paused_run: str) -> list[Base]:
    message = {"role": "user", "parts": [{"content": TEXT, "content_type": "text/plain"}]}
    resume = {"await_resume": {"type": "message", "message": message}, "mode": "sync"}
    return [
        Base("POST", "/acp/runs", {}, acp_run("sync")),
        Base("POST", "/acp/runs", {}, acp_run("stream")),
        Base("POST", "/acp/runs", {}, acp_run("async")),
        Base("POST", f"/acp/runs/{paused_run}", {}, resume),
    ]


def ws_bases(kind: Kind) -> list[Any]:
    if kind == "mcp":
        return mcp_messages()
    if kind == "a2a":
        return a2a_calls("echo.echo")
    if kind == "acp":
        return [
            rpc(1, "agents/list", {}),
            rpc(2, "runs/create", acp_run("sync")),
            rpc(3, "runs/create", acp_run("stream")),
            rpc(4, "runs/get", {"run_id": "00000000-0000-0000-0000-000000000000"}),
            rpc(5, "runs/cancel", {"run_id": "not-a-run"}),
            rpc(6, "runs/events", {"run_id": "not-a-run"}),
        ]
    far = AgentDescriptor("far", (Skill("echo", "Echoes."),), "An agent behind a peer.", "1.0")
    status = StatusEvent("t1", TaskState.WORKING, "c1", Message("agent", (TextPart(TEXT),)))
    return [
        mesh.encode(mesh.Register(1, (far,))),
        mesh.encode(mesh.Event(1, status)),
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        mesh.encode(mesh.Cancel(1)),
        mesh.encode(mesh.Hello(2, "gw-a")),
        rpc(3, "mesh/ping", {}),
    ]


# --- HTTP ----------------------------------------------------------------------------------

CONTENT_TYPES: Final = [
    *["application/json"] * 12,
    "application/json; charset=utf-8",
    "application/a2a+json",
    "",
    "text/plain",
]


def send_http(
    http: Http, bases: list[Base], recipe: Recipe, tally: Tally
) -> tuple[str, Answer, bytes]:
    index, ops, framing = recipe
    base = bases[index]
    body = build(base.doc, ops)
    headers = dict(base.headers)
    ctype = CONTENT_TYPES[framing % len(CONTENT_TYPES)]
    if ctype:
        headers["content-type"] = ctype
    pieces = (framing >> 5) + 1 if (framing >> 3) % 4 == 0 else 0  # a quarter go chunked
    try:
        answer = http.request(base.method, base.path, body, headers, pieces)
    except (OSError, HTTPException) as exc:
        raise AssertionError(f"the answer broke off ({exc!r}): {recipe} <- {body[:200]!r}") from exc
    tally.answers[http_label(answer)] += 1
    return base.path, answer, body


def fuzz_http(
    gateway: str, tally: Tally, bases: list[Base], alive: Callable[[httpx.Client], None]
) -> None:
    http = Http(gateway)

    @FUZZ
    @given(st.lists(recipes(len(bases)), min_size=BATCH, max_size=BATCH))
    def run(batch: list[Recipe]) -> None:
        for recipe in batch:
            tally.tried += 1
            path, answer, sent = send_http(http, bases, recipe, tally)
            problem = check_http(path, answer, sent)
            assert problem is None, f"{problem}: {recipe} {path} <- {sent[:200]!r} -> {answer}"
            tally.held += 1

    try:
        run()
    finally:
        http.close()
    assert tally.tried >= BATCH * EXAMPLES
    with httpx.Client(base_url=gateway, timeout=30) as client:
        alive(client)


def mcp_session(client: httpx.Client) -> dict[str, str]:
    opened = client.post("/mcp", json=INITIALIZE, headers={"accept": ACCEPT})
    session = opened.headers["mcp-session-id"]
    headers = {"accept": ACCEPT, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    client.post("/mcp", json=note("notifications/initialized", {}), headers=headers)
    return headers


def mcp_answers_a_call(client: httpx.Client) -> None:
    headers = mcp_session(client)
    answer = client.post("/mcp", json=rpc(1, "tools/call", ECHO_CALL), headers=headers)
    data = [line[5:] for line in answer.text.splitlines() if line.startswith("data:")]
    result = json.loads(data[-1] if data else answer.text)["result"]
    assert result["content"][0]["text"] == TEXT


def test_mcp_over_http_answers_bad_input_with_json_rpc_errors(
    gateway: str, tallies: dict[str, Tally]
) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as client:
        session = mcp_session(client)["mcp-session-id"]
    tally = tallies.setdefault("mcp-http", Tally())
    fuzz_http(gateway, tally, mcp_bases(session), mcp_answers_a_call)


def a2a_answers_a_call(client: httpx.Client) -> None:
    answer = client.post(
        "/a2a/echo", json=rpc(1, "SendMessage", a2a_message("echo")), headers={"a2a-version": "1.0"}
    )
    assert answer.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    rest = client.post(
        "/a2a/echo/rest/message:send", json=a2a_message("echo"), headers={"a2a-version": "1.0"}
    )
    assert rest.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_a2a_json_rpc_answers_bad_input_with_json_rpc_errors(
    gateway: str, tallies: dict[str, Tally]
) -> None:
    tally = tallies.setdefault("a2a-jsonrpc", Tally())
    fuzz_http(gateway, tally, a2a_jsonrpc_bases(), a2a_answers_a_call)


def test_a2a_rest_answers_bad_input_with_rest_errors(
    gateway: str, tallies: dict[str, Tally]
) -> None:
    tally = tallies.setdefault("a2a-rest", Tally())
    fuzz_http(gateway, tally, a2a_rest_bases(), a2a_answers_a_call)


def acp_answers_a_run(client: httpx.Client) -> None:
    assert client.post("/acp/runs", json=acp_run("sync")).json()["status"] == "completed"


def test_acp_over_http_answers_bad_input_with_acp_errors(
    gateway: str, tallies: dict[str, Tally]
) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as client:
        paused = client.post("/acp/runs", json={**acp_run("sync"), "agent_name": "echo.ask"})
    tally = tallies.setdefault("acp-http", Tally())
    fuzz_http(gateway, tally, acp_bases(paused.json()["run_id"]), acp_answers_a_run)


# --- unknown paths and methods -------------------------------------------------------------

# "/" itself is the web console's page (HTML by design), so the list starts below it.
PATHS: Final = [
    "/nope",
    "/agents",
    "/metrics",
    "/federation",
    "/health",
    "/ws",
    "/mcp",
    "/mcp/ws",
    "/a2a",
    "/a2a/echo",
    "/a2a/nobody",
    "/a2a/echo/rest",
    "/a2a/rest/tasks",
    "/a2a/echo/rest/tasks/no-such-task",
    "/a2a/echo/.well-known/agent-card.json",
    "/.well-known/agent-card.json",
    "/acp",
    "/acp/agents",
    "/acp/agents/echo.echo",
    "/acp/ping",
    "/acp/runs",
    "/acp/runs/00000000-0000-0000-0000-000000000000/events",
]
SEGMENTS: Final = ["x", "%ff", "%00", "..", "a%2fb", "rest", "ws", "~", "%C3%A9", "a" * 300, ""]
METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "POST"]


def odd_path(index: int, ops: tuple[tuple[int, int], ...]) -> str:
    path = PATHS[index]
    for code, what in ops:
        segment = SEGMENTS[what % len(SEGMENTS)]
        if code == 0:
            path = f"{path.rstrip('/')}/{segment}"
        elif code == 1:
            path = f"{path}/"
        elif code == 2:
            path = path.replace("/", "//", 1 + what % 2)
        elif code == 3:
            path = path.upper() if what % 2 else path.title()
        elif code == 4:
            path = f"{path}?{segment}={segment}"
        else:
            path = f"{path}{segment}"
    return path


def test_unknown_paths_and_methods_are_answered_in_the_paths_protocol(
    gateway: str, tallies: dict[str, Tally]
) -> None:
    tally = tallies.setdefault("unknown-path", Tally())
    http = Http(gateway)
    route = st.tuples(
        st.integers(0, len(PATHS) - 1),
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 255)), max_size=3).map(tuple),
        st.integers(0, len(METHODS) - 1),
        st.sampled_from([b"", b"{}", b"\xff", b"[" * 40]),
    )

    @FUZZ
    @given(st.lists(route, min_size=BATCH, max_size=BATCH))
    def run(batch: list[tuple[int, tuple[tuple[int, int], ...], int, bytes]]) -> None:
        for index, ops, verb, body in batch:
            tally.tried += 1
            path, method = odd_path(index, ops), METHODS[verb]
            sent = body if method in ("POST", "PUT", "PATCH") else None
            headers = {"content-type": "application/json", "accept": ACCEPT}
            answer = http.request(method, path, sent, headers)
            for _ in range(2):  # a redirect to the path with or without its slash
                if answer.status not in (307, 308) or answer.location is None:
                    break
                path = answer.location.split("//", 1)[-1].partition("/")[2]
                path = f"/{path}"
                answer = http.request(method, path, sent, headers)
            tally.answers[http_label(answer)] += 1
            problem = check_http(path.partition("?")[0], answer, sent or b"")
            assert problem is None, f"{problem}: {method} {path} -> {answer}"
            tally.held += 1

    try:
        run()
    finally:
        http.close()
    assert tally.tried >= BATCH * EXAMPLES
    assert httpx.get(f"{gateway}/agents").json()["agents"][0]["name"] == "echo"


# --- WebSockets ----------------------------------------------------------------------------

WS_PATHS: Final[dict[Kind, tuple[str, str]]] = {
    "mcp": ("/mcp/ws", "mcp"),
    "a2a": ("/a2a/ws", "a2a"),
    "acp": ("/acp/ws", "acp"),
    "mesh": ("/ws", mesh.SUBPROTOCOL),
}
GOOD_CALLS: Final[dict[Kind, dict[str, Any]]] = {
    "mcp": rpc("alive", "tools/call", ECHO_CALL),
    "a2a": rpc("alive", "SendMessage", a2a_message("echo.echo")),
    "acp": rpc("alive", "runs/create", acp_run("sync")),
    "mesh": mesh.encode(
        mesh.Register("alive", (AgentDescriptor("alive", (Skill("echo", "Echoes."),)),))
    ),
}


def fuzz_ws(gateway: str, kind: Kind, tally: Tally) -> None:
    path, subprotocol = WS_PATHS[kind]
    url = f"{gateway.replace('http', 'ws', 1)}{path}"
    offered = [Subprotocol(subprotocol)]
    with connect(url, subprotocols=offered, max_size=None, open_timeout=WAIT) as conn:
        ws = Ws(conn)
        if kind == "mcp":
            assert "result" in ws.call(INITIALIZE)
            conn.send(json.dumps(note("notifications/initialized", {})))
        fuzz_frames(ws, kind, tally)
        alive = ws.call(GOOD_CALLS[kind])
        assert "result" in alive, alive


def fuzz_frames(ws: Ws, kind: Kind, tally: Tally) -> None:
    bases = ws_bases(kind)

    @FUZZ
    @given(st.lists(recipes(len(bases)), min_size=BATCH, max_size=BATCH))
    def run(batch: list[Recipe]) -> None:
        frames: list[tuple[bytes, bool]] = []
        expected = Expected()
        cancelled = set()
        for index, ops, framing in batch:
            data = build(bases[index], ops)
            try:
                data.decode("utf-8")
                binary = framing % 16 == 0
            except UnicodeDecodeError:
                binary = True
            frames.append((data, binary))
            cancelled |= _cancelled_ids(data)
        for data, binary in frames:
            answer = owed(kind, data, binary)
            # A call the same batch cancels is, by MCP's rule, never answered.
            if kind == "mcp" and answer not in (None, NULL) and answer[1][1] in cancelled:
                continue
            expected.add(answer)
        tally.tried += len(frames)
        ws.batch(frames, expected, tally)
        tally.held += len(frames)

    run()
    assert tally.tried >= BATCH * EXAMPLES


def _cancelled_ids(data: bytes) -> set[Any]:
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError):
        return set()
    params = msg.get("params") if type(msg) is dict else None
    rid = params.get("requestId") if type(params) is dict else None
    return {rid} if type(rid) in (str, int) else set()


@pytest.mark.parametrize("kind", list(WS_PATHS))
def test_websocket_endpoints_answer_bad_frames_in_their_protocol(
    gateway: str, tallies: dict[str, Tally], kind: Kind
) -> None:
    fuzz_ws(gateway, kind, tallies.setdefault(f"{kind}-ws", Tally()))
