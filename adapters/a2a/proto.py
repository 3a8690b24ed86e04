"""a2a-sdk's protobuf messages <-> canonical values, for endpoints served through the SDK.

The mapping is the A2A JSON form's (``adapters.a2a``), field by field, checked against it by
tests: ``decode_x(m) == a2a.decode_x(MessageToDict(m))`` and ``encode_x(v) ==
ParseDict(a2a.encode_x(v))``. The SDK hands its requests and takes its events as protobuf
already, so going through JSON would convert every value twice (protobuf's ``json_format``
walks messages in Python). Not imported by ``adapters.a2a`` itself: only the SDK's users pay
for protobuf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, assert_never

from a2a.types import a2a_pb2 as pb
from google.protobuf import struct_pb2

from adapters.a2a.events import PROGRESS_KEY
from adapters.a2a.messages import (
    EXTENSIONS_KEY,
    REFERENCES_KEY,
    ROLES,
    IdFactory,
    new_id,
)
from adapters.a2a.numbers import whole
from adapters.a2a.parts import FILENAME_KEY, MEDIA_KEY
from adapters.a2a.tasks import STATES, TIMESTAMP_KEY, encode_status
from adapters.errors import InvalidParams
from adapters.model import (
    EMPTY,
    JSON,
    Artifact,
    ArtifactEvent,
    DataPart,
    FileBytesPart,
    FileUriPart,
    Message,
    Metadata,
    Part,
    ProgressEvent,
    StatusEvent,
    Task,
    TaskState,
    TextPart,
)

_STATES: Final = {pb.TaskState.Value(name): state for name, state in STATES.items()}
_STATE_NUMBERS: Final = {state: number for number, state in _STATES.items()}
_ROLES: Final = {pb.Role.Value(name): role for name, role in ROLES.items()}
_ROLE_NUMBERS: Final = {role: number for number, role in _ROLES.items()}

Event = pb.Task | pb.Message | pb.TaskStatusUpdateEvent | pb.TaskArtifactUpdateEvent
"""What a2a-sdk's event queue takes."""


# --- JSON values -----------------------------------------------------------------------------


def _value(value: struct_pb2.Value) -> JSON:
    """A ``google.protobuf.Value`` as JSON; an integral number as an ``int``
    (``adapters.a2a.numbers``)."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct(value.struct_value)
    if kind == "list_value":
        return [_value(v) for v in value.list_value.values]
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        return whole(value.number_value)
    return getattr(value, kind)


def _struct(struct: struct_pb2.Struct) -> dict[str, JSON]:
    return {key: _value(v) for key, v in struct.fields.items()}


def _meta(owner: Any) -> Metadata:
    """The ``metadata`` Struct of a message that has one, as JSON (unset or empty: EMPTY)."""
    if not owner.HasField("metadata"):
        return EMPTY
    fields = owner.metadata.fields
    return {key: _value(v) for key, v in fields.items()} if fields else EMPTY


def _put_value(out: struct_pb2.Value, value: JSON) -> None:
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif type(value) is bool:
        out.bool_value = value
    elif type(value) is int or type(value) is float:
        out.number_value = value
    elif type(value) is str:
        out.string_value = value
    elif isinstance(value, Mapping):
        out.struct_value.SetInParent()  # an empty object is still an object
        out.struct_value.update(value)
    elif isinstance(value, list | tuple):
        out.list_value.SetInParent()
        out.list_value.extend(value)
    else:
        raise InvalidParams("is not a JSON value", path="data")


# --- decode: protobuf -> canonical -----------------------------------------------------------


def _with(meta: Metadata, extra: dict[str, Any]) -> Metadata:
    if not extra:
        return meta
    return {**meta, **extra}


def decode_part(part: pb.Part, path: str = "part") -> Part:
    """Raises InvalidParams for a part with no content."""
    kind = part.WhichOneof("content")
    meta = _meta(part)
    if kind == "raw":
        return FileBytesPart(part.raw, part.media_type or None, part.filename or None, meta)
    if kind == "url":
        return FileUriPart(part.url, part.media_type or None, part.filename or None, meta)
    extra: dict[str, Any] = {}
    if part.media_type:
        extra[MEDIA_KEY] = part.media_type
    if part.filename:
        extra[FILENAME_KEY] = part.filename
    if kind == "text":
        return TextPart(part.text, _with(meta, extra))
    if kind == "data":
        return DataPart(_value(part.data), _with(meta, extra))
    raise InvalidParams("must hold exactly one of text, raw, url, data", path=path)


def _parts(parts: Any, path: str) -> tuple[Part, ...]:
    try:
        return tuple([decode_part(p) for p in parts])
    except InvalidParams:
        # Found again, to name the part: the path is not built for every part on the way.
        for i, p in enumerate(parts):
            decode_part(p, f"{path}.parts[{i}]")
        raise


def _lists(meta: Metadata, pairs: tuple[tuple[str, Any], ...]) -> Metadata:
    extra = {key: list(values) for key, values in pairs if values}
    return _with(meta, extra)


def decode_message(message: pb.Message, path: str = "message") -> Message:
    """Raises InvalidParams for a missing messageId or role, or a bad part."""
    role = _ROLES.get(message.role)
    if role is None:
        raise InvalidParams("must be ROLE_USER or ROLE_AGENT", path=f"{path}.role")
    if not message.message_id:
        raise InvalidParams("is required", path=f"{path}.messageId")
    meta = _meta(message)
    if message.extensions or message.reference_task_ids:
        meta = _lists(
            meta,
            ((EXTENSIONS_KEY, message.extensions), (REFERENCES_KEY, message.reference_task_ids)),
        )
    return Message(
        role,
        _parts(message.parts, path),
        message.message_id,
        message.context_id or None,
        message.task_id or None,
        meta,
    )


def decode_artifact(artifact: pb.Artifact, path: str = "artifact") -> Artifact:
    if not artifact.artifact_id:
        raise InvalidParams("is required", path=f"{path}.artifactId")
    return Artifact(
        artifact.artifact_id,
        _parts(artifact.parts, path),
        artifact.name or None,
        artifact.description or None,
        _lists(_meta(artifact), ((EXTENSIONS_KEY, artifact.extensions),))
        if artifact.extensions
        else _meta(artifact),
    )


def task_state(number: int, path: str = "task.status.state") -> TaskState:
    """The canonical state of an A2A ``TaskState`` value.

    Raises:
        InvalidParams: TASK_STATE_UNSPECIFIED, or a number A2A does not define.
    """
    state = _STATES.get(number)
    if state is None:
        raise InvalidParams("is not a known task state", path=path)
    return state


def decode_task(task: pb.Task, path: str = "task") -> Task:
    """Raises InvalidParams: no id, no status, an unknown state, a bad message or artifact."""
    if not task.id:
        raise InvalidParams("is required", path=f"{path}.id")
    if not task.HasField("status"):
        raise InvalidParams("is required", path=f"{path}.status")
    status = task.status
    state = task_state(status.state, f"{path}.status.state")
    meta = _meta(task)
    if status.HasField("timestamp"):
        meta = _with(meta, {TIMESTAMP_KEY: status.timestamp.ToJsonString()})
    message = status.message if status.HasField("message") else None
    return Task(
        task.id,
        state,
        task.context_id or None,
        decode_message(message, f"{path}.status.message") if message is not None else None,
        tuple([decode_artifact(a, f"{path}.artifacts[{i}]") for i, a in enumerate(task.artifacts)]),
        tuple([decode_message(m, f"{path}.history[{i}]") for i, m in enumerate(task.history)]),
        meta,
    )


# --- encode: canonical -> protobuf -----------------------------------------------------------


def _rest(meta: Metadata, lifted: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ``lifted`` keys, the rest) of ``meta``."""
    if not any(key in meta for key in lifted):
        return {}, dict(meta)
    out = {key: meta[key] for key in lifted if key in meta}
    return out, {k: v for k, v in meta.items() if k not in out}


def _strings(values: Any, path: str) -> list[str]:
    if not isinstance(values, list | tuple) or not all(type(v) is str for v in values):
        raise InvalidParams("must be a list of strings", path=path)
    return list(values)


def encode_part(part: Part) -> pb.Part:
    """Raises InvalidParams when ``a2a.mediaType`` / ``a2a.filename`` metadata is not a string."""
    out = pb.Part()
    match part:
        case TextPart() | DataPart():
            extras, meta = _rest(part.metadata, (MEDIA_KEY, FILENAME_KEY))
            for key, value in extras.items():
                if type(value) is not str:
                    raise InvalidParams("must be a string", path=f"part.metadata.{key}")
            if MEDIA_KEY in extras:
                out.media_type = extras[MEDIA_KEY]
            if FILENAME_KEY in extras:
                out.filename = extras[FILENAME_KEY]
            if isinstance(part, TextPart):
                out.text = part.text
            else:
                _put_value(out.data, part.data)
        case FileBytesPart() | FileUriPart():
            if isinstance(part, FileBytesPart):
                out.raw = part.data
            else:
                out.url = part.uri
            if part.media_type is not None:
                out.media_type = part.media_type
            if part.name is not None:
                out.filename = part.name
            meta = dict(part.metadata)
    if meta:
        out.metadata.update(meta)
    return out


def encode_message(message: Message, *, new_id: IdFactory = new_id) -> pb.Message:
    lists, meta = _rest(message.metadata, (EXTENSIONS_KEY, REFERENCES_KEY))
    out = pb.Message(
        message_id=message.message_id if message.message_id is not None else new_id(),
        role=_ROLE_NUMBERS[message.role],
        parts=[encode_part(p) for p in message.parts],
    )
    if message.context_id is not None:
        out.context_id = message.context_id
    if message.task_id is not None:
        out.task_id = message.task_id
    if EXTENSIONS_KEY in lists:
        out.extensions.extend(_strings(lists[EXTENSIONS_KEY], f"metadata.{EXTENSIONS_KEY}"))
    if REFERENCES_KEY in lists:
        out.reference_task_ids.extend(_strings(lists[REFERENCES_KEY], f"metadata.{REFERENCES_KEY}"))
    if meta:
        out.metadata.update(meta)
    return out


def encode_artifact(artifact: Artifact) -> pb.Artifact:
    lists, meta = _rest(artifact.metadata, (EXTENSIONS_KEY,))
    out = pb.Artifact(
        artifact_id=artifact.artifact_id, parts=[encode_part(p) for p in artifact.parts]
    )
    if artifact.name is not None:
        out.name = artifact.name
    if artifact.description is not None:
        out.description = artifact.description
    if EXTENSIONS_KEY in lists:
        out.extensions.extend(_strings(lists[EXTENSIONS_KEY], f"metadata.{EXTENSIONS_KEY}"))
    if meta:
        out.metadata.update(meta)
    return out


def _status(
    out: pb.TaskStatus, state: TaskState, message: Message | None, meta: Metadata, new_id: IdFactory
) -> Metadata | None:
    """Fill ``out``; return the metadata left once ``a2a.timestamp`` is taken out.

    Raises:
        InvalidParams: ``a2a.timestamp`` is not an RFC 3339 string.
    """
    out.state = _STATE_NUMBERS[state]
    if message is not None:
        out.message.CopyFrom(encode_message(message, new_id=new_id))
    if TIMESTAMP_KEY not in meta:
        return meta
    # The JSON form's own check and split; it encodes no message when given none.
    status, rest = encode_status(state, None, meta, new_id)
    out.timestamp.FromJsonString(status["timestamp"])
    return rest


def encode_task(task: Task, *, new_id: IdFactory = new_id) -> pb.Task:
    out = pb.Task(id=task.task_id)
    if task.context_id is not None:
        out.context_id = task.context_id
    meta = _status(out.status, task.state, task.status_message, task.metadata, new_id)
    out.artifacts.extend([encode_artifact(a) for a in task.artifacts])
    out.history.extend([encode_message(m, new_id=new_id) for m in task.history])
    if meta:
        out.metadata.update(meta)
    return out


def encode_status_event(
    item: StatusEvent, *, new_id: IdFactory = new_id
) -> pb.TaskStatusUpdateEvent:
    out = pb.TaskStatusUpdateEvent(task_id=item.task_id)
    if item.context_id is not None:
        out.context_id = item.context_id
    meta = _status(out.status, item.state, item.message, item.metadata, new_id)
    if meta:
        out.metadata.update(meta)
    return out


def encode_event(
    item: Task | Message | StatusEvent | ArtifactEvent | ProgressEvent,
    *,
    new_id: IdFactory = new_id,
) -> Event:
    """The event a2a-sdk's queue takes for one canonical stream item (the payload of the
    ``StreamResponse`` that ``adapters.a2a.encode_stream_item`` writes)."""
    match item:
        case Task():
            return encode_task(item, new_id=new_id)
        case Message():
            return encode_message(item, new_id=new_id)
        case StatusEvent():
            return encode_status_event(item, new_id=new_id)
        case ArtifactEvent():
            out = pb.TaskArtifactUpdateEvent(
                task_id=item.task_id,
                artifact=encode_artifact(item.artifact),
                append=item.append,
                last_chunk=item.last_chunk,
            )
            if item.context_id is not None:
                out.context_id = item.context_id
            if item.metadata:
                out.metadata.update(dict(item.metadata))
            return out
        case ProgressEvent():
            progress: dict[str, Any] = {"progress": item.progress, "token": item.token}
            if item.total is not None:
                progress["total"] = item.total
            text = Message("agent", (TextPart(item.message),)) if item.message is not None else None
            event = pb.TaskStatusUpdateEvent(task_id=str(item.token))
            _status(event.status, TaskState.WORKING, text, EMPTY, new_id)
            event.metadata.update({**item.metadata, PROGRESS_KEY: progress})
            return event
        case _:
            assert_never(item)
