"""The A2A adapter against a2a-sdk's own protobuf types (parsed with json_format)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import Message as ProtoMessage
from hypothesis import given
from hypothesis import strategies as st

from adapters import a2a, jsonrpc
from adapters import errors as E
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    DataPart,
    FileBytesPart,
    FileUriPart,
    Invocation,
    Message,
    ProgressEvent,
    Skill,
    StatusEvent,
    Task,
    TaskState,
    TextPart,
    TraceContext,
)
from tests.badinput import bad_bytes, bad_documents
from tests.jsonvalues import ids

rule = pytest.mark.rule


def to_json(message: ProtoMessage) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def same(cls: type[ProtoMessage], ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Both dicts parse as ``cls`` and hold the same protobuf value."""
    assert json_format.ParseDict(ours, cls()) == json_format.ParseDict(theirs, cls())


# Struct values are doubles: keep generated numbers exactly representable.
struct_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ids, inner, max_size=3),
    max_leaves=6,
)
# An empty Struct that is set and one that is absent say the same; generate non-empty ones.
structs = st.dictionaries(ids, struct_values, min_size=1, max_size=3)
medias = st.sampled_from(["", "text/plain", "image/png", "application/json"])


@st.composite
def parts(draw: st.DrawFn) -> pb.Part:
    kind = draw(st.sampled_from(["text", "raw", "url", "data"]))
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["media_type"] = draw(medias)
    if draw(st.booleans()):
        extra["filename"] = draw(ids)
    if draw(st.booleans()):
        extra["metadata"] = draw(structs)
    if kind == "text":
        return pb.Part(text=draw(st.text(max_size=10)), **extra)
    if kind == "raw":
        return pb.Part(raw=draw(st.binary(max_size=16)), **extra)
    if kind == "url":
        return pb.Part(url=draw(st.sampled_from(["https://x.test/a", "file:///b"])), **extra)
    part = pb.Part(**extra)
    json_format.ParseDict({"data": draw(struct_values.filter(lambda v: v is not None))}, part)
    return part


@st.composite
def messages(draw: st.DrawFn, role: int | None = None) -> pb.Message:
    return pb.Message(
        message_id=draw(ids),
        context_id=draw(st.sampled_from(["", "ctx-1"])),
        task_id=draw(st.sampled_from(["", "t-1"])),
        role=role if role is not None else draw(st.sampled_from([pb.ROLE_USER, pb.ROLE_AGENT])),
        parts=draw(st.lists(parts(), max_size=3)),
        metadata=draw(st.none() | structs),
        extensions=draw(st.lists(ids, max_size=2)),
        reference_task_ids=draw(st.lists(ids, max_size=2)),
    )


STATES = [
    pb.TASK_STATE_SUBMITTED,
    pb.TASK_STATE_WORKING,
    pb.TASK_STATE_INPUT_REQUIRED,
    pb.TASK_STATE_AUTH_REQUIRED,
    pb.TASK_STATE_COMPLETED,
    pb.TASK_STATE_FAILED,
    pb.TASK_STATE_CANCELED,
    pb.TASK_STATE_REJECTED,
]


@st.composite
def statuses(draw: st.DrawFn) -> pb.TaskStatus:
    status = pb.TaskStatus(state=draw(st.sampled_from(STATES)))
    if draw(st.booleans()):
        status.message.CopyFrom(draw(messages(pb.ROLE_AGENT)))
    if draw(st.booleans()):
        status.timestamp.FromSeconds(draw(st.integers(0, 2**31)))
    return status


artifacts = st.builds(
    lambda aid, name, desc, ps, meta, ext: pb.Artifact(
        artifact_id=aid, name=name, description=desc, parts=ps, metadata=meta, extensions=ext
    ),
    ids,
    st.sampled_from(["", "result"]),
    st.sampled_from(["", "d"]),
    st.lists(parts(), max_size=2),
    st.none() | structs,
    st.lists(ids, max_size=1),
)


@st.composite
def tasks(draw: st.DrawFn) -> pb.Task:
    return pb.Task(
        id=draw(ids),
        context_id=draw(st.sampled_from(["", "ctx"])),
        status=draw(statuses()),
        artifacts=draw(st.lists(artifacts, max_size=2)),
        history=draw(st.lists(messages(), max_size=2)),
        metadata=draw(st.none() | structs),
    )


@rule(
    "a2a.decode.part.text",
    "a2a.decode.part.raw",
    "a2a.decode.part.url",
    "a2a.decode.part.data",
    "a2a.decode.message",
    "a2a.decode.send",
    "a2a.encode.part",
    "a2a.encode.message",
    "a2a.encode.send",
)
@given(
    messages(pb.ROLE_USER),
    st.none() | structs,
    st.booleans(),
    st.booleans(),
    st.sampled_from(["", "tenant-a"]),
)
def test_send_message_survives_a_round_trip(
    message: pb.Message,
    meta: dict[str, Any] | None,
    streaming: bool,
    configured: bool,
    tenant: str,
) -> None:
    request = pb.SendMessageRequest(message=message, tenant=tenant)
    request.metadata.update({**(meta or {}), "effmesh.skill": "echo"})
    if configured:
        request.configuration.CopyFrom(
            pb.SendMessageConfiguration(
                accepted_output_modes=["text/plain"], return_immediately=True
            )
        )
    method = "SendStreamingMessage" if streaming else "SendMessage"
    wire = to_json(request)
    inv = a2a.decode_invocation(wire, method=method)
    assert inv.skill == "echo"
    assert inv.mode == ("stream" if streaming else "async" if configured else "sync")
    again_method, again = a2a.encode_invocation(inv)
    assert again_method == method
    same(pb.SendMessageRequest, again, wire)


@rule("a2a.decode.send.trace", "a2a.encode.send.trace")
def test_trace_context_rides_in_message_metadata() -> None:
    wire = {
        "message": {
            "messageId": "m",
            "role": "ROLE_USER",
            "parts": [{"text": "hi"}],
            "metadata": {"traceparent": "00-a-b-01", "tracestate": "k=v", "x": 1},
        }
    }
    inv = a2a.decode_invocation(wire, skill="echo")
    assert inv.trace == TraceContext("00-a-b-01", "k=v")
    assert dict(inv.message.metadata) == {"x": 1}
    _, params = a2a.encode_invocation(inv)
    assert params["message"]["metadata"] == {
        "x": 1,
        "traceparent": "00-a-b-01",
        "tracestate": "k=v",
    }


@rule("a2a.decode.task", "a2a.decode.result.message", "a2a.encode.task")
@given(tasks() | messages(pb.ROLE_AGENT))
def test_send_results_survive_a_round_trip(value: pb.Task | pb.Message) -> None:
    field = "task" if isinstance(value, pb.Task) else "message"
    wire = to_json(pb.SendMessageResponse(**{field: value}))
    outcome = a2a.decode_outcome(wire)
    assert isinstance(outcome, Task if field == "task" else Message)
    same(pb.SendMessageResponse, a2a.encode_outcome(outcome), wire)


@rule("a2a.decode.stream.status", "a2a.decode.stream.artifact", "a2a.encode.stream")
@given(
    st.one_of(
        tasks().map(lambda t: pb.StreamResponse(task=t)),
        messages(pb.ROLE_AGENT).map(lambda m: pb.StreamResponse(message=m)),
        st.builds(
            lambda tid, s, meta: pb.StreamResponse(
                status_update=pb.TaskStatusUpdateEvent(
                    task_id=tid, context_id="c", status=s, metadata=meta
                )
            ),
            ids,
            statuses(),
            st.none() | structs,
        ),
        st.builds(
            lambda tid, a, app, last: pb.StreamResponse(
                artifact_update=pb.TaskArtifactUpdateEvent(
                    task_id=tid, artifact=a, append=app, last_chunk=last
                )
            ),
            ids,
            artifacts,
            st.booleans(),
            st.booleans(),
        ),
    )
)
def test_stream_responses_survive_a_round_trip(response: pb.StreamResponse) -> None:
    wire = to_json(response)
    same(pb.StreamResponse, a2a.encode_stream_item(a2a.decode_stream_item(wire)), wire)


@rule("a2a.decode.stream.progress", "a2a.encode.stream.progress")
@given(
    st.builds(
        ProgressEvent,
        ids | st.integers(0, 99),
        st.integers(0, 100).map(float),
        st.none() | st.integers(1, 100).map(float),
        st.none() | st.text(max_size=6),
    )
)
def test_mcp_progress_survives_a_trip_through_a2a(event: ProgressEvent) -> None:
    wire = a2a.encode_stream_item(event)
    json_format.ParseDict(wire, pb.StreamResponse())
    assert a2a.decode_stream_item(wire) == event


@st.composite
def cards(draw: st.DrawFn) -> pb.AgentCard:
    skills = [
        pb.AgentSkill(
            id=draw(ids),
            name=draw(ids),
            description=draw(st.text(max_size=8)),
            tags=draw(st.lists(ids, max_size=2)),
            examples=draw(st.lists(st.text(max_size=5), max_size=2)),
            input_modes=draw(st.lists(medias, max_size=1)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    card = pb.AgentCard(
        name=draw(ids),
        description=draw(st.text(max_size=8)),
        version="1.0",
        supported_interfaces=[
            pb.AgentInterface(
                url="https://a.test/a2a", protocol_binding="JSONRPC", protocol_version="1.0"
            )
        ],
        capabilities=pb.AgentCapabilities(
            streaming=draw(st.booleans()), push_notifications=draw(st.booleans())
        ),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=skills,
    )
    if draw(st.booleans()):
        card.provider.CopyFrom(pb.AgentProvider(url="https://p.test", organization="P"))
    return card


@rule("a2a.decode.card", "a2a.encode.card")
@given(cards())
def test_agent_cards_survive_a_round_trip(card: pb.AgentCard) -> None:
    wire = to_json(card)
    agent = a2a.decode_agent(wire)
    assert [s.name for s in agent.skills] == [s.id for s in card.skills]
    same(pb.AgentCard, a2a.encode_agent(agent), wire)


@rule("a2a.encode.card")
def test_a_card_carries_skill_schemas_and_points_at_the_gateway() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number"}}}
    agent = AgentDescriptor("calc", (Skill("add", "Adds", input_schema=schema),), url="http://x")
    card = a2a.encode_agent(agent, url="http://gw.test/a2a/calc")
    json_format.ParseDict(card, pb.AgentCard())
    assert card["supportedInterfaces"][0]["url"] == "http://gw.test/a2a/calc"
    assert a2a.decode_agent(card).skills[0].input_schema == schema


@rule("a2a.decode.cancel", "a2a.encode.cancel", "a2a.decode.get", "a2a.encode.get")
@given(ids, st.none() | structs, st.sampled_from(["", "t"]), st.none() | st.integers(0, 9))
def test_cancel_and_get_survive_a_round_trip(
    task_id: str, meta: dict[str, Any] | None, tenant: str, length: int | None
) -> None:
    cancel = to_json(pb.CancelTaskRequest(id=task_id, metadata=meta, tenant=tenant))
    same(pb.CancelTaskRequest, a2a.encode_cancel(a2a.decode_cancel(cancel)), cancel)
    get = to_json(pb.GetTaskRequest(id=task_id, tenant=tenant, history_length=length))
    same(pb.GetTaskRequest, a2a.encode_get_task(a2a.decode_get_task(get)), get)


@rule("a2a.encode.part", "a2a.decode.part.data")
def test_canonical_parts_map_to_a2a_parts_and_back() -> None:
    message = Message(
        "agent",
        (
            TextPart("t", {"a2a.mediaType": "text/markdown"}),
            DataPart({"k": [1, 2]}),
            FileBytesPart(b"\x00\x01", "image/png", "x.png"),
            FileUriPart("https://x.test/f", "application/pdf", "f.pdf"),
        ),
        "m-1",
    )
    wire = a2a.encode_message(message)
    assert [list(p)[0] for p in wire["parts"]] == ["text", "data", "raw", "url"]
    assert wire["parts"][2]["raw"] == base64.b64encode(b"\x00\x01").decode()
    json_format.ParseDict(wire, pb.Message())
    assert a2a.decode_message(wire, "m") == message


@rule("a2a.encode.send.history")
def test_an_invocation_with_history_raises_cannot_carry() -> None:
    one = Message("user", (TextPart("a"),))
    with pytest.raises(E.CannotCarry) as info:
        a2a.encode_invocation(Invocation("s", one, history=(one,)))
    assert info.value.target == "A2A SendMessage"


@rule("a2a.encode.stream")
def test_canonical_events_become_stream_responses() -> None:
    status = StatusEvent(
        "t", TaskState.INPUT_REQUIRED, "c", Message("agent", (TextPart("which?"),), "m")
    )
    chunk = ArtifactEvent("t", Artifact("a", (TextPart("x"),)), append=True)
    for item in (status, chunk):
        wire = a2a.encode_stream_item(item)
        json_format.ParseDict(wire, pb.StreamResponse())
        assert a2a.decode_stream_item(wire) == item


ERRORS = [
    E.ParseError(),
    E.PayloadTooLarge(),
    E.InvalidRequest(),
    E.MethodNotFound("x"),
    E.InvalidParams("bad", path="params"),
    E.NotFound(),
    E.TaskNotFound("t"),
    E.Unsupported(),
    E.CannotCarry("a file", "A2A"),
    E.IllegalTransition("a", "b"),
    E.Unauthorized(),
    E.Forbidden(),
    E.RateLimited(),
    E.Timeout(),
    E.UpstreamUnavailable(),
    E.Canceled(),
    E.Internal(),
]
EXPECTED = {
    "TaskNotFound": -32001,
    "NotFound": -32001,
    "IllegalTransition": -32002,
    "Unsupported": -32004,
    "CannotCarry": -32005,
    "ParseError": -32700,
    "MethodNotFound": -32601,
    "InvalidParams": -32602,
    "Internal": -32603,
}


@rule("a2a.encode.error", "a2a.decode.error")
@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_has_one_a2a_code_and_rest_shape(error: E.EffmeshError) -> None:
    wire = a2a.jsonrpc_error(error, "r1")
    code = wire["error"]["code"]
    assert isinstance(code, int)
    assert code == EXPECTED.get(type(error).__name__, code)
    assert type(a2a.decode_error(wire["error"])).code == error.code
    status, body = a2a.rest_error(error)
    assert 400 <= status < 600
    assert body["error"]["code"] == status
    assert body["error"]["details"][0]["metadata"]["effmesh_code"] == error.code.value


@rule("a2a.encode.error")
def test_foreign_exception_text_never_reaches_an_a2a_peer() -> None:
    wire = a2a.jsonrpc_error(RuntimeError("db password=hunter2"), 1)
    assert "hunter2" not in json.dumps(wire)
    assert "hunter2" not in json.dumps(a2a.rest_error(RuntimeError("hunter2"))[1])


def _valid_requests() -> list[Any]:
    send = to_json(
        pb.SendMessageRequest(
            message=pb.Message(
                message_id="m",
                role=pb.ROLE_USER,
                parts=[pb.Part(text="hi"), pb.Part(raw=b"abc", media_type="image/png")],
            )
        )
    )
    send["metadata"] = {"effmesh.skill": "echo", "effmesh.progressToken": 3}
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": send},
        {"jsonrpc": "2.0", "id": 2, "method": "SendStreamingMessage", "params": send},
        {"jsonrpc": "2.0", "id": 3, "method": "CancelTask", "params": {"id": "t"}},
        {"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": {"id": "t", "historyLength": 2}},
    ]


def _valid_results() -> list[Any]:
    task = to_json(
        pb.Task(
            id="t",
            status=pb.TaskStatus(state=pb.TASK_STATE_COMPLETED),
            artifacts=[pb.Artifact(artifact_id="a", parts=[pb.Part(text="x")])],
        )
    )
    card = to_json(
        pb.AgentCard(
            name="a",
            skills=[pb.AgentSkill(id="s", name="S")],
            capabilities=pb.AgentCapabilities(streaming=True),
        )
    )
    return [
        {"task": task},
        {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_WORKING"}}},
        card,
    ]


def _check(exc: BaseException, rid: Any) -> None:
    assert isinstance(exc, jsonrpc.EnvelopeError | E.EffmeshError), repr(exc)
    err = exc.error if isinstance(exc, jsonrpc.EnvelopeError) else exc
    wire = a2a.jsonrpc_error(err, rid)
    assert isinstance(wire["error"]["code"], int)
    assert isinstance(wire["error"]["message"], str)
    assert "Traceback" not in wire["error"]["message"]


@rule("a2a.decode.bad_input")
def test_ten_thousand_bad_inputs_each_get_an_a2a_error() -> None:
    codes: set[int] = set()
    for raw in bad_bytes(_valid_requests(), 6000, seed=21):
        try:
            a2a.decode_request(a2a.parse_request(raw), skill=None)
        except Exception as exc:
            _check(exc, None)
            err = exc.error if isinstance(exc, jsonrpc.EnvelopeError) else exc
            codes.add(a2a.encode_error(err)["code"])
    assert {-32700, -32600, -32601, -32602} <= codes
    decoders = (a2a.decode_outcome, a2a.decode_stream_item, a2a.decode_agent)
    for doc in bad_documents(_valid_results(), 4000, seed=22):
        for decode in decoders:
            try:
                decode(doc)
            except Exception as exc:
                _check(exc, 1)


@rule("a2a.decode.bad_input")
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_X",'
            b'"messageId":"m","parts":[]},"metadata":{"effmesh.skill":"a"}}}',
            -32602,
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_USER",'
            b'"messageId":"m","parts":[{"text":"a","url":"b"}]},"metadata":{"effmesh.skill":"a"}}}',
            -32602,
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_USER",'
            b'"messageId":"m","parts":[{"raw":"!!"}]},"metadata":{"effmesh.skill":"a"}}}',
            -32602,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"message/send","params":{}}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"CancelTask","params":{"id":5}}', -32602),
    ],
)
def test_bad_a2a_requests_get_the_proper_code(raw: bytes, code: int) -> None:
    with pytest.raises(jsonrpc.EnvelopeError) as info:
        a2a.decode_request(a2a.parse_request(raw))
    assert a2a.encode_error(info.value.error)["code"] == code
