"""A2A ``Task`` and ``SendMessageResponse`` <-> canonical tasks and outcomes.

The status timestamp (RFC 3339, as protobuf writes a ``Timestamp``) has no canonical field:
it rides in the task's metadata under ``a2a.timestamp``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from adapters import _wire as w
from adapters.a2a.messages import (
    IdFactory,
    decode_artifact,
    decode_message,
    encode_artifact,
    encode_message,
    new_id,
)
from adapters.errors import InvalidParams
from adapters.model import EMPTY, Message, Metadata, Outcome, Task, TaskState

STATES: Final[dict[str, TaskState]] = {
    "TASK_STATE_SUBMITTED": TaskState.SUBMITTED,
    "TASK_STATE_WORKING": TaskState.WORKING,
    "TASK_STATE_INPUT_REQUIRED": TaskState.INPUT_REQUIRED,
    "TASK_STATE_AUTH_REQUIRED": TaskState.AUTH_REQUIRED,
    "TASK_STATE_COMPLETED": TaskState.COMPLETED,
    "TASK_STATE_FAILED": TaskState.FAILED,
    "TASK_STATE_CANCELED": TaskState.CANCELED,
    "TASK_STATE_REJECTED": TaskState.REJECTED,
}
"""Every A2A state but TASK_STATE_UNSPECIFIED, which no valid task is in."""
STATE_NAMES: Final[dict[TaskState, str]] = {v: k for k, v in STATES.items()}
TIMESTAMP_KEY: Final = "a2a.timestamp"
_TIMESTAMP: Final = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)


def decode_state(s: dict[str, Any], path: str) -> TaskState:
    name = s.get("state")
    state = STATES.get(name) if type(name) is str else None
    if state is None:
        w.req_str(s, "state", path)
        raise InvalidParams("is not a known task state", path=f"{path}.state")
    return state


def decode_status(raw: Any, path: str) -> tuple[TaskState, Message | None, str | None]:
    """(state, message, timestamp) of a ``TaskStatus``."""
    s = w.obj(raw, path)
    state = decode_state(s, path)
    message = s.get("message")
    stamp = w.opt_str(s, "timestamp", path)
    if stamp is not None and not _TIMESTAMP.fullmatch(stamp):
        raise InvalidParams("must be an RFC 3339 timestamp", path=f"{path}.timestamp")
    return state, decode_message(message, f"{path}.message") if message is not None else None, stamp


def with_timestamp(meta: Metadata, stamp: str | None) -> Metadata:
    if stamp is None:
        return meta or EMPTY
    return {**meta, TIMESTAMP_KEY: stamp}


def encode_status(
    state: TaskState, message: Message | None, metadata: Metadata, new_id: IdFactory
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ``TaskStatus`` and the metadata left once ``a2a.timestamp`` is taken out.

    Raises:
        InvalidParams: ``a2a.timestamp`` is not an RFC 3339 string.
    """
    status: dict[str, Any] = {"state": STATE_NAMES[state]}
    if message is not None:
        status["message"] = encode_message(message, new_id=new_id)
    if not metadata:
        return status, None
    if TIMESTAMP_KEY not in metadata:
        return status, metadata if type(metadata) is dict else dict(metadata)
    stamp = metadata[TIMESTAMP_KEY]
    if type(stamp) is not str or not _TIMESTAMP.fullmatch(stamp):
        raise InvalidParams("must be an RFC 3339 timestamp", path=f"metadata.{TIMESTAMP_KEY}")
    status["timestamp"] = stamp
    rest = {k: v for k, v in metadata.items() if k != TIMESTAMP_KEY}
    return status, rest or None


def decode_task(raw: Any, path: str = "task") -> Task:
    """A bare ``Task`` (the result of GetTask and CancelTask).

    Raises:
        InvalidParams: no id, no status, an unknown state, or a bad message or artifact.
    """
    t = w.obj(raw, path)
    state, message, stamp = decode_status(w.req_obj(t, "status", path), f"{path}.status")
    artifacts = w.opt_arr(t, "artifacts", path)
    history = w.opt_arr(t, "history", path)
    return Task(
        w.req_str(t, "id", path),
        state,
        w.opt_str(t, "contextId", path),
        message,
        tuple([decode_artifact(a, f"{path}.artifacts[{i}]") for i, a in enumerate(artifacts)]),
        tuple([decode_message(m, f"{path}.history[{i}]") for i, m in enumerate(history)]),
        with_timestamp(w.opt_obj(t, "metadata", path) or EMPTY, stamp),
    )


def encode_task(task: Task, *, new_id: IdFactory = new_id) -> dict[str, Any]:
    out: dict[str, Any] = {"id": task.task_id}
    if task.context_id is not None:
        out["contextId"] = task.context_id
    status, meta = encode_status(task.state, task.status_message, task.metadata, new_id)
    out["status"] = status
    if task.artifacts:
        out["artifacts"] = [encode_artifact(a) for a in task.artifacts]
    if task.history:
        out["history"] = [encode_message(m, new_id=new_id) for m in task.history]
    if meta:
        out["metadata"] = meta
    return out


def one_of(r: Mapping[str, Any], keys: tuple[str, ...], path: str) -> str:
    """The one key of ``keys`` that ``r`` holds (a protobuf oneof; null counts as absent)."""
    found = [k for k in keys if r.get(k) is not None]
    if len(found) != 1:
        raise InvalidParams(f"must hold exactly one of {', '.join(keys)}", path=path)
    return found[0]


def decode_outcome(raw: Any) -> Outcome:
    """The canonical outcome of a ``SendMessageResponse``: ``{"task"}`` or ``{"message"}``."""
    result = w.obj(raw, "result")
    if one_of(result, ("task", "message"), "result") == "task":
        return decode_task(result["task"], "result.task")
    return decode_message(result["message"], "result.message")


def encode_outcome(outcome: Outcome, *, new_id: IdFactory = new_id) -> dict[str, Any]:
    """A ``SendMessageResponse``."""
    if isinstance(outcome, Message):
        return {"message": encode_message(outcome, new_id=new_id)}
    return {"task": encode_task(outcome, new_id=new_id)}
