"""The MCP adapter against the MCP SDK's own wire models (mcp-types)."""

from __future__ import annotations

import base64
import json
from typing import Any

import mcp_types as mt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_types.jsonrpc import JSONRPCError
from mcp_types.methods import validate_client_request, validate_server_result
from pydantic import BaseModel

from adapters import errors as E
from adapters import jsonrpc, mcp
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
from tests.errorcases import ERRORS
from tests.jsonvalues import ids, json_objects, json_values

rule = pytest.mark.rule
OLD_VERSIONS = ("2025-06-18", "2025-11-25")


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _drop_empty_meta(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty_meta(v) for k, v in value.items() if not (k == "_meta" and v == {})}
    if isinstance(value, list):
        return [_drop_empty_meta(v) for v in value]
    return value


def norm(cls: type[BaseModel], wire: dict[str, Any]) -> dict[str, Any]:
    """The SDK's own reading of ``wire``; an empty ``_meta`` says nothing and is dropped."""
    return _drop_empty_meta(dump(cls.model_validate(wire)))


b64 = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode())
annotations = st.none() | st.builds(
    mt.Annotations,
    audience=st.none() | st.lists(st.sampled_from(["user", "assistant"]), max_size=2),
    priority=st.none() | st.floats(0, 1),
)
metas = st.none() | json_objects
text_blocks = st.builds(
    mt.TextContent, text=st.text(max_size=20), annotations=annotations, meta=metas
)
image_blocks = st.builds(
    mt.ImageContent,
    data=b64,
    mime_type=st.sampled_from(["image/png", "image/jpeg", "application/x"]),
    annotations=annotations,
    meta=metas,
)
audio_blocks = st.builds(
    mt.AudioContent,
    data=b64,
    mime_type=st.sampled_from(["audio/wav", "audio/mpeg", "image/gif"]),
    meta=metas,
)
uris = st.sampled_from(["file:///a.txt", "https://x.test/r", "mem://1", "effmesh:attachment"])
mimes = st.none() | st.sampled_from(["text/plain", "application/pdf", "image/png"])
resource_blocks = st.builds(
    mt.EmbeddedResource,
    resource=st.builds(mt.TextResourceContents, uri=uris, mime_type=mimes, text=st.text(max_size=9))
    | st.builds(mt.BlobResourceContents, uri=uris, mime_type=mimes, blob=b64, meta=metas),
    annotations=annotations,
    meta=metas,
)
link_blocks = st.builds(
    mt.ResourceLink,
    uri=uris,
    name=st.text(min_size=1, max_size=8),
    title=st.none() | st.text(max_size=8),
    description=st.none() | st.text(max_size=8),
    mime_type=mimes,
    size=st.none() | st.integers(0, 10**6),
    annotations=annotations,
    meta=metas,
)
blocks = text_blocks | image_blocks | audio_blocks | resource_blocks | link_blocks
plain_meta = st.none() | st.dictionaries(
    st.sampled_from(["a", "b", "x-y"]), json_values, max_size=2
)


@st.composite
def call_params(draw: st.DrawFn) -> dict[str, Any]:
    meta = draw(plain_meta) or {}
    if draw(st.booleans()):
        meta["progressToken"] = draw(st.integers(0, 99) | ids)
    if draw(st.booleans()):
        meta["traceparent"] = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        if draw(st.booleans()):
            meta["tracestate"] = "k=v"
    arguments = draw(
        st.none() | json_objects | st.builds(lambda t: {"text": t}, st.text(max_size=10))
    )
    params = mt.CallToolRequestParams(name=draw(ids), arguments=arguments, meta=meta or None)
    return dump(params)


@st.composite
def call_results(draw: st.DrawFn) -> dict[str, Any]:
    structured = draw(st.none() | json_objects)
    result = mt.CallToolResult(
        content=draw(st.lists(blocks, max_size=4)),
        structured_content=structured,
        is_error=draw(st.booleans()),
        meta=draw(plain_meta),
    )
    return dump(result)


@rule(
    "mcp.decode.call",
    "mcp.decode.call.text",
    "mcp.decode.call.data",
    "mcp.decode.call.meta",
    "mcp.encode.call",
    "mcp.encode.call.text",
    "mcp.encode.call.data",
)
@given(call_params())
def test_tools_call_request_survives_a_round_trip(params: dict[str, Any]) -> None:
    inv = mcp.decode_invocation(params)
    again = mcp.encode_invocation(inv)
    assert norm(mt.CallToolRequestParams, again) == norm(mt.CallToolRequestParams, params)
    for version in OLD_VERSIONS:
        validate_client_request("tools/call", version, again)


@rule("mcp.decode.call.reserved")
def test_text_arguments_become_a_text_part_and_trace_is_lifted_out() -> None:
    inv = mcp.decode_invocation(
        {
            "name": "echo",
            "arguments": {"text": "hi"},
            "_meta": {
                "progressToken": 7,
                "traceparent": "00-1-2-01",
                "baggage": "a=b",
                "k": 1,
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            },
        }
    )
    assert inv.message == Message("user", (TextPart("hi"),))
    assert inv.progress_token == 7
    assert inv.trace == TraceContext("00-1-2-01", None, "a=b")
    assert dict(inv.metadata) == {"k": 1}


@st.composite
def sdk_call_params(draw: st.DrawFn) -> dict[str, Any]:
    """``tools/call`` params with the parts the SDK models apart: reserved and null ``_meta``
    entries, a task request, and a 2026-07-28 retry's answers and state."""
    params = draw(call_params())
    if draw(st.booleans()):
        extra = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "gone": None}
        params["_meta"] = {**params.get("_meta", {}), **extra}
    if draw(st.booleans()):
        params["task"] = {"ttl": draw(st.none() | st.integers(0, 10**6))}
    if draw(st.booleans()):
        answer = {"action": "accept", "content": {"text": draw(st.text(max_size=5))}}
        params["inputResponses"] = {"input": answer}
    if draw(st.booleans()):
        params["requestState"] = draw(ids)
    return params


@rule("mcp.decode.call", "mcp.decode.call.meta", "mcp.decode.call.reserved")
@given(sdk_call_params())
def test_the_sdks_validated_params_decode_as_their_wire_dump_does(wire: dict[str, Any]) -> None:
    typed = mt.CallToolRequestParams.model_validate(wire, by_name=False)
    assert mcp.decode_call_params(typed) == mcp.decode_invocation(dump(typed))


@rule("mcp.decode.call", "mcp.decode.call.text", "mcp.decode.call.data", "mcp.encode.call")
@given(call_params())
def test_the_sdks_validated_params_survive_a_round_trip(wire: dict[str, Any]) -> None:
    typed = mt.CallToolRequestParams.model_validate(wire, by_name=False)
    again = mt.CallToolRequestParams.model_validate(
        mcp.encode_invocation(mcp.decode_call_params(typed)), by_name=False
    )
    assert _drop_empty_meta(dump(again)) == _drop_empty_meta(dump(typed))


def test_a_retrys_answers_and_state_reach_the_invocation_metadata() -> None:
    answer = mt.ElicitResult(action="accept", content={"text": "yes"})
    typed = mt.CallToolRequestParams(
        name="a.b",
        arguments={"text": "hi"},
        input_responses={"input": answer},
        request_state="tok",
        meta={"progress_token": 3, "k": None},
    )
    inv = mcp.decode_call_params(typed)
    assert inv.progress_token == 3
    assert dict(inv.metadata) == {
        "mcp.inputResponses": {"input": {"action": "accept", "content": {"text": "yes"}}},
        "mcp.requestState": "tok",
    }


@rule(
    "mcp.decode.content.text",
    "mcp.decode.content.image",
    "mcp.decode.content.audio",
    "mcp.decode.content.resource",
    "mcp.decode.content.link",
    "mcp.decode.result",
    "mcp.decode.result.structured",
    "mcp.encode.content.text",
    "mcp.encode.content.bytes",
    "mcp.encode.content.uri",
    "mcp.encode.result",
    "mcp.encode.result.data",
)
@given(call_results())
def test_tools_call_result_survives_a_round_trip(result: dict[str, Any]) -> None:
    task = mcp.decode_outcome(result, task_id="t")
    assert task.state is (TaskState.FAILED if result.get("isError") else TaskState.COMPLETED)
    again = mcp.encode_outcome(task)
    assert norm(mt.CallToolResult, again) == norm(mt.CallToolResult, result)
    for version in OLD_VERSIONS:
        validate_server_result("tools/call", version, again)


def test_content_blocks_map_to_the_expected_parts() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    task = mcp.decode_outcome(
        {
            "content": [
                {"type": "text", "text": "a", "annotations": {"priority": 1}},
                {"type": "image", "data": png, "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///r.txt", "text": "body"}},
                {
                    "type": "resource_link",
                    "uri": "https://x.test/f",
                    "name": "f",
                    "mimeType": "a/b",
                },
            ],
            "structuredContent": {"n": 1},
        }
    )
    parts = task.artifacts[0].parts
    assert parts[0] == TextPart("a", {"mcp.annotations": {"priority": 1}})
    assert parts[1] == FileBytesPart(b"\x89PNG", "image/png")
    assert isinstance(parts[2], FileBytesPart)
    assert (parts[2].data, parts[2].name) == (b"body", "file:///r.txt")
    assert parts[3] == FileUriPart("https://x.test/f", "a/b", "f")
    assert parts[4] == DataPart({"n": 1})


@rule("mcp.decode.content.text", "mcp.encode.content.text")
def test_a_peers_own_mcp_prefixed_meta_keys_are_not_taken_for_the_adapters() -> None:
    result = {"content": [{"type": "text", "text": "", "_meta": {"mcp.type": None, "k": 1}}]}
    again = mcp.encode_outcome(mcp.decode_outcome(result))
    assert again["content"] == result["content"]


@rule("mcp.encode.result.data")
def test_structured_data_gets_a_text_rendering_for_old_clients() -> None:
    task = Task("t", TaskState.COMPLETED, artifacts=(Artifact("a", (DataPart({"n": 1}),)),))
    result = mcp.encode_outcome(task)
    assert result["structuredContent"] == {"n": 1}
    assert json.loads(result["content"][0]["text"]) == {"n": 1}


@rule("mcp.encode.result", "mcp.encode.result.status_message")
@given(
    st.lists(
        st.builds(
            Artifact,
            ids,
            st.lists(st.builds(TextPart, st.text(max_size=5)), max_size=2).map(tuple),
            st.none() | st.text(max_size=5),
            st.none() | st.text(max_size=5),
        ),
        max_size=3,
    ).map(tuple),
    st.none() | st.builds(lambda t: Message("agent", (TextPart(t),)), st.text(max_size=5)),
    st.sampled_from([TaskState.COMPLETED, TaskState.FAILED]),
)
def test_artifact_boundaries_and_status_survive_mcp(
    artifacts: tuple[Artifact, ...], status: Message | None, state: TaskState
) -> None:
    task = Task("t", state, status_message=status, artifacts=artifacts)
    back = mcp.decode_outcome(mcp.encode_outcome(task), task_id="t")
    if artifacts:
        assert back == task
    else:
        # With no artifacts the status message is the result itself.
        parts = status.parts if status else ()
        assert back == Task("t", state, artifacts=(Artifact("result", parts),))


@rule("mcp.encode.result.message")
def test_a_direct_message_reply_becomes_the_result_content() -> None:
    result = mcp.encode_outcome(Message("agent", (TextPart("done"),)))
    assert result == {"content": [{"type": "text", "text": "done"}], "isError": False}


@rule("mcp.encode.result.history")
def test_task_history_is_not_sent_back_to_the_mcp_caller() -> None:
    task = Task(
        "t",
        TaskState.COMPLETED,
        history=(Message("user", (TextPart("q"),)),),
        artifacts=(Artifact("result", (TextPart("a"),)),),
    )
    assert mcp.encode_outcome(task)["content"] == [{"type": "text", "text": "a"}]


@rule("mcp.decode.result.input_required", "mcp.encode.result.input_required")
def test_input_required_uses_the_2026_result_and_elicitation_before() -> None:
    wire = dump(
        mt.InputRequiredResult(
            input_requests={
                "q": mt.ElicitRequest(
                    params=mt.ElicitRequestFormParams(
                        message="name?",
                        requested_schema={
                            "type": "object",
                            "properties": {"n": {"type": "string"}},
                        },
                    )
                )
            },
            request_state="s1",
        )
    )
    task = mcp.decode_outcome(wire, task_id="t")
    assert task.state is TaskState.INPUT_REQUIRED
    again = mcp.encode_outcome(task, version="2026-07-28")
    assert norm(mt.InputRequiredResult, again) == norm(mt.InputRequiredResult, wire)
    question = Task(
        "t", TaskState.INPUT_REQUIRED, status_message=Message("agent", (TextPart("which city?"),))
    )
    modern = mcp.encode_outcome(question, version="2026-07-28")
    validate_server_result("tools/call", "2026-07-28", modern)
    with pytest.raises(E.Unsupported):
        mcp.encode_outcome(question, version="2025-11-25")
    elicit = mcp.elicitation_request(question)
    mt.ElicitRequest.model_validate(elicit)
    assert elicit["params"]["message"] == "which city?"


@rule("mcp.encode.call.other_parts", "mcp.encode.call.history")
def test_invocations_mcp_cannot_carry_raise_cannot_carry() -> None:
    files = Message("user", (FileUriPart("https://x.test/a"),))
    two = Message("user", (TextPart("a"), TextPart("b")))
    listdata = Message("user", (DataPart([1, 2]),))
    for message in (files, two, listdata):
        with pytest.raises(E.CannotCarry) as info:
            mcp.encode_invocation(Invocation("s", message))
        assert info.value.target == "MCP tools/call"
    with pytest.raises(E.CannotCarry) as info:
        mcp.encode_invocation(Invocation("s", two, history=(two,)))
    assert "history" in info.value.content


@rule("mcp.encode.result.data_extra", "mcp.encode.result.nonfinal")
def test_results_mcp_cannot_carry_raise_cannot_carry() -> None:
    two_data = Task(
        "t",
        TaskState.COMPLETED,
        artifacts=(Artifact("a", (DataPart({"a": 1}), DataPart({"b": 2}))),),
    )
    scalar = Task("t", TaskState.COMPLETED, artifacts=(Artifact("a", (DataPart(3),)),))
    working = Task("t", TaskState.WORKING)
    for task in (two_data, scalar, working):
        with pytest.raises(E.CannotCarry) as info:
            mcp.encode_outcome(task)
        assert info.value.target == "MCP tools/call result"


@rule("mcp.encode.result.error_states")
@pytest.mark.parametrize(
    ("state", "error"),
    [
        (TaskState.CANCELED, E.Canceled),
        (TaskState.AUTH_REQUIRED, E.Unauthorized),
        (TaskState.REJECTED, E.Unsupported),
    ],
)
def test_error_states_become_json_rpc_errors(state: TaskState, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        mcp.encode_outcome(Task("t", state))
    wire = mcp.error_response(info.value, 3)
    JSONRPCError.model_validate(wire)


def _tool(**fields: Any) -> mt.Tool:
    # A plain function, so hypothesis does not try to infer the fields left out.
    return mt.Tool(**fields)


@rule("mcp.decode.tool", "mcp.encode.tool")
@given(
    st.lists(
        st.builds(
            _tool,
            name=ids,
            title=st.none() | st.text(max_size=5),
            description=st.none() | st.text(max_size=10),
            input_schema=st.builds(
                lambda p: {"type": "object", "properties": p},
                st.dictionaries(ids, st.just({"type": "string"}), max_size=2),
            ),
            output_schema=st.none() | st.just({"type": "object"}),
            annotations=st.none() | st.builds(mt.ToolAnnotations, read_only_hint=st.booleans()),
            meta=plain_meta,
        ),
        max_size=3,
    ),
    st.none() | ids,
)
def test_tools_list_survives_a_round_trip(tools: list[mt.Tool], cursor: str | None) -> None:
    wire = dump(mt.ListToolsResult(tools=tools, next_cursor=cursor))
    agent = mcp.decode_agent(wire, name="srv")
    assert [s.name for s in agent.skills] == [t.name for t in tools]
    assert norm(mt.ListToolsResult, mcp.encode_agent(agent)) == norm(mt.ListToolsResult, wire)


@rule("mcp.encode.tool")
def test_a_skill_without_schema_becomes_a_text_tool_and_keeps_its_tags() -> None:
    agent = AgentDescriptor("a", (Skill("summarize", "Sums up", tags=("nlp",)),))
    tool = mcp.encode_agent(agent)["tools"][0]
    mt.Tool.model_validate(tool)
    assert tool["inputSchema"]["required"] == ["text"]
    assert mcp.decode_agent({"tools": [tool]}, name="a").skills[0].tags == ("nlp",)


def test_a_tools_input_schema_is_the_one_its_tool_lists() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    for skill in (Skill("plain"), Skill("typed", input_schema=schema)):
        assert mcp.input_schema(skill) == mcp.encode_skill(skill)["inputSchema"]
    assert mcp.input_schema(Skill("typed", input_schema=schema)) is schema


@rule("mcp.decode.progress", "mcp.decode.cancel", "mcp.encode.progress", "mcp.encode.cancel")
@given(
    st.builds(
        mt.ProgressNotificationParams,
        progress_token=ids | st.integers(0, 9),
        progress=st.floats(0, 100),
        total=st.none() | st.floats(0, 100),
        message=st.none() | st.text(max_size=5),
        meta=plain_meta,
    ),
    st.builds(
        mt.CancelledNotificationParams,
        request_id=ids | st.integers(0, 9),
        reason=st.none() | st.text(max_size=5),
    ),
)
def test_progress_and_cancel_notifications_survive_a_round_trip(
    progress: mt.ProgressNotificationParams, cancel: mt.CancelledNotificationParams
) -> None:
    p = norm(mt.ProgressNotificationParams, dump(progress))
    assert norm(mt.ProgressNotificationParams, mcp.encode_progress(mcp.decode_progress(p))) == p
    c = norm(mt.CancelledNotificationParams, dump(cancel))
    assert norm(mt.CancelledNotificationParams, mcp.encode_cancel(mcp.decode_cancel(c))) == c


@rule("mcp.encode.progress", "mcp.encode.stream.other")
def test_streams_carry_progress_and_refuse_content() -> None:
    working = StatusEvent("t", TaskState.WORKING, message=Message("agent", (TextPart("step"),)))
    params = mcp.encode_stream_item(working, progress_token="tok", step=2)
    assert params == {"progressToken": "tok", "progress": 2, "message": "step"}
    mt.ProgressNotificationParams.model_validate(params)
    chunk = ArtifactEvent("t", Artifact("a", (TextPart("x"),)))
    for item in (chunk, Task("t", TaskState.COMPLETED), Message("agent", ())):
        with pytest.raises(E.CannotCarry):
            mcp.encode_stream_item(item, progress_token="tok", step=3)
    relabeled = mcp.encode_stream_item(ProgressEvent("other", 0.5), progress_token=9, step=0)
    assert relabeled["progressToken"] == 9


@rule("mcp.encode.error", "mcp.decode.error")
@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_maps_to_one_json_rpc_error_and_back(error: E.EffmeshError) -> None:
    wire = mcp.error_response(error, 1)
    JSONRPCError.model_validate(wire)
    assert wire["error"]["code"] == mcp.errors.CODES[error.code]
    assert type(mcp.decode_error(wire["error"])).code == error.code
    # A peer without effmesh_code is still understood by its JSON-RPC code.
    bare = {"code": wire["error"]["code"], "message": "m"}
    assert mcp.decode_error(bare).code in {
        c for c, n in mcp.errors.CODES.items() if n == wire["error"]["code"]
    }


@rule("mcp.encode.error")
def test_foreign_exception_text_never_reaches_the_wire() -> None:
    wire = mcp.error_response(KeyError("/etc/secret"), 1)
    assert wire["error"]["code"] == jsonrpc.INTERNAL_ERROR
    assert "secret" not in json.dumps(wire)


def _valid_requests() -> list[Any]:
    return [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": "calc",
                "arguments": {"a": 1, "b": [2]},
                "_meta": {"progressToken": "p"},
            },
        },
        {
            "jsonrpc": "2.0",
            "id": "x",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}},
        },
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": {"progressToken": 1, "progress": 0.5, "total": 1},
        },
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    ]


def _valid_results() -> list[Any]:
    png = base64.b64encode(b"img").decode()
    return [
        {
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image", "data": png, "mimeType": "image/png"},
            ],
            "structuredContent": {"k": 1},
            "isError": False,
        },
        {
            "content": [
                {"type": "resource", "resource": {"uri": "u", "blob": png}},
                {"type": "resource_link", "uri": "u", "name": "n"},
            ],
            "_meta": {"effmesh.artifacts": [{"artifactId": "a", "parts": 2}]},
        },
        {"resultType": "input_required", "requestState": "s", "inputRequests": {}},
        {
            "tools": [
                {"name": "t", "inputSchema": {"type": "object"}, "_meta": {"effmesh.tags": ["x"]}}
            ]
        },
    ]


def _check_error(exc: BaseException, rid: Any) -> None:
    assert isinstance(exc, jsonrpc.EnvelopeError | E.EffmeshError), repr(exc)
    err = exc.error if isinstance(exc, jsonrpc.EnvelopeError) else exc
    wire = mcp.error_response(err, rid)
    JSONRPCError.model_validate(wire)
    assert "Traceback" not in wire["error"]["message"]
    assert "Error(" not in wire["error"]["message"]


@rule("mcp.decode.bad_input")
def test_ten_thousand_bad_requests_each_get_a_json_rpc_error() -> None:
    valid = _valid_requests()
    codes: dict[int, int] = {}
    for raw in bad_bytes(valid, 6000, seed=11):
        try:
            mcp.decode_request(mcp.parse_request(raw))
        except Exception as exc:
            _check_error(exc, None)
            err = exc.error if isinstance(exc, jsonrpc.EnvelopeError) else exc
            code = mcp.encode_error(err)["code"]
            codes[code] = codes.get(code, 0) + 1
    # The generator reaches every kind of envelope failure.
    assert {-32700, -32600, -32601, -32602} <= codes.keys()
    for doc in bad_documents(_valid_results(), 4000, seed=12):
        for decode in (mcp.decode_outcome, lambda d: mcp.decode_agent(d, name="a")):
            try:
                decode(doc)
            except Exception as exc:
                _check_error(exc, 1)


@rule("mcp.decode.bad_input")
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{}}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/frobnicate"}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[]}}',
            -32602,
        ),
        (b"\xff\xfe{}", -32700),
        (b"[" * 100 + b"]" * 100, -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call"', -32700),
    ],
)
def test_bad_requests_get_the_proper_json_rpc_code(raw: bytes, code: int) -> None:
    with pytest.raises(jsonrpc.EnvelopeError) as info:
        mcp.decode_request(mcp.parse_request(raw))
    assert mcp.encode_error(info.value.error)["code"] == code
