"""The A2A adapter against a2a-sdk 1.3's own protobuf types and error handling.

Round trips start from valid protobuf messages, go to their JSON (json_format.MessageToDict),
through the canonical model and back, and must parse (json_format.ParseDict) into an equal
protobuf message: protobuf decides what "the same message" means (Struct numbers are doubles,
an absent string equals an empty one).
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from a2a.client.transports.jsonrpc import JsonRpcTransport
from a2a.client.transports.rest import _parse_rest_error
from a2a.server.jsonrpc_models import JSONRPCError
from a2a.types import a2a_pb2 as pb
from a2a.utils import errors as sdk_errors
from google.protobuf import json_format
from google.protobuf.message import Message as ProtoMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import a2a, jsonrpc
from adapters import errors as E
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    Cancel,
    DataPart,
    FileBytesPart,
    FileUriPart,
    GetTask,
    Invocation,
    Message,
    Part,
    ProgressEvent,
    Skill,
    StatusEvent,
    Task,
    TaskState,
    TextPart,
    TraceContext,
)
from tests.badinput import bad_bytes, bad_documents
from tests.jsonvalues import ids, json_objects, json_values

rule = pytest.mark.rule
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def to_json(message: ProtoMessage) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def same(cls: type[ProtoMessage], ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Both dicts parse as ``cls`` (unknown fields refused) and hold the same protobuf value."""
    assert json_format.ParseDict(ours, cls()) == json_format.ParseDict(theirs, cls())


def fixed_ids() -> Callable[[], str]:
    counter = iter(range(10**9))
    return lambda: f"gen-{next(counter)}"


# --- protobuf strategies ---------------------------------------------------------------------

# Struct numbers are doubles: keep generated numbers exactly representable.
struct_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ids, inner, max_size=3),
    max_leaves=6,
)
# An empty Struct that is set and one that is absent read the same; generate non-empty ones.
structs = st.dictionaries(ids, struct_values, min_size=1, max_size=3)
medias = st.sampled_from(["", "text/plain", "text/markdown", "image/png", "application/json"])
PB_STATES = [
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
def pb_parts(draw: st.DrawFn) -> pb.Part:
    kind = draw(st.sampled_from(["text", "raw", "url", "data"]))
    part = pb.Part(
        media_type=draw(medias),
        filename=draw(st.sampled_from(["", "a.txt", "photo.png"])),
    )
    if draw(st.booleans()):
        part.metadata.update(draw(structs))
    if kind == "text":
        part.text = draw(st.text(max_size=10))
    elif kind == "raw":
        part.raw = draw(st.binary(max_size=16))
    elif kind == "url":
        part.url = draw(st.sampled_from(["https://x.test/a", "file:///b", ""]))
    else:
        json_format.ParseDict({"data": draw(struct_values)}, part)  # null included
    return part


@st.composite
def pb_messages(draw: st.DrawFn, role: int | None = None, traced: bool = False) -> pb.Message:
    message = pb.Message(
        message_id=draw(ids),
        context_id=draw(st.sampled_from(["", "ctx-1"])),
        task_id=draw(st.sampled_from(["", "t-1"])),
        role=role if role is not None else draw(st.sampled_from([pb.ROLE_USER, pb.ROLE_AGENT])),
        parts=draw(st.lists(pb_parts(), max_size=3)),
        extensions=draw(st.lists(ids, max_size=2)),
        reference_task_ids=draw(st.lists(ids, max_size=2)),
    )
    meta = draw(st.none() | structs) or {}
    if traced and draw(st.booleans()):
        meta["traceparent"] = TRACEPARENT
        if draw(st.booleans()):
            meta["tracestate"] = "vendor=1"
        if draw(st.booleans()):
            meta["baggage"] = "user=alice"
    if meta:
        message.metadata.update(meta)
    return message


@st.composite
def pb_statuses(draw: st.DrawFn, states: list[int] = PB_STATES) -> pb.TaskStatus:
    status = pb.TaskStatus(state=draw(st.sampled_from(states)))
    if draw(st.booleans()):
        status.message.CopyFrom(draw(pb_messages(pb.ROLE_AGENT)))
    if draw(st.booleans()):
        status.timestamp.seconds = draw(st.integers(0, 2**33))
        status.timestamp.nanos = draw(st.sampled_from([0, 5_000_000, 123_456_789]))
    return status


@st.composite
def pb_artifacts(draw: st.DrawFn) -> pb.Artifact:
    artifact = pb.Artifact(
        artifact_id=draw(ids),
        name=draw(st.sampled_from(["", "result"])),
        description=draw(st.sampled_from(["", "the answer"])),
        parts=draw(st.lists(pb_parts(), max_size=2)),
        extensions=draw(st.lists(ids, max_size=1)),
    )
    if draw(st.booleans()):
        artifact.metadata.update(draw(structs))
    return artifact


@st.composite
def pb_tasks(draw: st.DrawFn, states: list[int] = PB_STATES) -> pb.Task:
    task = pb.Task(
        id=draw(ids),
        context_id=draw(st.sampled_from(["", "ctx"])),
        status=draw(pb_statuses(states)),
        artifacts=draw(st.lists(pb_artifacts(), max_size=2)),
        history=draw(st.lists(pb_messages(), max_size=2)),
    )
    if draw(st.booleans()):
        task.metadata.update(draw(structs))
    return task


@st.composite
def pb_send_requests(draw: st.DrawFn) -> pb.SendMessageRequest:
    request = pb.SendMessageRequest(
        message=draw(pb_messages(pb.ROLE_USER, traced=True)),
        tenant=draw(st.sampled_from(["", "tenant-a"])),
    )
    meta = draw(st.none() | structs) or {}
    meta["effmesh.skill"] = draw(ids)
    if draw(st.booleans()):
        meta["effmesh.progressToken"] = draw(ids | st.integers(0, 999))
    request.metadata.update(meta)
    if draw(st.booleans()):
        config = pb.SendMessageConfiguration(
            accepted_output_modes=draw(st.lists(st.sampled_from(["text/plain", "image/png"]))),
            return_immediately=draw(st.booleans()),
        )
        if draw(st.booleans()):
            config.history_length = draw(st.integers(0, 50))
        if draw(st.booleans()):
            config.task_push_notification_config.CopyFrom(
                pb.TaskPushNotificationConfig(
                    url="https://hook.test/n",
                    token=draw(st.sampled_from(["", "tok"])),
                    authentication=pb.AuthenticationInfo(scheme="Bearer", credentials="c"),
                )
            )
        request.configuration.CopyFrom(config)
    return request


SCHEMES = [
    pb.SecurityScheme(
        api_key_security_scheme=pb.APIKeySecurityScheme(location="header", name="X-Key")
    ),
    pb.SecurityScheme(
        http_auth_security_scheme=pb.HTTPAuthSecurityScheme(scheme="bearer", bearer_format="JWT")
    ),
    pb.SecurityScheme(
        open_id_connect_security_scheme=pb.OpenIdConnectSecurityScheme(
            open_id_connect_url="https://id.test/.well-known/openid-configuration"
        )
    ),
    pb.SecurityScheme(mtls_security_scheme=pb.MutualTlsSecurityScheme()),
    pb.SecurityScheme(
        oauth2_security_scheme=pb.OAuth2SecurityScheme(
            flows=pb.OAuthFlows(
                client_credentials=pb.ClientCredentialsOAuthFlow(
                    token_url="https://id.test/token", scopes={"read": "Read things"}
                )
            )
        )
    ),
]
requirements = st.lists(
    st.builds(
        lambda name, scopes: pb.SecurityRequirement(schemes={name: pb.StringList(list=scopes)}),
        st.sampled_from(["key", "oauth"]),
        st.lists(ids, max_size=2),
    ),
    max_size=2,
)


@st.composite
def pb_cards(draw: st.DrawFn) -> pb.AgentCard:
    skill_ids = draw(st.lists(ids, max_size=3, unique=True))
    skills = [
        pb.AgentSkill(
            id=sid,
            name=draw(st.sampled_from([sid, "Pretty Name"])),
            description=draw(st.text(max_size=8)),
            tags=draw(st.lists(ids, min_size=1, max_size=2)),  # A2A requires one
            examples=draw(st.lists(st.text(max_size=5), max_size=2)),
            input_modes=draw(st.lists(medias.filter(bool), max_size=1)),
            output_modes=draw(st.lists(medias.filter(bool), max_size=2)),
            security_requirements=draw(requirements),
        )
        for sid in skill_ids
    ]
    extensions = [
        pb.AgentExtension(
            uri=draw(st.sampled_from(["urn:x:a", "https://ext.test/b"])),
            description=draw(st.sampled_from(["", "an extension"])),
            required=draw(st.booleans()),
            params=draw(st.none() | structs),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    with_schemas = [sid for sid in skill_ids if draw(st.booleans())]
    if with_schemas:
        params = {
            sid: {"inputSchema": {"type": "object", "properties": {"n": {"type": "number"}}}}
            for sid in with_schemas
        }
        params[with_schemas[0]]["metadata"] = {"origin": "mcp"}
        ext = pb.AgentExtension(uri="urn:effmesh:skill-schemas")
        ext.params.update(params)
        extensions.append(ext)
    if draw(st.booleans()):
        ext = pb.AgentExtension(uri="urn:effmesh:agent-metadata")
        ext.params.update(draw(structs))
        extensions.append(ext)
    capabilities = pb.AgentCapabilities(extensions=extensions)
    for field in ("streaming", "push_notifications", "extended_agent_card"):
        flag = draw(st.none() | st.booleans())
        if flag is not None:
            setattr(capabilities, field, flag)
    interfaces = [
        pb.AgentInterface(
            url=url,
            protocol_binding=binding,
            protocol_version=draw(st.sampled_from(["1.0", "0.3"])),
            tenant=draw(st.sampled_from(["", "t1"])),
        )
        for url, binding in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["https://a.test/a2a", "https://a.test/grpc"]),
                    st.sampled_from(["JSONRPC", "GRPC", "HTTP+JSON"]),
                ),
                min_size=1,
                max_size=2,
            )
        )
    ]
    card = pb.AgentCard(
        name=draw(ids),
        description=draw(st.text(max_size=8)),
        version=draw(st.sampled_from(["", "1.0.0"])),
        supported_interfaces=interfaces,
        capabilities=capabilities,
        default_input_modes=draw(st.lists(medias.filter(bool), max_size=2)),
        default_output_modes=draw(st.lists(medias.filter(bool), max_size=2)),
        skills=skills,
        security_requirements=draw(requirements),
    )
    for name in draw(st.lists(st.sampled_from(["key", "http", "oidc", "mtls", "oauth"]))):
        card.security_schemes[name].CopyFrom(draw(st.sampled_from(SCHEMES)))
    if draw(st.booleans()):
        card.provider.CopyFrom(pb.AgentProvider(url="https://p.test", organization="P"))
    if draw(st.booleans()):
        card.documentation_url = "https://docs.test"
    if draw(st.booleans()):
        card.icon_url = draw(st.sampled_from(["", "https://a.test/icon.png"]))
    if draw(st.booleans()):
        sig = pb.AgentCardSignature(protected="eyJhbGciOiJFUzI1NiJ9", signature="c2ln")
        sig.header.update({"kid": "k1"})
        card.signatures.append(sig)
    return card


# --- canonical strategies --------------------------------------------------------------------

MEDIA = st.none() | st.sampled_from(["text/plain", "image/png", "application/pdf", ""])
plain_meta = json_objects  # random keys: never an a2a.* / effmesh.* / trace key
canonical_parts: st.SearchStrategy[Part] = st.one_of(
    st.builds(
        TextPart,
        st.text(max_size=10),
        plain_meta | st.builds(lambda m: {"a2a.mediaType": m}, MEDIA.filter(bool)),
    ),
    st.builds(
        DataPart,
        json_values,
        plain_meta | st.builds(lambda n: {"a2a.filename": n, "k": 1}, ids),
    ),
    st.builds(FileBytesPart, st.binary(max_size=12), MEDIA, st.none() | ids, plain_meta),
    st.builds(
        FileUriPart,
        st.sampled_from(["https://x.test/f", "mem://1"]),
        MEDIA,
        st.none() | ids,
        plain_meta,
    ),
)
canonical_messages = st.builds(
    Message,
    st.sampled_from(["user", "agent"]),
    st.lists(canonical_parts, max_size=3).map(tuple),
    ids,
    st.none() | ids,
    st.none() | ids,
    plain_meta
    | st.builds(
        lambda x: {"a2a.extensions": x, "a2a.referenceTaskIds": []}, st.lists(ids, max_size=2)
    ),
)
canonical_artifacts = st.builds(
    Artifact,
    ids,
    st.lists(canonical_parts, max_size=2).map(tuple),
    st.none() | ids,
    st.none() | st.text(max_size=6),
    plain_meta,
)
STAMPS = st.sampled_from(["2025-01-02T03:04:05Z", "2025-01-02T03:04:05.123456789Z"])
task_meta = plain_meta | st.builds(lambda s: {"a2a.timestamp": s}, STAMPS)
canonical_tasks = st.builds(
    Task,
    ids,
    st.sampled_from(list(TaskState)),
    st.none() | ids,
    st.none() | canonical_messages,
    st.lists(canonical_artifacts, max_size=2).map(tuple),
    st.lists(canonical_messages, max_size=2).map(tuple),
    task_meta,
)


@st.composite
def canonical_invocations(draw: st.DrawFn) -> Invocation:
    mode = draw(st.sampled_from(["sync", "async", "stream"]))
    meta = dict(draw(plain_meta))
    if draw(st.booleans()):
        meta["a2a.tenant"] = draw(ids)
    if draw(st.booleans()):
        config: dict[str, Any] = {"historyLength": draw(st.integers(0, 9))}
        if draw(st.booleans()):
            config["acceptedOutputModes"] = ["text/plain"]
        if mode == "stream" and draw(st.booleans()):
            config["returnImmediately"] = draw(st.booleans())
        meta["a2a.configuration"] = config
    trace = draw(
        st.none()
        | st.builds(
            TraceContext,
            st.just(TRACEPARENT),
            st.none() | st.just("vendor=1"),
            st.none() | st.just("user=alice"),
        )
    )
    message = draw(canonical_messages)
    return Invocation(
        draw(ids),
        message,
        mode,
        (),
        draw(st.none() | ids | st.integers(0, 99)),
        trace,
        meta,
    )


@st.composite
def canonical_agents(draw: st.DrawFn) -> AgentDescriptor:
    names = draw(st.lists(ids, max_size=3, unique=True))
    skills = tuple(
        Skill(
            name=name,
            description=draw(st.none() | st.text(max_size=8)),
            input_schema=draw(st.none() | json_objects),
            output_schema=draw(st.none() | json_objects),
            title=draw(st.none() | st.just("A Title")),
            tags=tuple(draw(st.lists(ids, min_size=1, max_size=2))),
            examples=tuple(draw(st.lists(st.text(max_size=5), max_size=2))),
            input_modes=tuple(draw(st.lists(st.sampled_from(["text/plain", "image/png"])))),
            output_modes=tuple(draw(st.lists(st.sampled_from(["application/json"])))),
            metadata=draw(plain_meta),
        )
        for name in names
    )
    meta = dict(draw(plain_meta))
    if draw(st.booleans()):
        meta["a2a.provider"] = {"url": "https://p.test", "organization": "P"}
    return AgentDescriptor(
        name=draw(ids),
        skills=skills,
        description=draw(st.none() | st.text(max_size=8)),
        version=draw(st.none() | st.just("2.1")),
        url=draw(st.none() | st.just("https://agent.test/a2a")),
        streaming=draw(st.booleans()),
        input_modes=tuple(draw(st.lists(st.sampled_from(["text/plain"])))),
        output_modes=tuple(draw(st.lists(st.sampled_from(["text/plain", "image/png"])))),
        metadata=meta,
    )


# --- A2A -> canonical -> A2A -----------------------------------------------------------------


@rule(
    "a2a.decode.invocation",
    "a2a.decode.invocation.skill",
    "a2a.decode.invocation.mode",
    "a2a.decode.invocation.trace",
    "a2a.decode.invocation.progress_token",
    "a2a.decode.invocation.extras",
    "a2a.decode.message",
    "a2a.decode.message.extras",
    "a2a.decode.part.text",
    "a2a.decode.part.raw",
    "a2a.decode.part.url",
    "a2a.decode.part.data",
    "a2a.decode.part.metadata",
    "a2a.encode.invocation",
    "a2a.encode.invocation.skill",
    "a2a.encode.invocation.mode",
    "a2a.encode.invocation.trace",
    "a2a.encode.invocation.progress_token",
    "a2a.encode.invocation.extras",
    "a2a.encode.message",
    "a2a.encode.message.extras",
    "a2a.encode.part.text",
    "a2a.encode.part.raw",
    "a2a.encode.part.url",
    "a2a.encode.part.data",
    "a2a.encode.part.metadata",
)
@given(pb_send_requests(), st.booleans())
def test_send_message_requests_survive_a_round_trip(
    request: pb.SendMessageRequest, streaming: bool
) -> None:
    method = "SendStreamingMessage" if streaming else "SendMessage"
    wire = to_json(request)
    inv = a2a.decode_invocation(wire, method=method)
    assert inv.skill == request.metadata["effmesh.skill"]
    immediate = request.configuration.return_immediately
    assert inv.mode == ("stream" if streaming else "async" if immediate else "sync")
    if "traceparent" in request.message.metadata:
        assert inv.trace is not None
        assert inv.trace.traceparent == TRACEPARENT
        assert "traceparent" not in inv.message.metadata
    again_method, again = a2a.encode_invocation(inv)
    assert again_method == method
    same(pb.SendMessageRequest, again, wire)


@rule(
    "a2a.decode.outcome",
    "a2a.decode.task",
    "a2a.decode.task.state",
    "a2a.decode.task.timestamp",
    "a2a.decode.artifact",
    "a2a.encode.outcome",
    "a2a.encode.task",
    "a2a.encode.task.state",
    "a2a.encode.task.timestamp",
    "a2a.encode.artifact",
)
@given(pb_tasks() | pb_messages(pb.ROLE_AGENT))
def test_send_message_responses_survive_a_round_trip(value: pb.Task | pb.Message) -> None:
    field = "task" if isinstance(value, pb.Task) else "message"
    wire = to_json(pb.SendMessageResponse(**{field: value}))
    outcome = a2a.decode_outcome(wire)
    assert isinstance(outcome, Task if field == "task" else Message)
    same(pb.SendMessageResponse, a2a.encode_outcome(outcome), wire)


@rule("a2a.decode.task", "a2a.decode.task.state", "a2a.encode.task", "a2a.encode.task.state")
@pytest.mark.parametrize("state", PB_STATES, ids=pb.TaskState.Name)
@settings(max_examples=15)
@given(data=st.data())
def test_a_bare_task_in_every_state_survives_a_round_trip(state: int, data: st.DataObject) -> None:
    wire = to_json(data.draw(pb_tasks([state])))
    decoded = a2a.decode_task(wire)
    assert decoded.state.name == pb.TaskState.Name(state).removeprefix("TASK_STATE_")
    same(pb.Task, a2a.encode_task(decoded), wire)


@rule(
    "a2a.decode.stream.snapshot",
    "a2a.decode.stream.status",
    "a2a.decode.stream.artifact",
    "a2a.encode.stream.snapshot",
    "a2a.encode.stream.status",
    "a2a.encode.stream.artifact",
)
@given(
    st.one_of(
        pb_tasks().map(lambda t: pb.StreamResponse(task=t)),
        pb_messages(pb.ROLE_AGENT).map(lambda m: pb.StreamResponse(message=m)),
        st.builds(
            lambda tid, ctx, s, meta: pb.StreamResponse(
                status_update=pb.TaskStatusUpdateEvent(
                    task_id=tid, context_id=ctx, status=s, metadata=meta
                )
            ),
            ids,
            st.sampled_from(["", "ctx"]),
            pb_statuses(),
            st.none() | structs,
        ),
        st.builds(
            lambda tid, ctx, a, app, last, meta: pb.StreamResponse(
                artifact_update=pb.TaskArtifactUpdateEvent(
                    task_id=tid,
                    context_id=ctx,
                    artifact=a,
                    append=app,
                    last_chunk=last,
                    metadata=meta,
                )
            ),
            ids,
            st.sampled_from(["", "ctx"]),
            pb_artifacts(),
            st.booleans(),
            st.booleans(),
            st.none() | structs,
        ),
    )
)
def test_stream_responses_of_every_kind_survive_a_round_trip(
    response: pb.StreamResponse,
) -> None:
    wire = to_json(response)
    item = a2a.decode_stream_item(wire)
    kind = response.WhichOneof("payload")
    expected = {
        "task": Task,
        "message": Message,
        "status_update": StatusEvent,
        "artifact_update": ArtifactEvent,
    }
    assert isinstance(item, expected[kind])
    same(pb.StreamResponse, a2a.encode_stream_item(item), wire)


@rule(
    "a2a.decode.card",
    "a2a.decode.card.skill",
    "a2a.decode.card.extensions",
    "a2a.decode.card.extras",
    "a2a.encode.card",
    "a2a.encode.card.skill",
    "a2a.encode.card.extensions",
    "a2a.encode.card.extras",
)
@given(pb_cards())
def test_agent_cards_survive_a_round_trip(card: pb.AgentCard) -> None:
    wire = to_json(card)
    agent = a2a.decode_agent(wire)
    assert [s.name for s in agent.skills] == [s.id for s in card.skills]
    assert agent.url == card.supported_interfaces[0].url
    assert agent.streaming == card.capabilities.streaming
    same(pb.AgentCard, a2a.encode_agent(agent), wire)


@rule("a2a.decode.cancel", "a2a.encode.cancel")
@given(ids, st.none() | structs, st.sampled_from(["", "tenant-a"]))
def test_cancel_task_requests_survive_a_round_trip(
    task_id: str, meta: dict[str, Any] | None, tenant: str
) -> None:
    wire = to_json(pb.CancelTaskRequest(id=task_id, metadata=meta, tenant=tenant))
    cancel = a2a.decode_cancel(wire)
    assert cancel.target_id == task_id
    same(pb.CancelTaskRequest, a2a.encode_cancel(cancel), wire)


@rule("a2a.decode.get_task", "a2a.encode.get_task", "a2a.decode.subscribe", "a2a.encode.subscribe")
@given(ids, st.sampled_from(["", "tenant-a"]), st.none() | st.integers(0, 2**31 - 1))
def test_get_task_and_subscribe_requests_survive_a_round_trip(
    task_id: str, tenant: str, length: int | None
) -> None:
    get = to_json(pb.GetTaskRequest(id=task_id, tenant=tenant, history_length=length))
    decoded = a2a.decode_get_task(get)
    assert decoded.history_length == length
    same(pb.GetTaskRequest, a2a.encode_get_task(decoded), get)
    sub = to_json(pb.SubscribeToTaskRequest(id=task_id, tenant=tenant))
    same(pb.SubscribeToTaskRequest, a2a.encode_subscribe(a2a.decode_subscribe(sub)), sub)


# --- canonical -> A2A -> canonical -----------------------------------------------------------


@rule(
    "a2a.encode.invocation",
    "a2a.encode.invocation.mode",
    "a2a.encode.invocation.trace",
    "a2a.encode.invocation.extras",
    "a2a.encode.invocation.progress_token",
    "a2a.decode.invocation",
    "a2a.decode.invocation.mode",
    "a2a.decode.invocation.trace",
    "a2a.decode.invocation.extras",
    "a2a.encode.part.text",
    "a2a.encode.part.data",
    "a2a.encode.part.raw",
    "a2a.encode.part.url",
    "a2a.encode.message.extras",
)
@given(canonical_invocations())
def test_canonical_invocations_survive_a2a(inv: Invocation) -> None:
    method, params = a2a.encode_invocation(inv)
    json_format.ParseDict(params, pb.SendMessageRequest())
    assert a2a.decode_invocation(params, method=method) == inv


@rule("a2a.encode.outcome", "a2a.encode.task", "a2a.decode.outcome", "a2a.decode.task")
@given(canonical_tasks | canonical_messages)
def test_canonical_outcomes_survive_a2a(outcome: Task | Message) -> None:
    wire = a2a.encode_outcome(outcome)
    json_format.ParseDict(wire, pb.SendMessageResponse())
    assert a2a.decode_outcome(wire) == outcome


@rule("a2a.encode.stream.status", "a2a.encode.stream.artifact", "a2a.decode.stream.status")
@given(
    st.one_of(
        st.builds(
            StatusEvent,
            ids,
            st.sampled_from(list(TaskState)),
            st.none() | ids,
            st.none() | canonical_messages,
            task_meta,
        ),
        st.builds(
            ArtifactEvent,
            ids,
            canonical_artifacts,
            st.none() | ids,
            st.booleans(),
            st.booleans(),
            plain_meta,
        ),
        canonical_tasks,
        canonical_messages,
    )
)
def test_canonical_stream_items_survive_a2a(item: Any) -> None:
    wire = a2a.encode_stream_item(item)
    json_format.ParseDict(wire, pb.StreamResponse())
    assert a2a.decode_stream_item(wire) == item


@rule("a2a.encode.stream.progress", "a2a.decode.stream.progress")
@given(
    st.builds(
        ProgressEvent,
        ids | st.integers(0, 10**6),
        st.integers(0, 100).map(float) | st.floats(0, 1, width=32),
        st.none() | st.integers(1, 100).map(float),
        st.none() | st.text(max_size=6),
        plain_meta,
    )
)
def test_mcp_progress_survives_a_trip_through_a2a(event: ProgressEvent) -> None:
    wire = a2a.encode_stream_item(event)
    proto = json_format.ParseDict(wire, pb.StreamResponse())
    assert proto.status_update.status.state == pb.TASK_STATE_WORKING
    assert proto.status_update.task_id == str(event.token)
    assert a2a.decode_stream_item(wire) == event
    # Through a protobuf peer, whose Struct turns an integer token into a double.
    assert a2a.decode_stream_item(to_json(proto)) == event


@rule("a2a.encode.card", "a2a.encode.card.skill", "a2a.encode.card.extensions", "a2a.decode.card")
@given(canonical_agents())
def test_canonical_agents_survive_a2a(agent: AgentDescriptor) -> None:
    card = a2a.encode_agent(agent)
    json_format.ParseDict(card, pb.AgentCard())
    assert a2a.decode_agent(card) == agent


@rule("a2a.encode.card.skill")
def test_a_skill_without_tags_is_tagged_with_its_agents_name() -> None:
    agent = AgentDescriptor("files", (Skill("read"), Skill("write", tags=("io",))))
    card = a2a.encode_agent(agent)
    assert [s["tags"] for s in card["skills"]] == [["files"], ["io"]]


@rule("a2a.encode.cancel", "a2a.decode.cancel", "a2a.encode.get_task", "a2a.decode.get_task")
@given(
    st.builds(
        Cancel,
        ids,
        st.none() | st.text(max_size=8),
        plain_meta | st.builds(lambda t: {"a2a.tenant": t, "x": 1}, ids),
    ),
    st.builds(
        GetTask, ids, st.none() | st.integers(0, 99), st.just({}) | st.just({"a2a.tenant": "t"})
    ),
)
def test_canonical_cancels_and_task_reads_survive_a2a(cancel: Cancel, get: GetTask) -> None:
    params = a2a.encode_cancel(cancel)
    json_format.ParseDict(params, pb.CancelTaskRequest())
    assert a2a.decode_cancel(params) == cancel
    params = a2a.encode_get_task(get)
    json_format.ParseDict(params, pb.GetTaskRequest())
    assert a2a.decode_get_task(params) == get


# --- single rules, by example ----------------------------------------------------------------


@rule("a2a.decode.part.text", "a2a.decode.part.data", "a2a.decode.part.raw", "a2a.decode.part.url")
def test_each_part_kind_maps_to_its_canonical_part() -> None:
    wire = [
        {"text": "# hi", "mediaType": "text/markdown", "filename": "a.md"},
        {"data": None, "metadata": {"k": 1}},
        {"raw": "AAH/", "mediaType": "image/png", "filename": "x.png"},
        {"url": "https://x.test/f", "mediaType": "application/pdf"},
    ]
    parts = [a2a.decode_part(p, "p") for p in wire]
    assert parts == [
        TextPart("# hi", {"a2a.mediaType": "text/markdown", "a2a.filename": "a.md"}),
        DataPart(None, {"k": 1}),
        FileBytesPart(b"\x00\x01\xff", "image/png", "x.png"),
        FileUriPart("https://x.test/f", "application/pdf"),
    ]
    assert [a2a.encode_part(p) for p in parts] == wire


@rule("a2a.decode.part.raw")
def test_raw_bytes_may_be_url_safe_base64_without_padding_as_protobuf_allows() -> None:
    part = a2a.decode_part({"raw": "AAH_-w"}, "p")
    assert part == FileBytesPart(b"\x00\x01\xff\xfb")
    assert a2a.encode_part(part) == {"raw": base64.b64encode(b"\x00\x01\xff\xfb").decode()}


@rule("a2a.decode.part.oneof")
@pytest.mark.parametrize(
    "part",
    [{}, {"text": "a", "url": "b"}, {"raw": "AA==", "data": 1}, {"mediaType": "x"}, {"text": None}],
)
def test_a_part_with_none_or_several_contents_is_invalid_params(part: dict[str, Any]) -> None:
    with pytest.raises(E.InvalidParams) as info:
        a2a.decode_part(part, "params.message.parts[0]")
    assert info.value.path == "params.message.parts[0]"


@rule("a2a.encode.message")
def test_a_message_without_id_gets_one_from_the_injected_factory() -> None:
    wire = a2a.encode_message(Message("user", (TextPart("hi"),)), new_id=lambda: "m-42")
    assert wire == {"messageId": "m-42", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    outcome = a2a.encode_outcome(
        Task("t", TaskState.COMPLETED, history=(Message("agent", ()),)), new_id=fixed_ids()
    )
    assert outcome["task"]["history"][0]["messageId"] == "gen-0"
    default = a2a.encode_message(Message("user", ()))["messageId"]
    assert uuid.UUID(hex=default).version == 4


@rule("a2a.decode.message")
@pytest.mark.parametrize(
    ("message", "path"),
    [
        ({"role": "ROLE_USER", "parts": []}, "params.message.messageId"),
        ({"messageId": "m", "parts": []}, "params.message.role"),
        ({"messageId": "m", "role": "ROLE_UNSPECIFIED"}, "params.message.role"),
        ({"messageId": "m", "role": ["ROLE_USER"]}, "params.message.role"),
    ],
)
def test_a_message_needs_an_id_and_a_role(message: dict[str, Any], path: str) -> None:
    with pytest.raises(E.InvalidParams) as info:
        a2a.decode_invocation({"message": message}, skill="s")
    assert info.value.path == path


@rule("a2a.decode.invocation.skill")
def test_the_skill_comes_from_metadata_else_from_the_addressed_agent() -> None:
    message = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    assert a2a.decode_invocation({"message": message}, skill="echo").skill == "echo"
    named = {"message": message, "metadata": {"effmesh.skill": "calc"}}
    assert a2a.decode_invocation(named, skill="echo").skill == "calc"
    with pytest.raises(E.InvalidParams) as info:
        a2a.decode_invocation({"message": message})
    assert info.value.path == "params.metadata.effmesh.skill"


@rule("a2a.decode.invocation.mode", "a2a.encode.invocation.mode")
def test_return_immediately_is_async_mode_and_back() -> None:
    message = {"messageId": "m", "role": "ROLE_USER", "parts": []}
    params = {"message": message, "configuration": {"returnImmediately": True}}
    inv = a2a.decode_invocation(params, skill="s")
    assert inv.mode == "async"
    assert "a2a.configuration" not in inv.metadata
    method, again = a2a.encode_invocation(inv)
    assert (method, again["configuration"]) == ("SendMessage", {"returnImmediately": True})
    streaming, _ = a2a.encode_invocation(Invocation("s", Message("user", ()), "stream"))
    assert streaming == "SendStreamingMessage"


@rule("a2a.decode.invocation.progress_token")
def test_a_progress_token_that_crossed_a_protobuf_peer_is_an_integer_again() -> None:
    params = {
        "message": {"messageId": "m", "role": "ROLE_USER"},
        "metadata": {"effmesh.skill": "s", "effmesh.progressToken": 7.0},
    }
    assert a2a.decode_invocation(params).progress_token == 7


@rule("a2a.encode.invocation.history")
def test_an_invocation_with_history_raises_cannot_carry() -> None:
    one = Message("user", (TextPart("a"),), "m")
    with pytest.raises(E.CannotCarry) as info:
        a2a.encode_invocation(Invocation("s", one, history=(one, one)))
    assert info.value.content == "conversation history of 2 earlier messages"
    assert info.value.target == "A2A SendMessage"


@rule("a2a.encode.cancel", "a2a.encode.get_task", "a2a.encode.subscribe")
@pytest.mark.parametrize(
    ("encode", "value", "content", "target"),
    [
        (a2a.encode_cancel, Cancel(5), "an integer task id", "A2A CancelTask"),
        (a2a.encode_get_task, GetTask("t", None, {"x": 1}), "metadata 'x'", "A2A GetTask"),
        (a2a.encode_subscribe, GetTask("t", 3), "a history length", "A2A SubscribeToTask"),
    ],
)
def test_requests_a2a_has_no_place_for_raise_cannot_carry(
    encode: Callable[[Any], Any], value: Any, content: str, target: str
) -> None:
    with pytest.raises(E.CannotCarry) as info:
        encode(value)
    assert (info.value.content, info.value.target) == (content, target)


@rule("a2a.encode.reserved_metadata")
@pytest.mark.parametrize(
    ("encode", "path"),
    [
        (
            lambda: a2a.encode_invocation(
                Invocation("s", Message("user", ()), metadata={"a2a.tenant": 1})
            ),
            "metadata.a2a.tenant",
        ),
        (
            lambda: a2a.encode_invocation(
                Invocation(
                    "s", Message("user", ()), metadata={"a2a.configuration": {"historyLength": "x"}}
                )
            ),
            "metadata.a2a.configuration.historyLength",
        ),
        (
            lambda: a2a.encode_part(TextPart("a", {"a2a.mediaType": 5})),
            "part.metadata.a2a.mediaType",
        ),
        (
            lambda: a2a.encode_message(Message("user", (), "m", metadata={"a2a.extensions": "x"})),
            "metadata.a2a.extensions",
        ),
        (
            lambda: a2a.encode_task(
                Task("t", TaskState.WORKING, metadata={"a2a.timestamp": "now"})
            ),
            "metadata.a2a.timestamp",
        ),
        (
            lambda: a2a.encode_agent(AgentDescriptor("a", (), metadata={"a2a.capabilities": []})),
            "metadata.a2a.capabilities",
        ),
    ],
)
def test_a2a_metadata_keys_of_the_wrong_shape_are_invalid_params(
    encode: Callable[[], Any], path: str
) -> None:
    with pytest.raises(E.InvalidParams) as info:
        encode()
    assert info.value.path == path


@rule("a2a.decode.task.state")
@pytest.mark.parametrize(
    "state", ["TASK_STATE_UNSPECIFIED", "TASK_STATE_DONE", "completed", 3, None]
)
def test_an_unspecified_or_unknown_task_state_is_invalid_params(state: Any) -> None:
    with pytest.raises(E.InvalidParams) as info:
        a2a.decode_task({"id": "t", "status": {"state": state}})
    assert info.value.path == "task.status.state"


@rule("a2a.decode.task.timestamp")
def test_a_timestamp_must_be_rfc3339() -> None:
    with pytest.raises(E.InvalidParams) as info:
        a2a.decode_task(
            {"id": "t", "status": {"state": "TASK_STATE_WORKING", "timestamp": "May 1"}}
        )
    assert info.value.path == "task.status.timestamp"


@rule("a2a.decode.stream.progress", "a2a.decode.stream.status")
def test_a_status_update_that_is_not_exactly_progress_stays_a_status_event() -> None:
    progress = a2a.encode_stream_item(ProgressEvent("p1", 0.5, 1.0, "half"))
    assert isinstance(a2a.decode_stream_item(progress), ProgressEvent)
    tweaks: list[Callable[[dict[str, Any]], None]] = [
        lambda b: b.update(contextId="c"),
        lambda b: b.update(taskId="other"),
        lambda b: b["status"].update(timestamp="2025-01-01T00:00:00Z"),
        lambda b: b["status"].update(state="TASK_STATE_COMPLETED"),
        lambda b: b["metadata"]["effmesh.progress"].update(extra=1),
        lambda b: b["metadata"].update({"effmesh.progress": "lots"}),
        lambda b: b["status"]["message"]["parts"].append({"text": "more"}),
    ]
    for tweak in tweaks:
        wire = a2a.encode_stream_item(ProgressEvent("p1", 0.5, 1.0, "half"), new_id=lambda: "m")
        tweak(wire["statusUpdate"])
        item = a2a.decode_stream_item(wire)
        assert isinstance(item, StatusEvent)
        same(pb.StreamResponse, a2a.encode_stream_item(item), wire)


@rule("a2a.encode.card.url", "a2a.encode.card.extensions", "a2a.decode.card.extensions")
def test_a_served_card_points_at_the_gateway_and_keeps_skill_schemas() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number"}}}
    agent = AgentDescriptor(
        "calc",
        (
            Skill(
                "add",
                "Adds",
                input_schema=schema,
                tags=("math",),
                metadata={"mcp.annotations": {"x": 1}},
            ),
        ),
        url="http://upstream.test/a2a",
        metadata={"a2a.signatures": [{"protected": "p", "signature": "s"}], "mcp.nextCursor": "c"},
    )
    card = a2a.encode_agent(agent, url="http://gw.test/a2a/calc")
    json_format.ParseDict(card, pb.AgentCard())
    assert card["supportedInterfaces"] == [
        {"url": "http://gw.test/a2a/calc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]
    assert "signatures" not in card
    back = a2a.decode_agent(card)
    assert back.skills == agent.skills
    assert back.metadata == {"mcp.nextCursor": "c"}
    assert back.url == "http://gw.test/a2a/calc"


@rule("a2a.decode.card.extensions")
def test_a_malformed_effmesh_extension_is_kept_as_a_foreign_one() -> None:
    ext = {"uri": "urn:effmesh:skill-schemas", "params": {"nope": {"inputSchema": 5}}}
    card = {"name": "a", "capabilities": {"extensions": [ext]}, "skills": [{"id": "s"}]}
    agent = a2a.decode_agent(card)
    assert agent.skills[0].input_schema is None
    assert agent.metadata["a2a.capabilities"] == {"extensions": [ext]}
    assert a2a.encode_agent(agent)["capabilities"] == {"extensions": [ext]}


@rule("a2a.decode.request")
@pytest.mark.parametrize(
    ("method", "params", "kind"),
    [
        (
            "SendMessage",
            {
                "message": {"messageId": "m", "role": "ROLE_USER"},
                "metadata": {"effmesh.skill": "s"},
            },
            Invocation,
        ),
        ("SendStreamingMessage", {"message": {"messageId": "m", "role": "ROLE_USER"}}, Invocation),
        ("CancelTask", {"id": "t"}, Cancel),
        ("GetTask", {"id": "t", "historyLength": 2}, GetTask),
        ("SubscribeToTask", {"id": "t"}, GetTask),
        ("ListTasks", {}, jsonrpc.Request),
        ("GetExtendedAgentCard", {}, jsonrpc.Request),
    ],
)
def test_requests_dispatch_on_the_a2a_method(
    method: str, params: dict[str, Any], kind: type
) -> None:
    raw = jsonrpc.request(9, method, params)
    decoded = a2a.decode_request(a2a.parse_request(_dumps(raw)), skill="echo")
    assert isinstance(decoded, kind)


@rule("a2a.decode.request", "a2a.decode.bad_input")
def test_an_unknown_method_is_method_not_found_with_the_request_id() -> None:
    with pytest.raises(jsonrpc.EnvelopeError) as info:
        a2a.decode_request(
            a2a.parse_request(b'{"jsonrpc":"2.0","id":"r7","method":"message/send"}')
        )
    assert isinstance(info.value.error, E.MethodNotFound)
    assert info.value.id == "r7"


# --- errors ----------------------------------------------------------------------------------

ERRORS: list[tuple[E.EffmeshError, int, int, type[Exception]]] = [
    (E.ParseError(), -32700, 400, sdk_errors.JSONParseError),
    (E.PayloadTooLarge(), -32602, 413, sdk_errors.InvalidParamsError),
    (E.InvalidRequest(), -32600, 400, sdk_errors.InvalidRequestError),
    (E.MethodNotFound("x"), -32601, 404, sdk_errors.MethodNotFoundError),
    (E.InvalidParams("bad", path="params"), -32602, 400, sdk_errors.InvalidParamsError),
    (E.NotFound(), -32001, 404, sdk_errors.TaskNotFoundError),
    (E.TaskNotFound("t"), -32001, 404, sdk_errors.TaskNotFoundError),
    (E.Unsupported(), -32004, 400, sdk_errors.UnsupportedOperationError),
    (E.CannotCarry("a file", "A2A"), -32005, 400, sdk_errors.ContentTypeNotSupportedError),
    (E.IllegalTransition("completed", "canceled"), -32002, 400, sdk_errors.TaskNotCancelableError),
    (E.Unauthorized(), -32600, 401, sdk_errors.InvalidRequestError),
    (E.Forbidden(), -32600, 403, sdk_errors.InvalidRequestError),
    (E.RateLimited(), -32603, 429, sdk_errors.InternalError),
    (E.Timeout(), -32603, 504, sdk_errors.InternalError),
    (E.UpstreamUnavailable(), -32603, 502, sdk_errors.InternalError),
    (E.Canceled(), -32603, 409, sdk_errors.InternalError),
    (E.Internal(), -32603, 500, sdk_errors.InternalError),
]
_SDK_CLIENT = JsonRpcTransport.__new__(JsonRpcTransport)


def sdk_reading(wire: dict[str, Any]) -> Exception:
    """The exception a2a-sdk's JSON-RPC client raises for the error response ``wire``."""
    try:
        _SDK_CLIENT._check_jsonrpc_response(wire)
    except Exception as exc:
        return exc
    raise AssertionError("not an error response")


@rule("a2a.encode.error", "a2a.decode.error")
@pytest.mark.parametrize(
    ("error", "code", "http", "sdk_class"), ERRORS, ids=[type(e[0]).__name__ for e in ERRORS]
)
def test_every_error_has_one_a2a_code_and_http_status_and_comes_back(
    error: E.EffmeshError, code: int, http: int, sdk_class: type[Exception]
) -> None:
    wire = a2a.jsonrpc_error(error, "r1")
    assert wire["id"] == "r1"
    assert wire["error"]["code"] == code
    back = a2a.decode_error(wire["error"])
    assert type(back) is E.BY_CODE[error.code]
    assert back.public_message == error.public_message
    seen = sdk_reading(wire)
    assert type(seen) is sdk_class
    assert seen.data == {"effmesh_code": error.code.value}  # type: ignore[attr-defined]
    status, body = a2a.rest_error(error)
    assert (status, body["error"]["code"]) == (http, http)
    rest_seen = _parse_rest_error(body, "fallback")
    assert rest_seen is not None
    assert rest_seen.data == {"effmesh_code": error.code.value}  # type: ignore[attr-defined]


@rule("a2a.decode.error")
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": -32001, "message": "Task not found"}, E.NotFound),
        ({"code": -32002, "message": "no"}, E.IllegalTransition),
        ({"code": -32003, "message": "no push"}, E.Unsupported),
        ({"code": -32006, "message": "bad agent"}, E.UpstreamUnavailable),
        ({"code": -32009}, E.Unsupported),
        ({"code": -32602, "data": {"effmesh_code": "payload_too_large"}}, E.PayloadTooLarge),
        ({"code": 12345, "message": "?"}, E.Internal),
        ({"code": "x", "data": [{"@type": "nope"}]}, E.Internal),
        ("not an object", E.Internal),
    ],
)
def test_peer_errors_without_effmesh_code_map_by_their_a2a_code(error: Any, expected: type) -> None:
    assert type(a2a.decode_error(error)) is expected


@rule("a2a.encode.error")
def test_foreign_exception_text_never_reaches_an_a2a_peer() -> None:
    wire = a2a.jsonrpc_error(RuntimeError("db password=hunter2"), 1)
    assert "hunter2" not in str(wire)
    assert "hunter2" not in str(a2a.rest_error(KeyError("hunter2")))
    assert wire["error"]["code"] == -32603


# --- bad input -------------------------------------------------------------------------------

_PYTHON_TEXT = re.compile(
    r"Traceback|Error\(|KeyError|TypeError|ValueError|AttributeError|RecursionError"
    r"|object has no attribute|unhashable|not subscriptable|object is not"
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def check_refusal(exc: BaseException, rid: Any) -> int:
    """``exc`` is ours, and its A2A error response is one a2a-sdk's client reads."""
    assert isinstance(exc, jsonrpc.EnvelopeError | E.EffmeshError), repr(exc)
    err = exc.error if isinstance(exc, jsonrpc.EnvelopeError) else exc
    wire = a2a.jsonrpc_error(err, rid)
    assert wire["jsonrpc"] == "2.0"
    JSONRPCError.model_validate(wire["error"])
    message = wire["error"]["message"]
    assert not _PYTHON_TEXT.search(message), message
    assert isinstance(sdk_reading(wire), sdk_errors.A2AError)
    code: int = wire["error"]["code"]
    return code


def _valid_requests() -> list[Any]:
    message = pb.Message(
        message_id="m",
        role=pb.ROLE_USER,
        parts=[
            pb.Part(text="hi", media_type="text/plain"),
            pb.Part(raw=b"abc", media_type="image/png", filename="a.png"),
            pb.Part(url="https://x.test/f"),
        ],
        extensions=["urn:x"],
    )
    message.metadata.update({"traceparent": TRACEPARENT})
    send = to_json(
        pb.SendMessageRequest(
            message=message,
            configuration=pb.SendMessageConfiguration(
                accepted_output_modes=["text/plain"], history_length=3
            ),
            tenant="t",
        )
    )
    send["metadata"] = {"effmesh.skill": "echo", "effmesh.progressToken": 3}
    data = {**send, "message": {**send["message"], "parts": [{"data": {"k": [1, 2]}}]}}
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": send},
        {"jsonrpc": "2.0", "id": 2, "method": "SendStreamingMessage", "params": data},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "CancelTask",
            "params": {"id": "t", "metadata": {"a": 1}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": {"id": "t", "historyLength": 2}},
        {"jsonrpc": "2.0", "id": "5", "method": "SubscribeToTask", "params": {"id": "t"}},
    ]


def _valid_task() -> dict[str, Any]:
    status = pb.TaskStatus(
        state=pb.TASK_STATE_INPUT_REQUIRED,
        message=pb.Message(message_id="q", role=pb.ROLE_AGENT, parts=[pb.Part(text="which?")]),
    )
    status.timestamp.seconds = 1_700_000_000
    return to_json(
        pb.Task(
            id="t",
            context_id="c",
            status=status,
            artifacts=[
                pb.Artifact(artifact_id="a", parts=[pb.Part(raw=b"\x00")], extensions=["e"])
            ],
            history=[pb.Message(message_id="h", role=pb.ROLE_USER, parts=[pb.Part(url="u")])],
        )
    )


def _valid_card() -> dict[str, Any]:
    wire = to_json(
        pb.AgentCard(
            name="a",
            supported_interfaces=[pb.AgentInterface(url="https://a.test", protocol_binding="GRPC")],
            capabilities=pb.AgentCapabilities(streaming=True),
            skills=[pb.AgentSkill(id="s", name="S", tags=["t"])],
            security_schemes={"k": SCHEMES[0]},
            security_requirements=[
                pb.SecurityRequirement(schemes={"k": pb.StringList(list=["r"])})
            ],
            provider=pb.AgentProvider(url="https://p.test", organization="P"),
            signatures=[pb.AgentCardSignature(protected="p", signature="s")],
        )
    )
    wire["capabilities"]["extensions"] = [
        {"uri": "urn:effmesh:skill-schemas", "params": {"s": {"inputSchema": {"type": "object"}}}},
        {"uri": "urn:effmesh:agent-metadata", "params": {"k": 1}},
    ]
    return wire


BAD_STRINGS = [
    "!!not base64!!",
    "AAA",
    "ROLE_UNSPECIFIED",
    "TASK_STATE_UNSPECIFIED",
    "2024-02-30 99:00",
    "\ud800",
    "x" * 5000,
]


def _string_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _string_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_paths(v, (*prefix, i))
    elif isinstance(value, str):
        yield prefix


def poisoned(valid: list[Any], count: int, seed: int) -> Iterator[Any]:
    """Valid documents with one string leaf replaced by a bad enum, base64, timestamp or
    surrogate, or by a value nested 30 levels deep (protobuf peers refuse a Struct much
    deeper: each JSON level costs them two of their 100)."""
    rng = random.Random(seed)
    deep: Any = "x"
    for _ in range(30):
        deep = [deep]
    for _ in range(count):
        doc = copy.deepcopy(rng.choice(valid))
        paths = list(_string_paths(doc))
        if not paths:
            yield doc
            continue
        path = rng.choice(paths)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = deep if rng.random() < 0.1 else rng.choice(BAD_STRINGS)
        yield doc


DECODERS: list[tuple[str, Callable[[Any], Any], Callable[[], list[Any]]]] = [
    (
        "invocation",
        lambda d: a2a.decode_invocation(d, skill="s"),
        lambda: [r["params"] for r in _valid_requests()[:2]],
    ),
    (
        "outcome",
        a2a.decode_outcome,
        lambda: [{"task": _valid_task()}, {"message": _valid_task()["history"][0]}],
    ),
    ("task", a2a.decode_task, lambda: [_valid_task()]),
    (
        "stream",
        a2a.decode_stream_item,
        lambda: [
            {"task": _valid_task()},
            a2a.encode_stream_item(ProgressEvent(3, 0.5, 1.0, "half"), new_id=lambda: "m"),
            {
                "statusUpdate": {
                    "taskId": "t",
                    "contextId": "c",
                    "status": _valid_task()["status"],
                    "metadata": {"k": 1},
                }
            },
            {
                "artifactUpdate": {
                    "taskId": "t",
                    "artifact": _valid_task()["artifacts"][0],
                    "append": True,
                }
            },
        ],
    ),
    ("card", a2a.decode_agent, lambda: [_valid_card()]),
    ("cancel", a2a.decode_cancel, lambda: [_valid_requests()[2]["params"]]),
    ("get_task", a2a.decode_get_task, lambda: [_valid_requests()[3]["params"]]),
    ("subscribe", a2a.decode_subscribe, lambda: [{"id": "t", "tenant": "x"}]),
    ("message", a2a.decode_message, lambda: [_valid_requests()[0]["params"]["message"]]),
    (
        "part",
        lambda d: a2a.decode_part(d, "part"),
        lambda: [{"raw": "AAE=", "mediaType": "m", "metadata": {"a": 1}}],
    ),
]


@rule("a2a.decode.bad_input")
def test_six_thousand_bad_request_bodies_each_get_an_a2a_error() -> None:
    codes: dict[int, int] = {}
    for raw in bad_bytes(_valid_requests(), 6000, seed=21):
        try:
            a2a.decode_request(a2a.parse_request(raw), skill=None)
        except Exception as exc:
            code = check_refusal(exc, None)
            codes[code] = codes.get(code, 0) + 1
    # The generator reaches every kind of envelope failure.
    assert {-32700, -32600, -32601, -32602} <= codes.keys()


ENCODERS: dict[str, tuple[Callable[[Any], Any], type[ProtoMessage]]] = {
    "invocation": (lambda inv: a2a.encode_invocation(inv)[1], pb.SendMessageRequest),
    "outcome": (a2a.encode_outcome, pb.SendMessageResponse),
    "task": (a2a.encode_task, pb.Task),
    "stream": (a2a.encode_stream_item, pb.StreamResponse),
    "card": (a2a.encode_agent, pb.AgentCard),
    "cancel": (a2a.encode_cancel, pb.CancelTaskRequest),
    "get_task": (a2a.encode_get_task, pb.GetTaskRequest),
    "subscribe": (a2a.encode_subscribe, pb.SubscribeToTaskRequest),
    "message": (a2a.encode_message, pb.Message),
    "part": (a2a.encode_part, pb.Part),
}


@rule("a2a.decode.bad_input")
@pytest.mark.parametrize(("name", "decode", "valid"), DECODERS, ids=[d[0] for d in DECODERS])
def test_bad_documents_through_each_decoder_decode_or_raise_ours(
    name: str, decode: Callable[[Any], Any], valid: Callable[[], list[Any]]
) -> None:
    docs = valid()
    for doc in docs:
        decode(doc)  # the starting points are valid
    encode, proto = ENCODERS[name]
    refused = 0
    for i, doc in enumerate(
        [*bad_documents(docs, 500, seed=len(name)), *poisoned(docs, 300, seed=7)]
    ):
        try:
            value = decode(doc)
        except Exception as exc:
            check_refusal(exc, i)
            refused += 1
            continue
        # What was accepted goes out as a message a2a-sdk accepts (it ignores unknown fields,
        # as its server does; lone surrogates are the JSON layer's to refuse).
        out = encode(value)
        if not _has_lone_surrogate(out):
            json_format.ParseDict(out, proto(), ignore_unknown_fields=True)
    assert refused > 300


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


@rule("a2a.decode.bad_input")
@settings(max_examples=300)
@given(json_values)
def test_any_json_value_through_every_decoder_decodes_or_raises_ours(value: Any) -> None:
    for _, decode, _ in DECODERS:
        try:
            decode(value)
        except Exception as exc:
            check_refusal(exc, 1)
        try:
            decode({"message": value, "task": value} if value is not None else {})
        except Exception as exc:
            check_refusal(exc, 1)
    assert isinstance(a2a.decode_error(value), E.EffmeshError)


@rule("a2a.decode.bad_input")
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"jsonrpc":"1.0","id":1,"method":"SendMessage","params":{}}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"tasks/send","params":{}}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":[]}', -32600),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_X",'
            b'"messageId":"m","parts":[]},"metadata":{"effmesh.skill":"a"}}}',
            -32602,
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_USER",'
            b'"messageId":"m","parts":[{"raw":"!!"}]},"metadata":{"effmesh.skill":"a"}}}',
            -32602,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"CancelTask","params":{"id":5}}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t","historyLength":-1}}',
            -32602,
        ),
        (b"\xff\xfe{}", -32700),
        (b"[" * 100 + b"]" * 100, -32700),
        (b'{"jsonrpc":"2.0","id":1,"params":{"x":"' + b"a" * (5 * 1024 * 1024) + b'"}}', -32602),
    ],
)
def test_bad_requests_get_the_proper_a2a_code(raw: bytes, code: int) -> None:
    with pytest.raises(jsonrpc.EnvelopeError) as info:
        a2a.decode_request(a2a.parse_request(raw))
    assert a2a.jsonrpc_error(info.value.error, info.value.id)["error"]["code"] == code


# --- the rule list ---------------------------------------------------------------------------


def test_every_a2a_rule_has_a_test_here_and_ids_are_unique() -> None:
    ids_ = [rid for rid, _ in a2a.RULES]
    assert len(ids_) == len(set(ids_))
    assert all(rid.startswith(("a2a.decode.", "a2a.encode.")) for rid in ids_)
    marked = {
        rid
        for obj in vars(sys.modules[__name__]).values()
        for mark in getattr(obj, "pytestmark", [])
        if mark.name == "rule"
        for rid in mark.args
    }
    assert sorted(set(ids_) - marked) == []
    assert sorted(marked - set(ids_)) == []
