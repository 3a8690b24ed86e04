"""The ACP adapter against acp-sdk's own models (acp_sdk.models, pydantic)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from acp_sdk.models import (
    AgentManifest,
    Artifact,
    AwaitResume,
    CitationMetadata,
    Error,
    Event,
    Message,
    MessageAwaitRequest,
    MessagePart,
    Metadata,
    Run,
    TrajectoryMetadata,
)
from acp_sdk.models.schemas import RunCreateRequest, RunResumeRequest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

from adapters import acp
from adapters import errors as E
from adapters import model as c
from adapters.model import Invocation, TaskState
from tests.badinput import bad_bytes, bad_documents
from tests.errorcases import ERRORS
from tests.jsonvalues import ids, json_objects

rule = pytest.mark.rule


def _no_clock(value: Any) -> Any:
    """Absent message timestamps read as None, not as the SDK's "now" (which differs per read)."""
    if isinstance(value, dict):
        out = {k: _no_clock(v) for k, v in value.items()}
        if "parts" in out and "role" in out:
            out.setdefault("created_at", None)
            out.setdefault("completed_at", None)
        return out
    if isinstance(value, list):
        return [_no_clock(v) for v in value]
    return value


def norm(cls: type[BaseModel] | Any, wire: Any) -> Any:
    """The SDK's own reading of ``wire``, with JSON content compared as JSON."""
    wire = _no_clock(wire)
    value = cls.model_validate(wire) if isinstance(cls, type) else cls.validate_python(wire)
    dumped = (
        value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else value
    )
    return _json_content(dumped)


def _json_content(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _json_content(v) for k, v in value.items()}
        ctype = out.get("content_type") or ""
        if (
            out.get("content_encoding") != "base64"
            and isinstance(out.get("content"), str)
            and (ctype == "application/json" or ctype.endswith("+json"))
        ):
            out["content"] = json.loads(out["content"])
        return out
    if isinstance(value, list):
        return [_json_content(v) for v in value]
    return value


stamps = st.none() | st.sampled_from(["2026-11-24T10:00:00Z", "2026-11-24T10:00:01.500000Z"])
urls = st.sampled_from(["https://x.test/a.png", "https://example.test/doc/1.pdf"])
citations = st.builds(
    CitationMetadata,
    start_index=st.none() | st.integers(0, 9),
    url=st.none() | urls,
    title=st.none() | st.text(max_size=5),
)
trajectories = st.builds(
    TrajectoryMetadata, message=st.none() | st.text(max_size=5), tool_name=st.none() | ids
)


@st.composite
def message_parts(draw: st.DrawFn) -> MessagePart:
    kind = draw(st.sampled_from(["text", "markdown", "json", "base64", "url", "empty"]))
    name = draw(st.none() | ids)
    meta = draw(st.none() | citations | trajectories)
    if kind == "text":
        return MessagePart(name=name, content=draw(st.text(max_size=10)), metadata=meta)
    if kind == "markdown":
        return MessagePart(name=name, content="# t", content_type="text/markdown", metadata=meta)
    if kind == "json":
        ctype = draw(st.sampled_from(["application/json", "application/vnd.x+json"]))
        return MessagePart(
            name=name, content=json.dumps(draw(json_objects)), content_type=ctype, metadata=meta
        )
    if kind == "base64":
        raw = base64.b64encode(draw(st.binary(max_size=12))).decode()
        return MessagePart(
            name=name,
            content=raw,
            content_encoding="base64",
            content_type="image/png",
            metadata=meta,
        )
    if kind == "url":
        return MessagePart(
            name=name, content_url=draw(urls), content_type="image/png", metadata=meta
        )
    return MessagePart(name=name, metadata=meta)


@st.composite
def messages(draw: st.DrawFn, roles: tuple[str, ...] = ("user", "agent", "agent/x")) -> Message:
    return Message(
        role=draw(st.sampled_from(roles)),
        parts=draw(st.lists(message_parts(), max_size=3)),
        created_at=draw(stamps),
        completed_at=draw(stamps),
    )


@rule(
    "acp.decode.part.text",
    "acp.decode.part.json",
    "acp.decode.part.base64",
    "acp.decode.part.url",
    "acp.decode.part.metadata",
    "acp.decode.message",
    "acp.decode.run_create",
    "acp.encode.part",
    "acp.encode.message",
    "acp.encode.run_create",
)
@given(
    st.lists(messages(), min_size=1, max_size=3),
    st.none() | st.uuids().map(str),
    st.sampled_from(["sync", "async", "stream"]),
)
def test_run_create_requests_survive_a_round_trip(
    inputs: list[Message], session: str | None, mode: str
) -> None:
    wire = RunCreateRequest(
        agent_name="echo", session_id=session, input=inputs, mode=mode
    ).model_dump(mode="json", exclude_none=True)
    inv = acp.decode_invocation(wire)
    assert (inv.skill, inv.mode, len(inv.history)) == ("echo", mode, len(inputs) - 1)
    body, headers = acp.encode_invocation(inv)
    assert headers == {}
    assert norm(RunCreateRequest, body) == norm(RunCreateRequest, wire)


@rule("acp.decode.run_create.trace")
def test_trace_context_comes_from_and_goes_to_http_headers() -> None:
    body = {"agent_name": "a", "input": [{"role": "user", "parts": [{"content": "hi"}]}]}
    inv = acp.decode_invocation(body, headers={"TraceParent": "00-a-b-01", "baggage": "k=v"})
    assert inv.trace == c.TraceContext("00-a-b-01", None, "k=v")
    assert acp.encode_invocation(inv)[1] == {"traceparent": "00-a-b-01", "baggage": "k=v"}


@rule("acp.encode.run_create.refused")
def test_what_a_run_request_cannot_carry_raises_cannot_carry() -> None:
    message = c.Message("user", (c.TextPart("x"),))
    refused = [
        Invocation("a", message, mode="async", progress_token=3),
        Invocation("a", message, metadata={"a2a.tenant": "t"}),
    ]
    for inv in refused:
        with pytest.raises(E.CannotCarry) as info:
            acp.encode_invocation(inv)
        assert info.value.target == "an ACP run request"
    # A caller who wants progress gets a stream-mode run: ACP's only way to report it.
    body, _ = acp.encode_invocation(Invocation("a", message, progress_token=3))
    assert body["mode"] == "stream"


@st.composite
def runs(draw: st.DrawFn) -> Run:
    status = draw(
        st.sampled_from(
            ["created", "in-progress", "awaiting", "cancelling", "cancelled", "completed", "failed"]
        )
    )
    run = Run(
        run_id=draw(st.uuids()),
        agent_name=draw(ids),
        session_id=draw(st.none() | st.uuids()),
        status=status,
        output=draw(st.lists(messages(("agent", "agent/y")), max_size=2)),
        created_at="2026-11-24T10:00:00Z",
        finished_at=draw(stamps),
    )
    if status == "awaiting":
        run.await_request = MessageAwaitRequest(message=draw(messages(("agent",))))
    if status == "failed":
        run.error = Error(
            code=draw(st.sampled_from(["server_error", "invalid_input"])),
            message=draw(st.text(min_size=1, max_size=8)),
        )
    return run


@rule("acp.encode.session")
def test_a_context_id_that_is_not_a_uuid_gets_a_stable_session_and_comes_back() -> None:
    inv = Invocation("a", c.Message("user", (c.TextPart("x"),), context_id="ctx-7"))
    body, _ = acp.encode_invocation(inv)
    RunCreateRequest.model_validate(body)
    again, _ = acp.encode_invocation(inv)
    assert body["session_id"] == again["session_id"]
    assert acp.decode_invocation(body).message.context_id == "ctx-7"
    task = c.Task(str(uuid.uuid4()), TaskState.COMPLETED, context_id="ctx-7")
    run = acp.encode_outcome(task, agent_name="a")
    Run.model_validate(run)
    assert acp.decode_outcome(run).context_id == "ctx-7"


@rule("acp.decode.run", "acp.encode.run")
@given(runs())
def test_runs_in_every_status_survive_a_round_trip(run: Run) -> None:
    wire = run.model_dump(mode="json", exclude_none=True)
    task = acp.decode_outcome(wire)
    again = acp.encode_outcome(task, agent_name=str(run.agent_name))
    assert norm(Run, again) == norm(Run, wire)


@rule("acp.encode.run", "acp.encode.run.auth_required")
def test_canonical_tasks_become_runs_and_what_acp_lacks_is_refused() -> None:
    rid = str(uuid.uuid4())
    rejected = c.Task(
        rid, TaskState.REJECTED, status_message=c.Message("agent", (c.TextPart("no"),))
    )
    run = acp.encode_outcome(rejected, agent_name="a")
    Run.model_validate(run)
    assert run["status"] == "failed"
    assert acp.decode_outcome(run).state is TaskState.REJECTED
    named = c.Task(
        rid,
        TaskState.COMPLETED,
        artifacts=(c.Artifact("report", (c.TextPart("body"),), "Report", "the report"),),
    )
    back = acp.decode_outcome(acp.encode_outcome(named, agent_name="a"))
    assert back.artifacts == named.artifacts
    reply = acp.encode_outcome(c.Message("agent", (c.TextPart("hi"),)), agent_name="a")
    assert Run.model_validate(reply).status == "completed"
    with pytest.raises(E.CannotCarry):
        acp.encode_outcome(c.Task(rid, TaskState.AUTH_REQUIRED), agent_name="a")


@rule("acp.decode.resume", "acp.encode.resume", "acp.decode.cancel", "acp.encode.cancel")
@given(messages(("user",)), st.sampled_from(["sync", "async", "stream"]))
def test_resume_and_cancel_survive_a_round_trip(message: Message, mode: str) -> None:
    wire = RunResumeRequest(await_resume=AwaitResume(message=message), mode=mode).model_dump(
        mode="json", exclude_none=True
    )
    resume = acp.decode_resume("r-1", wire)
    assert resume.task_id == "r-1"
    assert norm(RunResumeRequest, acp.encode_resume(resume)) == norm(RunResumeRequest, wire)
    assert acp.encode_cancel(acp.decode_cancel("r-1")) == "r-1"
    with pytest.raises(E.CannotCarry):
        acp.encode_cancel(c.Cancel("r-1", reason="user"))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["run", "message.created", "message.completed", "part", "generic", "progress"]
        )
    )
    if kind == "run":
        run = draw(runs())
        names = {
            "created": "run.created",
            "in-progress": "run.in-progress",
            "awaiting": "run.awaiting",
            "completed": "run.completed",
            "failed": "run.failed",
            "cancelled": "run.cancelled",
            "cancelling": "run.in-progress",
        }
        return {
            "type": names[run.status.value],
            "run": run.model_dump(mode="json", exclude_none=True),
        }
    if kind.startswith("message."):
        return {
            "type": kind,
            "message": draw(messages(("agent",))).model_dump(mode="json", exclude_none=True),
        }
    if kind == "part":
        part = draw(message_parts())
        part.name = part.name or "p"
        return {"type": "message.part", "part": part.model_dump(mode="json", exclude_none=True)}
    if kind == "generic":
        return {
            "type": "generic",
            "generic": draw(json_objects.filter(lambda d: "progress" not in d)),
        }
    return {"type": "generic", "generic": {"token": draw(ids), "progress": 1.5, "total": 3.0}}


@rule(
    "acp.decode.event.run",
    "acp.decode.event.message",
    "acp.decode.event.part",
    "acp.decode.event.generic",
    "acp.encode.event",
)
@given(events())
def test_run_events_survive_a_round_trip(event: dict[str, Any]) -> None:
    adapter = TypeAdapter(Event)
    item = acp.decode_stream_item(event, run_id="r-1")
    run = event.get("run")
    name = run["agent_name"] if isinstance(run, dict) else "a"
    (again,) = acp.encode_stream_item(item, agent_name=name)
    theirs = adapter.validate_python(_no_clock(event)).model_dump(mode="json", exclude_none=True)
    ours = adapter.validate_python(_no_clock(again)).model_dump(mode="json", exclude_none=True)
    assert _json_content(ours) == _json_content(theirs)


@rule("acp.decode.event.error")
def test_an_error_event_raises_the_peers_error() -> None:
    event = {"type": "error", "error": {"code": "not_found", "message": "no such agent"}}
    with pytest.raises(E.NotFound):
        acp.decode_stream_item(event)


@rule("acp.encode.event")
def test_an_artifact_update_becomes_one_part_event_per_part() -> None:
    chunk = c.ArtifactEvent("r", c.Artifact("a", (c.TextPart("x"), c.TextPart("y"))))
    out = acp.encode_stream_item(chunk, agent_name="a")
    assert [e["type"] for e in out] == ["message.part", "message.part"]
    progress = acp.encode_stream_item(c.ProgressEvent("t", 1.0, 2.0, "half"), agent_name="a")
    assert acp.decode_stream_item(progress[0]) == c.ProgressEvent("t", 1.0, 2.0, "half")


@rule("acp.decode.manifest", "acp.encode.manifest")
@given(
    st.builds(
        AgentManifest,
        name=ids,
        description=st.none() | st.text(max_size=8),
        metadata=st.builds(
            Metadata,
            tags=st.none() | st.lists(ids, min_size=1, max_size=2),
            framework=st.none() | st.just("beeai"),
        ),
        input_content_types=st.lists(
            st.sampled_from(["text/plain", "*/*"]), min_size=1, max_size=2
        ),
    )
)
def test_manifests_survive_a_round_trip(manifest: AgentManifest) -> None:
    wire = manifest.model_dump(mode="json", exclude_none=True)
    (again,) = acp.encode_agent(acp.decode_agent(wire))
    assert norm(AgentManifest, again) == norm(AgentManifest, wire)


@rule("acp.encode.manifest")
def test_an_agent_with_several_skills_is_several_acp_agents() -> None:
    schema = {"type": "object"}
    agent = c.AgentDescriptor("calc", (c.Skill("add", input_schema=schema), c.Skill("mul")))
    manifests = acp.encode_agent(agent)
    assert [m["name"] for m in manifests] == ["calc.add", "calc.mul"]
    for m in manifests:
        AgentManifest.model_validate(m)
    assert acp.decode_agent(manifests[0]).skills[0].input_schema == schema


@rule("acp.encode.error", "acp.decode.error")
@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_maps_to_an_acp_error_and_back(error: E.EffmeshError) -> None:
    status, body = acp.encode_error(error)
    Error.model_validate(body)
    assert 400 <= status < 600
    assert type(acp.decode_error(status, body)).code == error.code
    bare = {"code": body["code"], "message": "m"}
    if body["code"] == "not_found":
        assert acp.decode_error(status, bare).code == E.ErrorCode.NOT_FOUND


@rule("acp.encode.error")
def test_foreign_exception_text_never_reaches_an_acp_client() -> None:
    status, body = acp.encode_error(OSError("/var/lib/secret"))
    assert status == 500
    assert "secret" not in json.dumps(body)


def _valid_bodies() -> list[Any]:
    run = Run(
        agent_name="a",
        status="completed",
        output=[Message(role="agent", parts=[MessagePart(content="x")])],
    ).model_dump(mode="json")
    return [
        RunCreateRequest(
            agent_name="a",
            input=[
                Message(
                    parts=[
                        MessagePart(content="hi"),
                        MessagePart(content='{"a": 1}', content_type="application/json"),
                        MessagePart(
                            content="AAEC", content_encoding="base64", content_type="image/png"
                        ),
                    ]
                )
            ],
        ).model_dump(mode="json"),
        run,
        {"type": "run.completed", "run": run},
        {"type": "message.part", "part": Artifact(name="n", content="x").model_dump(mode="json")},
        AgentManifest(name="a", description="d").model_dump(mode="json"),
        {
            "await_resume": {"type": "message", "message": {"role": "user", "parts": []}},
            "mode": "sync",
        },
    ]


def _check(exc: BaseException) -> None:
    assert isinstance(exc, E.EffmeshError), repr(exc)
    status, body = acp.encode_error(exc)
    Error.model_validate(body)
    assert 400 <= status < 600
    assert "Traceback" not in body["message"]


@rule("acp.decode.bad_input")
def test_ten_thousand_bad_inputs_each_get_an_acp_error() -> None:
    valid = _valid_bodies()
    statuses: set[int] = set()
    for raw in bad_bytes(valid, 5000, seed=31):
        try:
            acp.decode_invocation(acp.parse_body(raw))
        except Exception as exc:
            _check(exc)
            statuses.add(acp.encode_error(exc)[0])
    assert {413, 400} <= statuses
    decoders = (
        acp.decode_invocation,
        acp.decode_outcome,
        acp.decode_stream_item,
        acp.decode_agent,
        lambda d: acp.decode_resume("r", d),
    )
    for doc in bad_documents(valid, 5000, seed=32):
        for decode in decoders:
            try:
                decode(doc)
            except Exception as exc:
                _check(exc)


@rule("acp.decode.bad_input")
@pytest.mark.parametrize(
    "body",
    [
        {"agent_name": "a", "input": []},
        {"agent_name": 3, "input": [{"parts": []}]},
        {"agent_name": "a", "input": [{"role": "boss", "parts": []}]},
        {
            "agent_name": "a",
            "input": [{"parts": [{"content": "!!", "content_encoding": "base64"}]}],
        },
        {
            "agent_name": "a",
            "input": [{"parts": [{"content": "{", "content_type": "application/json"}]}],
        },
        {"agent_name": "a", "input": [{"parts": []}], "mode": "eventually"},
    ],
)
def test_bad_run_requests_are_invalid_input(body: dict[str, Any]) -> None:
    with pytest.raises(E.BadInput) as info:
        acp.decode_invocation(body)
    assert acp.encode_error(info.value)[0] == 400


@rule("acp.encode.event.status_data")
def test_a_working_status_with_data_becomes_a_generic_event() -> None:
    message = c.Message("agent", (c.TextPart("s1 started"), c.DataPart({"event": "plan"})))
    status = c.StatusEvent("r", c.TaskState.WORKING, message=message)
    (event,) = acp.encode_stream_item(status, agent_name="a")
    assert event == {"type": "generic", "generic": {"event": "plan", "message": "s1 started"}}
    plain = c.StatusEvent("r", c.TaskState.WORKING, message=c.Message("agent", (c.TextPart("x"),)))
    assert acp.encode_stream_item(plain, agent_name="a")[0]["type"] == "run.in-progress"
