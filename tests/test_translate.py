"""All six directions end to end: one protocol's message in, the other's out, each output
checked with the target protocol's own SDK types."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as mt
import pytest
from a2a.types import a2a_pb2 as pb
from acp_sdk.models import AgentsListResponse, Run
from acp_sdk.models.schemas import RunCreateRequest
from google.protobuf import json_format
from mcp_types.methods import validate_client_request, validate_server_result

from adapters import translate
from adapters.translate import DIRECTIONS, Protocol, TranslationError, Wire
from gateway.cli.demo import A2A_TASK, TOOL_CALL

TRACEPARENT = TOOL_CALL["params"]["_meta"]["traceparent"]


def request_in(proto: Protocol) -> Wire:
    if proto == "mcp":
        return Wire(TOOL_CALL)
    return translate.translate("request", "mcp", proto, Wire(TOOL_CALL))


def result_in(proto: Protocol) -> Wire:
    if proto == "a2a":
        return Wire(A2A_TASK)
    return translate.translate("result", "a2a", proto, Wire(A2A_TASK))


AGENTS: dict[Protocol, Any] = {
    "mcp": {
        "tools": [
            {
                "name": "calc.add",
                "description": "Adds two numbers",
                "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}}},
            }
        ]
    },
    "a2a": {
        "name": "calc",
        "description": "A calculator",
        "version": "1",
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "add", "name": "Add", "description": "Adds", "tags": ["math"]}],
    },
    "acp": {
        "agents": [{"name": "calc.add", "description": "Adds", "metadata": {"tags": ["math"]}}]
    },
}


def check_request(proto: Protocol, wire: Wire) -> None:
    body = wire.body
    if proto == "mcp":
        assert body["method"] == "tools/call"
        validate_client_request("tools/call", "2025-11-25", body["params"])
        assert body["params"]["arguments"] == TOOL_CALL["params"]["arguments"]
        assert body["params"]["_meta"]["traceparent"] == TRACEPARENT
    elif proto == "a2a":
        request = json_format.ParseDict(body["params"], pb.SendMessageRequest())
        assert json_format.MessageToDict(request.message.parts[0])["data"]["expression"] == (
            "2 * (3 + 4)"
        )
        assert request.message.metadata["traceparent"] == TRACEPARENT
    else:
        RunCreateRequest.model_validate(body)
        assert json.loads(body["input"][-1]["parts"][0]["content"])["precision"] == 4
        assert wire.headers["traceparent"] == TRACEPARENT


def check_result(proto: Protocol, wire: Wire) -> None:
    body = wire.body
    if proto == "mcp":
        validate_server_result("tools/call", "2025-11-25", body)
        assert body["content"][0]["text"] == "14"
    elif proto == "a2a":
        response = json_format.ParseDict(body, pb.SendMessageResponse())
        assert response.task.status.state == pb.TASK_STATE_COMPLETED
        assert response.task.artifacts[0].parts[0].text == "14"
    else:
        run = Run.model_validate(body)
        assert run.status == "completed"
        assert run.output[0].parts[0].content == "14"


def check_agent(proto: Protocol, wire: Wire) -> None:
    body = wire.body
    if proto == "mcp":
        result = mt.ListToolsResult.model_validate(body)
        assert result.tools
        assert all(t.input_schema for t in result.tools)
    elif proto == "a2a":
        card = json_format.ParseDict(body, pb.AgentCard())
        assert card.skills
    else:
        assert AgentsListResponse.model_validate(body).agents


DIRECTION_IDS = [f"{s}->{t}" for s, t in DIRECTIONS]


@pytest.mark.rule(*(f"direction.{s}->{t}.request" for s, t in DIRECTIONS))
@pytest.mark.parametrize(("source", "target"), DIRECTIONS, ids=DIRECTION_IDS)
def test_a_tool_call_crosses_every_direction(source: Protocol, target: Protocol) -> None:
    out = translate.translate("request", source, target, request_in(source))
    check_request(target, out)


@pytest.mark.rule(*(f"direction.{s}->{t}.result" for s, t in DIRECTIONS))
@pytest.mark.parametrize(("source", "target"), DIRECTIONS, ids=DIRECTION_IDS)
def test_a_result_crosses_every_direction(source: Protocol, target: Protocol) -> None:
    out = translate.translate("result", source, target, result_in(source))
    check_result(target, out)


@pytest.mark.rule(*(f"direction.{s}->{t}.agent" for s, t in DIRECTIONS))
@pytest.mark.parametrize(("source", "target"), DIRECTIONS, ids=DIRECTION_IDS)
def test_an_agent_description_crosses_every_direction(source: Protocol, target: Protocol) -> None:
    out = translate.translate("agent", source, target, Wire(AGENTS[source]))
    check_agent(target, out)


def test_bytes_in_bytes_out_matches_the_value_path() -> None:
    raw = json.dumps(TOOL_CALL).encode()
    out = translate.translate_bytes("request", "mcp", "a2a", raw)
    assert json.loads(out)["params"]["metadata"]["effmesh.skill"] == "calculator.evaluate"


@pytest.mark.parametrize(
    ("source", "raw", "check"),
    [
        ("mcp", b"{not json", lambda e: e["error"]["code"] == -32700),
        (
            "a2a",
            b'{"jsonrpc":"2.0","id":4,"method":"SendMessage","params":{"message":{}}}',
            lambda e: e["error"]["code"] == -32602 and e["id"] == 4,
        ),
        (
            "acp",
            b'{"agent_name":"a","input":[]}',
            lambda e: e["status"] == 400 and e["body"]["code"] == "invalid_input",
        ),
    ],
)
def test_a_bad_message_is_answered_in_the_senders_protocol(
    source: Protocol, raw: bytes, check: Any
) -> None:
    with pytest.raises(TranslationError) as info:
        translate.translate_bytes("request", source, "mcp" if source != "mcp" else "a2a", raw)
    assert check(json.loads(info.value.wire))


def test_content_the_target_cannot_carry_is_refused_in_the_senders_protocol() -> None:
    message = {
        "messageId": "m",
        "role": "ROLE_USER",
        "parts": [{"text": "look"}, {"url": "https://x.test/cat.png"}],
    }
    request = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "SendMessage",
        "params": {"message": message, "metadata": {"effmesh.skill": "vision"}},
    }
    with pytest.raises(TranslationError) as info:
        translate.translate("request", "a2a", "mcp", Wire(request))
    wire = json.loads(info.value.wire)
    assert (wire["id"], wire["error"]["code"]) == (9, -32005)
    assert wire["error"]["data"][0]["metadata"]["effmesh_code"] == "cannot_carry"
