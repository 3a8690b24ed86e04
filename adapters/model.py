"""The canonical model: every protocol message becomes one of these values and back.

Values are frozen dataclasses with slots. Containers are tuples; JSON payloads are plain
``dict``/``list`` values that the model treats as read-only (copying them on every hop would
put a deep copy on the hot path). No I/O and no protocol knowledge live here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeAlias

JSON: TypeAlias = Any
"""A value that ``json.dumps`` accepts: None, bool, int, float, str, list, dict[str, JSON]."""

Metadata: TypeAlias = Mapping[str, JSON]


class _EmptyMetadata(Mapping[str, Any]):
    """An immutable, hashable empty mapping: the default for every metadata field."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    # Fast paths: the Mapping defaults go through __getitem__ and a caught KeyError.
    def get(self, key: str, default: Any = None) -> Any:
        return default

    def __contains__(self, key: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: Metadata = _EmptyMetadata()
"""The shared empty metadata (read-only)."""


# --- content ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    metadata: Metadata = EMPTY
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class DataPart:
    """Structured JSON content (any JSON value; some targets accept objects only)."""

    data: JSON
    metadata: Metadata = EMPTY
    kind: Literal["data"] = "data"


@dataclass(frozen=True, slots=True)
class FileUriPart:
    uri: str
    media_type: str | None = None
    name: str | None = None
    metadata: Metadata = EMPTY
    kind: Literal["file_uri"] = "file_uri"


@dataclass(frozen=True, slots=True)
class FileBytesPart:
    data: bytes
    media_type: str | None = None
    name: str | None = None
    metadata: Metadata = EMPTY
    kind: Literal["file_bytes"] = "file_bytes"


Part: TypeAlias = TextPart | DataPart | FileUriPart | FileBytesPart
Role: TypeAlias = Literal["user", "agent"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]
    message_id: str | None = None
    context_id: str | None = None
    task_id: str | None = None
    metadata: Metadata = EMPTY


@dataclass(frozen=True, slots=True)
class Artifact:
    """A named output made of parts."""

    artifact_id: str
    parts: tuple[Part, ...]
    name: str | None = None
    description: str | None = None
    metadata: Metadata = EMPTY


# --- trace context ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceContext:
    """W3C trace context as carried on the wire (values are not parsed here)."""

    traceparent: str
    tracestate: str | None = None
    baggage: str | None = None


# --- tasks -----------------------------------------------------------------------------------


class TaskState(StrEnum):
    SUBMITTED = "submitted"
    WORKING = "working"
    INPUT_REQUIRED = "input-required"
    AUTH_REQUIRED = "auth-required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Task:
    """One invocation of a skill, as its caller sees it at one moment."""

    task_id: str
    state: TaskState
    context_id: str | None = None
    status_message: Message | None = None
    artifacts: tuple[Artifact, ...] = ()
    history: tuple[Message, ...] = ()
    metadata: Metadata = EMPTY


Outcome: TypeAlias = Task | Message
"""What a call returns: a task, or (A2A allows it) a direct message reply."""


# --- requests --------------------------------------------------------------------------------

Mode: TypeAlias = Literal["sync", "async", "stream"]


@dataclass(frozen=True, slots=True)
class Invocation:
    """A request to run one skill with one input message.

    ``history`` holds earlier messages of the conversation (ACP sends them); targets that
    cannot carry a history refuse an invocation that has one.
    """

    skill: str
    message: Message
    mode: Mode = "sync"
    history: tuple[Message, ...] = ()
    progress_token: str | int | None = None
    trace: TraceContext | None = None
    metadata: Metadata = EMPTY


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop the work started by a request (MCP request id) or task (A2A task, ACP run)."""

    target_id: str | int
    reason: str | None = None
    metadata: Metadata = EMPTY


@dataclass(frozen=True, slots=True)
class GetTask:
    task_id: str
    history_length: int | None = None
    metadata: Metadata = EMPTY


@dataclass(frozen=True, slots=True)
class Resume:
    """Input for a task that is waiting in input-required (A2A follow-up, ACP resume)."""

    task_id: str
    message: Message
    mode: Mode = "sync"


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusEvent:
    task_id: str
    state: TaskState
    context_id: str | None = None
    message: Message | None = None
    metadata: Metadata = EMPTY
    kind: Literal["status"] = "status"


@dataclass(frozen=True, slots=True)
class ArtifactEvent:
    task_id: str
    artifact: Artifact
    context_id: str | None = None
    append: bool = False
    last_chunk: bool = False
    metadata: Metadata = EMPTY
    kind: Literal["artifact"] = "artifact"


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Progress of a running task: MCP progress notifications carry only this."""

    token: str | int
    progress: float
    total: float | None = None
    message: str | None = None
    metadata: Metadata = EMPTY
    kind: Literal["progress"] = "progress"


Event: TypeAlias = StatusEvent | ArtifactEvent | ProgressEvent


# --- agents ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skill:
    """One thing an agent can do; an MCP tool, an A2A skill, an ACP agent."""

    name: str
    description: str | None = None
    input_schema: Mapping[str, JSON] | None = None
    output_schema: Mapping[str, JSON] | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    input_modes: tuple[str, ...] = ()
    output_modes: tuple[str, ...] = ()
    metadata: Metadata = EMPTY


@dataclass(frozen=True, slots=True)
class AgentDescriptor:
    name: str
    skills: tuple[Skill, ...]
    description: str | None = None
    version: str | None = None
    url: str | None = None
    streaming: bool = False
    input_modes: tuple[str, ...] = ()
    output_modes: tuple[str, ...] = ()
    metadata: Metadata = EMPTY


StreamItem: TypeAlias = StatusEvent | ArtifactEvent | ProgressEvent | Task | Message
"""One item of a streamed call: an event, a full task snapshot, or a message."""
