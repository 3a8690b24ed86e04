"""A2A tasks, send results and stream responses <-> canonical tasks, messages and events."""

from __future__ import annotations

from typing import Any, Final, assert_never

from adapters import _wire as w
from adapters.a2a.content import (
    IdFactory,
    decode_artifact,
    decode_message,
    encode_artifact,
    encode_message,
    new_id,
)
from adapters.errors import InvalidParams
from adapters.model import (
    EMPTY,
    ArtifactEvent,
    Message,
    Metadata,
    Outcome,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)

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
STATE_NAMES: Final[dict[TaskState, str]] = {v: k for k, v in STATES.items()}
TIMESTAMP_KEY: Final = "a2a.timestamp"
PROGRESS_KEY: Final = "effmesh.progress"


def _status_in(raw: Any, path: str) -> tuple[TaskState, Message | None, str | None]:
    s = w.obj(raw, path)
    name = w.req_str(s, "state", path)
    state = STATES.get(name)
    if state is None:
        raise InvalidParams("is not a known task state", path=f"{path}.state")
    message = decode_message(s["message"], f"{path}.message") if "message" in s else None
    return state, message, w.opt_str(s, "timestamp", path)


def _status_out(
    state: TaskState, message: Message | None, metadata: Metadata, new_id: IdFactory
) -> dict[str, Any]:
    out: dict[str, Any] = {"state": STATE_NAMES[state]}
    if message is not None:
        out["message"] = encode_message(message, new_id)
    if TIMESTAMP_KEY in metadata:
        out["timestamp"] = metadata[TIMESTAMP_KEY]
    return out


def _without(meta: Metadata, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in keys}


def decode_task(raw: Any, path: str = "task") -> Task:
    t = w.obj(raw, path)
    state, message, stamp = _status_in(w.req_obj(t, "status", path), f"{path}.status")
    meta = dict(w.opt_obj(t, "metadata", path) or {})
    if stamp is not None:
        meta[TIMESTAMP_KEY] = stamp
    artifacts = w.opt_arr(t, "artifacts", path)
    history = w.opt_arr(t, "history", path)
    return Task(
        w.req_str(t, "id", path),
        state,
        w.opt_str(t, "contextId", path),
        message,
        tuple(decode_artifact(a, f"{path}.artifacts[{i}]") for i, a in enumerate(artifacts)),
        tuple(decode_message(m, f"{path}.history[{i}]") for i, m in enumerate(history)),
        meta or EMPTY,
    )


def encode_task(task: Task, new_id: IdFactory = new_id) -> dict[str, Any]:
    out: dict[str, Any] = {"id": task.task_id}
    w.put(out, "contextId", task.context_id)
    out["status"] = _status_out(task.state, task.status_message, task.metadata, new_id)
    if task.artifacts:
        out["artifacts"] = [encode_artifact(a) for a in task.artifacts]
    if task.history:
        out["history"] = [encode_message(m, new_id) for m in task.history]
    w.put(out, "metadata", _without(task.metadata, TIMESTAMP_KEY) or None)
    return out


def decode_outcome(raw: Any) -> Outcome:
    """A ``SendMessage`` result: ``{"task": ...}`` or ``{"message": ...}``."""
    result = w.obj(raw, "result")
    if "task" in result and "message" not in result:
        return decode_task(result["task"], "result.task")
    if "message" in result and "task" not in result:
        return decode_message(result["message"], "result.message")
    raise InvalidParams("must hold exactly one of task, message", path="result")


def encode_outcome(outcome: Outcome, new_id: IdFactory = new_id) -> dict[str, Any]:
    if isinstance(outcome, Message):
        return {"message": encode_message(outcome, new_id)}
    return {"task": encode_task(outcome, new_id)}


def _progress_in(meta: dict[str, Any], message: Message | None, path: str) -> ProgressEvent:
    p = w.obj(meta.pop(PROGRESS_KEY), f"{path}.{PROGRESS_KEY}")
    texts = [x.text for x in message.parts if isinstance(x, TextPart)] if message else []
    return ProgressEvent(
        w.req_id(p, "token", path),
        w.req_number(p, "progress", path),
        w.opt_number(p, "total", path),
        "\n".join(texts) if texts else None,
        meta or EMPTY,
    )


def decode_stream_item(raw: Any, path: str = "result") -> StreamItem:
    """One ``StreamResponse`` (the payload of one SSE event)."""
    r = w.obj(raw, path)
    kinds = [k for k in ("task", "message", "statusUpdate", "artifactUpdate") if k in r]
    if len(kinds) != 1:
        raise InvalidParams(
            "must hold exactly one of task, message, statusUpdate, artifactUpdate", path=path
        )
    kind = kinds[0]
    if kind == "task":
        return decode_task(r["task"], f"{path}.task")
    if kind == "message":
        return decode_message(r["message"], f"{path}.message")
    body = w.obj(r[kind], f"{path}.{kind}")
    bpath = f"{path}.{kind}"
    meta = dict(w.opt_obj(body, "metadata", bpath) or {})
    task_id = w.req_str(body, "taskId", bpath)
    context_id = w.opt_str(body, "contextId", bpath)
    if kind == "statusUpdate":
        status = w.req_obj(body, "status", bpath)
        state, message, stamp = _status_in(status, f"{bpath}.status")
        if PROGRESS_KEY in meta and state is TaskState.WORKING:
            return _progress_in(meta, message, f"{bpath}.metadata")
        if stamp is not None:
            meta[TIMESTAMP_KEY] = stamp
        return StatusEvent(task_id, state, context_id, message, meta or EMPTY)
    artifact = decode_artifact(w.req_obj(body, "artifact", bpath), f"{bpath}.artifact")
    return ArtifactEvent(
        task_id,
        artifact,
        context_id,
        w.opt_bool(body, "append", bpath),
        w.opt_bool(body, "lastChunk", bpath),
        meta or EMPTY,
    )


def encode_stream_item(item: StreamItem, new_id: IdFactory = new_id) -> dict[str, Any]:
    match item:
        case Task():
            return {"task": encode_task(item, new_id)}
        case Message():
            return {"message": encode_message(item, new_id)}
        case StatusEvent():
            body: dict[str, Any] = {"taskId": item.task_id}
            w.put(body, "contextId", item.context_id)
            body["status"] = _status_out(item.state, item.message, item.metadata, new_id)
            w.put(body, "metadata", _without(item.metadata, TIMESTAMP_KEY) or None)
            return {"statusUpdate": body}
        case ArtifactEvent():
            body = {"taskId": item.task_id}
            w.put(body, "contextId", item.context_id)
            body["artifact"] = encode_artifact(item.artifact)
            if item.append:
                body["append"] = True
            if item.last_chunk:
                body["lastChunk"] = True
            w.put(body, "metadata", dict(item.metadata) or None)
            return {"artifactUpdate": body}
        case ProgressEvent():
            progress: dict[str, Any] = {"token": item.token, "progress": item.progress}
            w.put(progress, "total", item.total)
            status: dict[str, Any] = {"state": "TASK_STATE_WORKING"}
            if item.message is not None:
                text = Message("agent", (TextPart(item.message),))
                status["message"] = encode_message(text, new_id)
            return {
                "statusUpdate": {
                    "taskId": str(item.token),
                    "status": status,
                    "metadata": {**item.metadata, PROGRESS_KEY: progress},
                }
            }
        case _:
            assert_never(item)
