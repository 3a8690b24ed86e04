"""a2a-sdk's protobuf <-> canonical (``adapters.a2a.proto``) is the A2A JSON mapping, without
the JSON: for every value, the same result as going through protobuf's JSON form."""

from __future__ import annotations

from typing import Any

import pytest
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from adapters import a2a
from adapters.a2a import proto
from adapters.errors import InvalidParams
from adapters.model import (
    ArtifactEvent,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from tests.jsonvalues import ids, json_objects
from tests.test_a2a_adapter import (
    canonical_artifacts,
    canonical_messages,
    canonical_tasks,
    fixed_ids,
    pb_messages,
    pb_tasks,
    task_meta,
)


def parsed(wire: dict[str, Any], cls: type[Any]) -> Any:
    return json_format.ParseDict(wire, cls())


@given(pb_tasks())
def test_a_protobuf_task_decodes_as_its_json_does_and_encodes_back_exactly(task: pb.Task) -> None:
    decoded = proto.decode_task(task)
    assert decoded == a2a.decode_task(json_format.MessageToDict(task))
    assert proto.encode_task(decoded) == task


@given(pb_messages())
def test_a_protobuf_message_decodes_as_its_json_does_and_encodes_back_exactly(
    message: pb.Message,
) -> None:
    decoded = proto.decode_message(message)
    assert decoded == a2a.decode_message(json_format.MessageToDict(message))
    assert proto.encode_message(decoded) == message


@given(canonical_tasks)
def test_a_canonical_task_encodes_as_its_json_parses(task: Task) -> None:
    ours, theirs = fixed_ids(), fixed_ids()
    expected = parsed(a2a.encode_task(task, new_id=theirs), pb.Task)
    assert proto.encode_task(task, new_id=ours) == expected


item_kinds = st.one_of(
    canonical_tasks,
    canonical_messages,
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
        json_objects,
    ),
    st.builds(
        ProgressEvent,
        ids,
        st.floats(0, 100, width=32),
        st.none() | st.floats(0, 100, width=32),
        st.none() | st.text(max_size=8),
        json_objects,
    ),
)


@given(item_kinds)
def test_every_stream_item_becomes_the_event_its_json_parses_to(item: StreamItem) -> None:
    ours, theirs = fixed_ids(), fixed_ids()
    response = parsed(a2a.encode_stream_item(item, new_id=theirs), pb.StreamResponse)
    expected = getattr(response, response.WhichOneof("payload"))
    assert proto.encode_event(item, new_id=ours) == expected


@pytest.mark.parametrize(
    "broken",
    [
        pb.Task(status=pb.TaskStatus(state=pb.TASK_STATE_WORKING)),
        pb.Task(id="t"),
        pb.Task(id="t", status=pb.TaskStatus()),
        pb.Task(
            id="t",
            status=pb.TaskStatus(state=pb.TASK_STATE_WORKING),
            history=[pb.Message(message_id="m", parts=[pb.Part(text="x")])],
        ),
        pb.Task(
            id="t",
            status=pb.TaskStatus(state=pb.TASK_STATE_WORKING),
            history=[pb.Message(message_id="m", role=pb.ROLE_USER, parts=[pb.Part()])],
        ),
    ],
    ids=["no id", "no status", "no state", "no role", "empty part"],
)
def test_a_task_json_would_refuse_is_refused(broken: pb.Task) -> None:
    with pytest.raises(InvalidParams):
        a2a.decode_task(json_format.MessageToDict(broken))
    with pytest.raises(InvalidParams):
        proto.decode_task(broken)


def test_a_bad_timestamp_in_metadata_is_refused_on_the_way_out() -> None:
    bad = Task("t", TaskState.WORKING, metadata={"a2a.timestamp": "yesterday"})
    with pytest.raises(InvalidParams):
        proto.encode_task(bad)
    text = Message("agent", (TextPart("x"),), metadata={"a2a.extensions": "not a list"})
    with pytest.raises(InvalidParams):
        proto.encode_message(text)
