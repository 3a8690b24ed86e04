"""Two answers to one question at once, on two replicas sharing a PostgreSQL store: an A2A
follow-up to a task in input-required, an ACP resume of an awaiting run, a 2026-07-28 MCP
retry of a paused call. Exactly one carries the task on; the other gets its protocol's
error, and the task ends as the winner's answer made it (never failed by the loser)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters import jsonrpc
from adapters.a2a.errors import UNSUPPORTED_OPERATION
from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.runtime.postgres import PostgresTaskStore
from gateway.runtime.runner import Runtime
from gateway.settings import Config
from tests.servers import running

pytestmark = pytest.mark.anyio
ROUNDS = 4
"""Questions answered twice at once, per protocol."""
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def replicas(postgres_server: Any) -> Iterator[tuple[str, str]]:
    from tests import pg

    with pg.database(postgres_server) as url:
        config = Config(rate_per_minute=0, task_lease_seconds=5)

        def replica(name: str) -> Any:
            def make(base: str) -> Any:
                registry = Registry()
                registry.add(EchoAgent())
                store = PostgresTaskStore(url, replica=name)
                return create_app(registry, config, base_url=base, runtime=Runtime(store))

            return running(make)

        with replica("one") as one, replica("two") as two:
            yield one, two


async def both(*requests: Any) -> list[Any]:
    """Send the requests at once; their answers."""
    return list(await asyncio.gather(*requests))


async def test_two_a2a_answers_at_once_one_completes_the_task_the_other_is_refused(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas

    def send(text: str, task: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "messageId": text,
            "role": "ROLE_USER",
            "parts": [{"text": text}],
        }
        if task is not None:
            message |= {"taskId": task["id"], "contextId": task["contextId"]}
        return {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": message, "metadata": {"effmesh.skill": "ask"}},
        }

    async with httpx.AsyncClient(timeout=30, headers={"A2A-Version": "1.0"}) as http:
        for n in range(ROUNDS):
            started = (await http.post(f"{one}/a2a/echo", json=send(f"q{n}"))).json()
            task = started["result"]["task"]
            assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
            replies = await both(
                http.post(f"{one}/a2a/echo", json=send(f"a{n}-one", task)),
                http.post(f"{two}/a2a/echo", json=send(f"a{n}-two", task)),
            )
            answers = [r.json() for r in replies]
            won = [a for a in answers if "result" in a]
            lost = [a for a in answers if "error" in a]
            assert (len(won), len(lost)) == (1, 1), answers
            assert lost[0]["error"]["code"] == UNSUPPORTED_OPERATION
            done = won[0]["result"]["task"]
            assert done["status"]["state"] == "TASK_STATE_COMPLETED"
            answer = done["artifacts"][0]["parts"][0]["text"]
            assert answer in (f"a{n}-one", f"a{n}-two")
            for base in (one, two):
                get = {"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": task["id"]}}
                read = (await http.post(f"{base}/a2a/echo", json=get)).json()["result"]
                assert read["status"]["state"] == "TASK_STATE_COMPLETED", read
                assert read["artifacts"][0]["parts"][0]["text"] == answer


async def test_two_acp_resumes_at_once_one_completes_the_run_the_other_is_refused(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    start = {"agent_name": "echo.ask", "mode": "sync", "input": [{"parts": [{"content": "q"}]}]}
    async with httpx.AsyncClient(timeout=30) as http:
        for n in range(ROUNDS):
            run = (await http.post(f"{one}/acp/runs", json=start)).json()
            assert run["status"] == "awaiting"

            def resume(text: str) -> dict[str, Any]:
                message = {"parts": [{"content": text}]}
                return {"await_resume": {"message": message}, "mode": "sync"}

            replies = await both(
                http.post(f"{one}/acp/runs/{run['run_id']}", json=resume(f"a{n}-one")),
                http.post(f"{two}/acp/runs/{run['run_id']}", json=resume(f"a{n}-two")),
            )
            statuses = sorted(r.status_code for r in replies)
            assert statuses == [200, 400], [r.text for r in replies]
            refused = next(r for r in replies if r.status_code == 400).json()
            assert refused["code"] == "invalid_input"
            won = next(r for r in replies if r.status_code == 200).json()
            assert won["status"] == "completed"
            answer = won["output"][0]["parts"][0]["content"]
            for base in (one, two):
                read = (await http.get(f"{base}/acp/runs/{run['run_id']}")).json()
                assert read["status"] == "completed"
                assert read["output"][0]["parts"][0]["content"] == answer


async def test_two_mcp_retries_of_one_paused_call_at_once_one_carries_it_on(
    replicas: tuple[str, str],
) -> None:
    one, two = replicas
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "echo.ask",
    }

    async def call(http: httpx.AsyncClient, base: str, extra: dict[str, Any]) -> dict[str, Any]:
        params = {"name": "echo.ask", "arguments": {"text": "x"}, "_meta": meta, **extra}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        reply = await http.post(f"{base}/mcp", json=body, headers=headers)
        data = [line[5:] for line in reply.text.splitlines() if line.startswith("data:")]
        last: dict[str, Any] = json.loads(data[-1]) if data else reply.json()
        return last

    async with httpx.AsyncClient(timeout=30) as http:
        for n in range(ROUNDS):
            paused = (await call(http, one, {}))["result"]
            assert paused["resultType"] == "input_required", paused

            state = paused["requestState"]
            answers = await both(
                call(http, one, answer(state, f"a{n}-one")),
                call(http, two, answer(state, f"a{n}-two")),
            )
            won = [a for a in answers if "result" in a]
            lost = [a for a in answers if "error" in a]
            assert (len(won), len(lost)) == (1, 1), answers
            assert lost[0]["error"]["code"] == jsonrpc.INVALID_PARAMS
            assert won[0]["result"]["content"][0]["text"] in (f"a{n}-one", f"a{n}-two")


def answer(state: str, text: str) -> dict[str, Any]:
    """A retry of a paused call: its token, and the answer to its question."""
    accepted = {"action": "accept", "content": {"text": text}}
    return {"requestState": state, "inputResponses": {"input": accepted}}
