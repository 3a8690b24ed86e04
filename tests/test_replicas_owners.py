"""Ownership across replicas: two gateways sharing one PostgreSQL store, each caller with its
own token. A task one caller starts on one replica is another caller's "not found" on the
other replica, for every read, answer and cancel of A2A, ACP and MCP 2026-07-28; its owner
reads, answers and cancels it there."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.sync.client import connect

from adapters import jsonrpc
from adapters.a2a.errors import TASK_NOT_FOUND
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.postgres import PostgresTaskStore
from gateway.runtime.runner import Runtime
from gateway.settings import Config
from tests.servers import running

TOKENS = {"ide": "ide-secret", "bot": "bot-secret"}
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def replicas(postgres_server: Any) -> Iterator[tuple[str, str]]:
    from tests import pg

    with pg.database(postgres_server) as url, pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_T_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_T_BOT", TOKENS["bot"])
        config = Config(
            token_env="EFFMESH_T_NONE",
            tokens=(("ide", "EFFMESH_T_IDE"), ("bot", "EFFMESH_T_BOT")),
            rate_per_minute=0,
            task_lease_seconds=5,
        )

        def replica(name: str) -> Any:
            def make(base: str) -> Any:
                registry = Registry()
                registry.add(EchoAgent())
                store = PostgresTaskStore(url, replica=name)
                return create_app(registry, config, base_url=base, runtime=Runtime(store))

            return running(make)

        with replica("one") as one, replica("two") as two:
            yield one, two


def as_(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who]}"}


def rpc(base: str, who: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    headers = {**as_(who), "A2A-Version": "1.0"}
    reply: dict[str, Any] = httpx.post(
        f"{base}/a2a/echo", json=body, headers=headers, timeout=30
    ).json()
    return reply


def a2a_send(skill: str) -> dict[str, Any]:
    return {
        "message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "x"}]},
        "metadata": {"effmesh.skill": skill},
        "configuration": {"returnImmediately": True},
    }


def test_another_callers_a2a_task_is_not_found_on_another_replica(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    started = rpc(one, "ide", "SendMessage", a2a_send("wait"))["result"]["task"]
    task_id = started["id"]
    for method in ("GetTask", "CancelTask", "SubscribeToTask"):
        refused = rpc(two, "bot", method, {"id": task_id})
        assert refused["error"]["code"] == TASK_NOT_FOUND, (method, refused)
    listed = rpc(two, "bot", "ListTasks", {})["result"]
    assert task_id not in {t["id"] for t in listed.get("tasks", [])}
    assert rpc(two, "ide", "GetTask", {"id": task_id})["result"]["id"] == task_id
    canceled = rpc(two, "ide", "CancelTask", {"id": task_id})["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"


def test_another_callers_acp_run_is_not_found_on_another_replica(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    body = {"agent_name": "echo.ask", "mode": "sync", "input": [{"parts": [{"content": "x"}]}]}
    run = httpx.post(f"{one}/acp/runs", json=body, headers=as_("ide"), timeout=30).json()
    assert run["status"] == "awaiting"
    runs = f"{two}/acp/runs/{run['run_id']}"
    resume = {"await_resume": {"message": {"parts": [{"content": "y"}]}}, "mode": "sync"}
    for method, path, payload in (
        ("GET", runs, None),
        ("GET", f"{runs}/events", None),
        ("POST", runs, resume),
        ("POST", f"{runs}/cancel", None),
    ):
        reply = httpx.request(method, path, json=payload, headers=as_("bot"), timeout=30)
        assert (reply.status_code, reply.json()["code"]) == (404, "not_found"), path
    answered = httpx.post(runs, json=resume, headers=as_("ide"), timeout=30).json()
    assert answered["status"] == "completed"


def test_another_callers_paused_mcp_call_is_not_carried_on_by_another_replica(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }

    def call(base: str, who: str, extra: dict[str, Any]) -> dict[str, Any]:
        params = {"name": "echo.ask", "arguments": {"text": "x"}, "_meta": meta, **extra}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        headers = {
            **as_(who),
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": MODERN,
            "mcp-method": "tools/call",
            "mcp-name": "echo.ask",
        }
        reply = httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)
        if reply.headers.get("content-type", "").startswith("text/event-stream"):
            # The answer to a call is the stream's last message (earlier ones are progress).
            data = [line[5:] for line in reply.text.splitlines() if line.startswith("data:")]
            last: dict[str, Any] = json.loads(data[-1])
            return last
        out: dict[str, Any] = reply.json()
        return out

    paused = call(one, "ide", {})["result"]
    assert paused["resultType"] == "input_required", paused
    answer = {
        "requestState": paused["requestState"],
        "inputResponses": {"input": {"action": "accept", "content": {"text": "y"}}},
    }
    refused = call(two, "bot", answer)
    assert refused["error"]["code"] == jsonrpc.INVALID_PARAMS
    done = call(two, "ide", answer)["result"]
    assert done["content"] == [{"type": "text", "text": "y"}]


def test_another_callers_legacy_mcp_session_is_unknown_on_every_replica(
    replicas: tuple[str, str],
) -> None:
    """A 2025-11-25 session opened on one replica is taken up on the other by its owner
    alone; to another caller it is an unknown session on both (404, as the SDK answers any),
    whatever it sends: a request, a cancel, a delete, a GET stream."""
    one, two = replicas
    legacy = "2025-11-25"
    accept = "application/json, text/event-stream"
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": legacy,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {**as_("ide"), "accept": accept}
    opened = httpx.post(f"{one}/mcp", json=init, headers=headers, timeout=30)
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}

    def in_session(who: str) -> dict[str, str]:
        return {
            **as_(who),
            "accept": accept,
            "mcp-session-id": session,
            "mcp-protocol-version": legacy,
        }

    for base in (two, one):
        for method, payload in (
            ("POST", listing),
            ("POST", cancel),
            ("GET", None),
            ("DELETE", None),
        ):
            reply = httpx.request(
                method, f"{base}/mcp", json=payload, headers=in_session("bot"), timeout=30
            )
            assert reply.status_code == 404, (base, method)
            assert reply.json()["error"]["code"] == jsonrpc.INVALID_REQUEST
    listed = httpx.post(f"{two}/mcp", json=listing, headers=in_session("ide"), timeout=30)
    assert listed.status_code == 200
    assert "echo.echo" in listed.text


def test_a_replicas_console_shows_its_owner_the_tasks_another_replica_runs(
    replicas: tuple[str, str],
) -> None:
    """The console's live socket on one replica lists the tasks started on the other (read
    from the shared store), each to the callers who may see it only."""
    one, two = replicas
    body = {"agent_name": "echo.wait", "mode": "async", "input": [{"parts": [{"content": "x"}]}]}

    def start(who: str) -> str:
        reply = httpx.post(f"{two}/acp/runs", json=body, headers=as_(who), timeout=30)
        assert reply.status_code == 202, reply.text
        return str(reply.json()["run_id"])

    def console(who: str) -> Any:
        offered = [
            websockets.Subprotocol("effmesh.console"),
            websockets.Subprotocol(bearer(TOKENS[who])),
        ]
        url = one.replace("http://", "ws://") + "/console/ws"
        return connect(url, subprotocols=offered, origin=websockets.Origin(one), open_timeout=10)

    def tasks_until(socket: Any, wanted: str) -> set[str]:
        """The ids of the tasks the console shows, until it shows ``wanted``."""
        shown: set[str] = set()
        deadline = time.monotonic() + 30
        while wanted not in shown:
            frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if frame["type"] == "task":
                shown.add(frame["task"]["id"])
        return shown

    ides = start("ide")
    with console("ide") as socket:
        assert ides in tasks_until(socket, ides)
    with console("bot") as socket:
        bots = start("bot")
        assert ides not in tasks_until(socket, bots)
    for who, run in (("ide", ides), ("bot", bots)):
        cancel = f"{two}/acp/runs/{run}/cancel"
        assert httpx.post(cancel, headers=as_(who), timeout=30).status_code in (200, 202)


def bearer(secret: str) -> str:
    return "effmesh.bearer." + base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")
