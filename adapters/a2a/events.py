"""A2A ``StreamResponse`` (one SSE event of SendStreamingMessage / SubscribeToTask) <->
canonical stream items.

MCP-style progress has no A2A event of its own. A ProgressEvent travels as a working
``statusUpdate`` whose ``taskId`` is the token, whose status message (if any) is the progress
text, and whose metadata holds ``effmesh.progress`` = {progress, total, token}. Only a status
update of exactly that shape decodes back into a ProgressEvent; any other one, even with an
``effmesh.progress`` key, stays a StatusEvent, so nothing a peer sent is lost.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

from adapters import _wire as w
from adapters.a2a.messages import (
    IdFactory,
    decode_artifact,
    decode_message,
    encode_artifact,
    encode_message,
    new_id,
)
from adapters.a2a.tasks import (
    decode_status,
    decode_task,
    encode_status,
    encode_task,
    one_of,
    with_timestamp,
)
from adapters.model import (
    EMPTY,
    ArtifactEvent,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)

PROGRESS_KEY: Final = "effmesh.progress"
_KINDS: Final = ("task", "message", "statusUpdate", "artifactUpdate")
_PROGRESS_FIELDS: Final = frozenset({"progress", "total", "token"})


def _number(value: Any) -> float | None:
    return float(value) if type(value) is int or type(value) is float else None


def _token(value: Any) -> str | int | None:
    if type(value) is str or type(value) is int:
        return value  # type: ignore[no-any-return,unused-ignore]
    # Struct numbers are doubles: a peer that parsed our metadata gives 7 back as 7.0.
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _as_progress(
    task_id: str, body: dict[str, Any], meta: dict[str, Any], message: Message | None
) -> ProgressEvent | None:
    """The ProgressEvent a status update stands for, or None if it is not exactly one."""
    p = meta.get(PROGRESS_KEY)
    if type(p) is not dict or not p.keys() <= _PROGRESS_FIELDS or "contextId" in body:
        return None
    token = _token(p.get("token"))
    progress = _number(p.get("progress"))
    total = _number(p.get("total"))
    if token is None or progress is None or str(token) != task_id:
        return None
    if "total" in p and total is None:
        return None
    text = None
    if message is not None:
        parts = message.parts
        if (
            message.role != "agent"
            or message.context_id is not None
            or message.task_id is not None
            or message.metadata
            or len(parts) != 1
            or not isinstance(parts[0], TextPart)
            or parts[0].metadata
        ):
            return None
        text = parts[0].text
    rest = {k: v for k, v in meta.items() if k != PROGRESS_KEY}
    return ProgressEvent(token, progress, total, text, rest or EMPTY)


def decode_stream_item(raw: Any, path: str = "result") -> StreamItem:
    """One ``StreamResponse``.

    Raises:
        InvalidParams: not exactly one of task, message, statusUpdate, artifactUpdate, or a
            bad field inside it.
    """
    r = w.obj(raw, path)
    kind = one_of(r, _KINDS, path)
    bpath = f"{path}.{kind}"
    if kind == "task":
        return decode_task(r["task"], bpath)
    if kind == "message":
        return decode_message(r["message"], bpath)
    body = w.obj(r[kind], bpath)
    task_id = w.req_str(body, "taskId", bpath)
    context_id = w.opt_str(body, "contextId", bpath)
    meta = w.opt_obj(body, "metadata", bpath)
    if kind == "statusUpdate":
        status = w.req_obj(body, "status", bpath)
        state, message, stamp = decode_status(status, f"{bpath}.status")
        if meta and stamp is None and state is TaskState.WORKING and PROGRESS_KEY in meta:
            progress = _as_progress(task_id, body, meta, message)
            if progress is not None:
                return progress
        return StatusEvent(
            task_id, state, context_id, message, with_timestamp(meta or EMPTY, stamp)
        )
    return ArtifactEvent(
        task_id,
        decode_artifact(w.req_obj(body, "artifact", bpath), f"{bpath}.artifact"),
        context_id,
        w.opt_bool(body, "append", bpath),
        w.opt_bool(body, "lastChunk", bpath),
        meta or EMPTY,
    )


def encode_stream_item(item: StreamItem, *, new_id: IdFactory = new_id) -> dict[str, Any]:
    """A ``StreamResponse``."""
    match item:
        case Task():
            return {"task": encode_task(item, new_id=new_id)}
        case Message():
            return {"message": encode_message(item, new_id=new_id)}
        case StatusEvent():
            body: dict[str, Any] = {"taskId": item.task_id}
            if item.context_id is not None:
                body["contextId"] = item.context_id
            status, meta = encode_status(item.state, item.message, item.metadata, new_id)
            body["status"] = status
            if meta:
                body["metadata"] = meta
            return {"statusUpdate": body}
        case ArtifactEvent():
            body = {"taskId": item.task_id}
            if item.context_id is not None:
                body["contextId"] = item.context_id
            body["artifact"] = encode_artifact(item.artifact)
            if item.append:
                body["append"] = True
            if item.last_chunk:
                body["lastChunk"] = True
            if item.metadata:
                body["metadata"] = dict(item.metadata)
            return {"artifactUpdate": body}
        case ProgressEvent():
            return {"statusUpdate": _encode_progress(item, new_id)}
        case _:
            assert_never(item)


def _encode_progress(item: ProgressEvent, new_id: IdFactory) -> dict[str, Any]:
    progress: dict[str, Any] = {"progress": item.progress, "token": item.token}
    if item.total is not None:
        progress["total"] = item.total
    status: dict[str, Any] = {"state": "TASK_STATE_WORKING"}
    if item.message is not None:
        text = Message("agent", (TextPart(item.message),))
        status["message"] = encode_message(text, new_id=new_id)
    return {
        "taskId": str(item.token),
        "status": status,
        "metadata": {**item.metadata, PROGRESS_KEY: progress},
    }
