"""Progress and cancellation notifications <-> canonical events and cancels."""

from __future__ import annotations

from typing import Any, assert_never

from adapters import _wire as w
from adapters.errors import CannotCarry
from adapters.model import (
    EMPTY,
    ArtifactEvent,
    Cancel,
    Message,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)

TARGET = "an MCP notification"


def decode_progress(params: dict[str, Any]) -> ProgressEvent:
    path = "params"
    return ProgressEvent(
        token=w.req_id(params, "progressToken", path),
        progress=w.req_number(params, "progress", path),
        total=w.opt_number(params, "total", path),
        message=w.opt_str(params, "message", path),
        metadata=w.opt_obj(params, "_meta", path) or EMPTY,
    )


def encode_progress(event: ProgressEvent) -> dict[str, Any]:
    params: dict[str, Any] = {"progressToken": event.token, "progress": event.progress}
    w.put(params, "total", event.total)
    w.put(params, "message", event.message)
    w.put(params, "_meta", dict(event.metadata) or None)
    return params


def encode_stream_item(
    item: StreamItem, *, progress_token: str | int, step: float
) -> dict[str, Any]:
    """``notifications/progress`` params for one streamed item of a call.

    MCP streams nothing but progress: a working status becomes a progress step whose message
    is the status text. Artifact chunks, snapshots and messages are collected into the final
    ``tools/call`` result by the caller of this function, so they raise here.

    Raises:
        CannotCarry: the item is not progress or a working status.
    """
    if isinstance(item, StatusEvent) and item.state in (TaskState.SUBMITTED, TaskState.WORKING):
        texts = (
            [p.text for p in item.message.parts if isinstance(p, TextPart)]
            if (item.message)
            else []
        )
        params: dict[str, Any] = {"progressToken": progress_token, "progress": step}
        if texts:
            params["message"] = "\n".join(texts)
        return params
    if isinstance(item, ProgressEvent):
        return encode_progress(
            ProgressEvent(progress_token, item.progress, item.total, item.message, item.metadata)
        )
    raise CannotCarry(_describe(item), TARGET)


def _describe(item: StreamItem) -> str:
    match item:
        case StatusEvent(state=state):
            return f"a {state.value} status event"
        case ArtifactEvent():
            return "an artifact update"
        case Task():
            return "a task snapshot"
        case Message():
            return "a message"
        case ProgressEvent():
            return "a progress event"
        case _:
            assert_never(item)


def decode_cancel(params: dict[str, Any]) -> Cancel:
    path = "params"
    return Cancel(
        w.req_id(params, "requestId", path),
        w.opt_str(params, "reason", path),
        w.opt_obj(params, "_meta", path) or EMPTY,
    )


def encode_cancel(cancel: Cancel) -> dict[str, Any]:
    params: dict[str, Any] = {"requestId": cancel.target_id}
    w.put(params, "reason", cancel.reason)
    w.put(params, "_meta", dict(cancel.metadata) or None)
    return params
