"""Every A2A URL of the gateway, as clients derive and call them: with and without a trailing
slash, the card where clients look for it, a per-agent URL that addresses its agent, and the
A2A-Version header as the specification reads it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb

from tests.tck.servers import behind_gateways

pytestmark = pytest.mark.anyio
V1 = {"A2A-Version": "1.0"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """The base URL of a gateway with the TCK's agent (a2a-sdk's server) as ``tck``."""
    with behind_gateways() as (_, front):
        yield front.removesuffix("/a2a/tck")


def send(message_id: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "message": {"role": "ROLE_USER", "messageId": message_id, "parts": [{"text": "hi"}]}
    }
    if metadata is not None:
        params["metadata"] = metadata
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}


@pytest.mark.parametrize("path", ["/a2a/tck", "/a2a/tck/"])
async def test_json_rpc_is_served_with_and_without_a_trailing_slash(
    gateway: str, path: str
) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{gateway}{path}", json=send("tck-complete-task-1"), headers=V1)
    assert r.status_code == 200
    assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize("path", ["/a2a/tck/rest/message:send", "/a2a/tck/rest/message:send/"])
async def test_rest_is_served_with_and_without_a_trailing_slash(gateway: str, path: str) -> None:
    body = send("tck-complete-task-2")["params"]
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{gateway}{path}", json=body, headers=V1)
    assert r.status_code == 200
    assert r.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/a2a/tck", "tck"),
        ("/a2a/tck/", "tck"),
        ("/a2a/tck/.well-known/agent-card.json", "tck"),
        ("/a2a/tck/.well-known/agent-card.json/", "tck"),
        ("/a2a", "effmesh"),
        ("/a2a/", "effmesh"),
        ("/a2a/.well-known/agent-card.json", "effmesh"),
        ("/.well-known/agent-card.json", "effmesh"),
    ],
)
async def test_a_get_on_an_a2a_url_gives_its_card(gateway: str, path: str, name: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{gateway}{path}")
    assert r.status_code == 200
    assert r.json()["name"] == name
    assert r.headers["etag"]


async def test_the_sdk_client_finds_the_card_from_the_agent_url_with_a_slash(
    gateway: str,
) -> None:
    config = ClientConfig(streaming=False)
    async with await create_client(f"{gateway}/a2a/tck/", client_config=config) as client:
        req = pb.SendMessageRequest(
            message=pb.Message(
                message_id="tck-complete-task-3", role=pb.ROLE_USER, parts=[pb.Part(text="hi")]
            )
        )
        responses = [r async for r in client.send_message(req)]
    assert responses[-1].task.status.state == pb.TASK_STATE_COMPLETED


async def test_a_message_naming_no_skill_goes_to_the_agent_the_url_names(gateway: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{gateway}/a2a/tck", json=send("tck-artifact-text-1"), headers=V1)
    task = r.json()["result"]["task"]
    assert task["artifacts"][0]["parts"][0]["text"] == "Generated text content"


async def test_the_gateways_own_url_runs_the_skill_named_else_its_only_one(gateway: str) -> None:
    async with httpx.AsyncClient() as http:
        named = send("tck-complete-task-4", {"effmesh.skill": "tck.tck"})
        r = await http.post(f"{gateway}/a2a", json=named, headers=V1)
        assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        unknown = send("tck-complete-task-5", {"effmesh.skill": "tck.nope"})
        r = await http.post(f"{gateway}/a2a", json=unknown, headers=V1)
        assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_FAILED"
        # No default skill is configured, and the gateway has just one skill.
        r = await http.post(f"{gateway}/a2a", json=send("tck-artifact-text-2"), headers=V1)
    task = r.json()["result"]["task"]
    assert task["artifacts"][0]["parts"][0]["text"] == "Generated text content"


async def test_a_request_without_a_version_is_a_0_3_clients(gateway: str) -> None:
    """The specification: "Agents MUST interpret empty value as 0.3 version"."""
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{gateway}/a2a/tck", json=send("tck-complete-task-6"))
        assert r.json()["error"]["code"] == -32009  # VersionNotSupportedError: 1.0's method
        legacy = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "message/send",
            "params": {
                "message": {
                    "kind": "message",
                    "role": "user",
                    "messageId": "tck-complete-task-7",
                    "parts": [{"kind": "text", "text": "hi"}],
                }
            },
        }
        r = await http.post(f"{gateway}/a2a/tck", json=legacy)
    assert r.json()["result"]["status"]["state"] == "completed"


async def test_the_version_may_ride_in_the_query(gateway: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{gateway}/a2a/tck", params=V1, json=send("tck-complete-task-8"))
    assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
