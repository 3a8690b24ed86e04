"""ACP runs: create requests, runs, resume, cancel and run events <-> canonical values.

Trace context rides in HTTP headers (``traceparent``, ``tracestate``, ``baggage``): ACP
messages and run requests have no metadata field.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final, assert_never

from adapters import _wire as w
from adapters.acp.content import decode_message, decode_part, encode_message, encode_part
from adapters.acp.errors import decode_error
from adapters.errors import CannotCarry, InvalidParams
from adapters.model import (
    EMPTY,
    Artifact,
    ArtifactEvent,
    Cancel,
    DataPart,
    Invocation,
    Message,
    Mode,
    Outcome,
    ProgressEvent,
    Resume,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
    TraceContext,
)
from adapters.trace import TRACE_KEYS

MODES: Final = ("sync", "async", "stream")
STATUSES: Final[dict[str, TaskState]] = {
    "created": TaskState.SUBMITTED,
    "in-progress": TaskState.WORKING,
    "awaiting": TaskState.INPUT_REQUIRED,
    "completed": TaskState.COMPLETED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.CANCELED,
    "cancelling": TaskState.WORKING,
}
STATUS_NAMES: Final[dict[TaskState, str]] = {
    TaskState.SUBMITTED: "created",
    TaskState.WORKING: "in-progress",
    TaskState.INPUT_REQUIRED: "awaiting",
    TaskState.COMPLETED: "completed",
    TaskState.FAILED: "failed",
    TaskState.CANCELED: "cancelled",
    TaskState.REJECTED: "failed",
}
TARGET_RUN: Final = "an ACP run"
TARGET_REQUEST: Final = "an ACP run request"


def _mode(value: Any, path: str) -> Mode:
    if value is None:
        return "sync"
    if value not in MODES:
        raise InvalidParams("must be sync, async or stream", path=path)
    mode: Mode = value
    return mode


# --- run requests ----------------------------------------------------------------------------


def decode_invocation(raw: Any, *, headers: Mapping[str, str] | None = None) -> Invocation:
    path = "body"
    body = w.obj(raw, path)
    agent = w.req_str(body, "agent_name", path)
    items = w.req_arr(body, "input", path)
    if not items:
        raise InvalidParams("must hold at least one message", path=f"{path}.input")
    messages = [decode_message(m, f"{path}.input[{i}]") for i, m in enumerate(items)]
    meta: dict[str, Any] = {}
    session = w.opt_str(body, "session_id", path)
    extra = w.opt_obj(body, "metadata", path) or {}
    if session is not None and type(extra.get(CONTEXT_KEY)) is str:
        session = extra[CONTEXT_KEY]
    if "session" in body and body["session"] is not None:
        meta["acp.session"] = w.obj(body["session"], f"{path}.session")
    last = messages[-1]
    if session is not None:
        last = Message(last.role, last.parts, last.message_id, session, last.task_id, last.metadata)
    trace = None
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        if "traceparent" in lowered:
            trace = TraceContext(
                lowered["traceparent"], lowered.get("tracestate"), lowered.get("baggage")
            )
    return Invocation(
        agent,
        last,
        _mode(body.get("mode"), f"{path}.mode"),
        tuple(messages[:-1]),
        None,
        trace,
        meta or EMPTY,
    )


CONTEXT_KEY: Final = "effmesh.context_id"
TASK_KEY: Final = "effmesh.task_id"
_SESSION_NAMESPACE: Final = uuid.UUID("6f1b3c52-3a0e-5b8e-9d1a-2f4e6c8a0b17")


_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
    r"[0-9a-fA-F]{12}$"
)


def _is_uuid(value: str) -> bool:
    return _UUID.match(value) is not None


@functools.lru_cache(maxsize=4096)
def session_for(context_id: str) -> tuple[str, str | None]:
    """ACP session ids are UUIDs: another protocol's context id maps to a stable UUID, and the
    original travels beside it (``effmesh.context_id``) so an effmesh peer reads it back."""
    if _is_uuid(context_id):
        return context_id, None
    return str(uuid.uuid5(_SESSION_NAMESPACE, context_id)), context_id


def encode_invocation(inv: Invocation) -> tuple[dict[str, Any], dict[str, str]]:
    """(RunCreateRequest body, HTTP headers carrying the trace context).

    A progress token asks for progress reports; ACP reports progress only as stream events,
    so a synchronous invocation with a token becomes a stream-mode run. The token itself
    stays with the caller (it names the caller's progress notifications).

    Raises:
        CannotCarry: a progress token on an async run (nothing would report to it),
            or invocation metadata.
    """
    mode = inv.mode
    if inv.progress_token is not None:
        if mode == "async":
            raise CannotCarry("a progress token on an async run", TARGET_REQUEST)
        mode = "stream"
    foreign = sorted(k for k in inv.metadata if k != "acp.session")
    if foreign:
        raise CannotCarry(f"request metadata {foreign[0]!r}", TARGET_REQUEST)
    body: dict[str, Any] = {"agent_name": inv.skill}
    context = inv.message.context_id
    if context is not None:
        body["session_id"], original = session_for(context)
        if original is not None:
            body["metadata"] = {CONTEXT_KEY: original}
    if "acp.session" in inv.metadata:
        body["session"] = inv.metadata["acp.session"]
    body["input"] = [encode_message(m) for m in (*inv.history, inv.message)]
    body["mode"] = mode
    return body, trace_headers(inv.trace) if inv.trace is not None else {}


def trace_headers(trace: TraceContext) -> dict[str, str]:
    """The HTTP headers that carry ``trace`` on an ACP request (ACP bodies have no field)."""
    return {k: v for k in TRACE_KEYS if (v := getattr(trace, k)) is not None}


def decode_resume(run_id: str, raw: Any) -> Resume:
    path = "body"
    body = w.obj(raw, path)
    resume = w.req_obj(body, "await_resume", path)
    if resume.get("type", "message") != "message":
        raise InvalidParams("must be message", path=f"{path}.await_resume.type")
    message = decode_message(resume.get("message"), f"{path}.await_resume.message")
    return Resume(run_id, message, _mode(body.get("mode"), f"{path}.mode"))


def encode_resume(resume: Resume) -> dict[str, Any]:
    return {
        "await_resume": {"type": "message", "message": encode_message(resume.message)},
        "mode": resume.mode,
    }


def decode_cancel(run_id: str) -> Cancel:
    return Cancel(run_id)


def encode_cancel(cancel: Cancel) -> str:
    """The run id for ``POST /runs/{id}/cancel`` (ACP's cancel has no body)."""
    if cancel.reason is not None or cancel.metadata:
        raise CannotCarry("a cancel reason or metadata", "ACP cancel")
    return str(cancel.target_id)


# --- runs ------------------------------------------------------------------------------------


def _artifacts_in(output: list[Any], path: str) -> tuple[Artifact, ...]:
    artifacts = []
    for i, raw in enumerate(output):
        message = decode_message(raw, f"{path}[{i}]")
        m = w.obj(raw, f"{path}[{i}]")
        first = m["parts"][0] if m["parts"] else None
        desc = first.get("artifact") if isinstance(first, dict) else None
        meta = dict(message.metadata)
        if message.role != "agent":
            meta["acp.message_role"] = message.role
        if isinstance(desc, dict):
            dpath = f"{path}[{i}].parts[0].artifact"
            artifacts.append(
                Artifact(
                    w.req_str(desc, "id", dpath),
                    message.parts,
                    w.opt_str(desc, "name", dpath),
                    w.opt_str(desc, "description", dpath),
                    meta or EMPTY,
                )
            )
        else:
            artifacts.append(Artifact(f"output-{i}", message.parts, metadata=meta or EMPTY))
    return tuple(artifacts)


def _artifacts_out(artifacts: tuple[Artifact, ...]) -> list[dict[str, Any]]:
    output = []
    for i, artifact in enumerate(artifacts):
        meta = {k: v for k, v in artifact.metadata.items() if k != "acp.message_role"}
        role = artifact.metadata.get("acp.message_role", "agent")
        message = encode_message(Message(role, artifact.parts, metadata=meta))
        plain = (
            artifact.artifact_id == f"output-{i}"
            and artifact.name is None
            and artifact.description is None
        )
        if not plain:
            if not message["parts"]:
                raise CannotCarry(
                    f"the descriptor of empty artifact {artifact.artifact_id!r:.40}", TARGET_RUN
                )
            desc: dict[str, Any] = {"id": artifact.artifact_id}
            w.put(desc, "name", artifact.name)
            w.put(desc, "description", artifact.description)
            for part in message["parts"]:
                part["artifact"] = desc
        output.append(message)
    return output


def decode_outcome(raw: Any) -> Task:
    path = "run"
    run = w.obj(raw, path)
    run_id = w.req_str(run, "run_id", path)
    status = w.req_str(run, "status", path)
    state = STATUSES.get(status)
    if state is None:
        raise InvalidParams("is not a known run status", path=f"{path}.status")
    meta: dict[str, Any] = dict(w.opt_obj(run, "metadata", path) or {})
    meta["acp.agent_name"] = w.req_str(run, "agent_name", path)
    if status == "cancelling":
        meta["acp.status"] = status
    for key in ("created_at", "finished_at"):
        value = w.opt_str(run, key, path)
        if value is not None:
            meta[f"acp.{key}"] = value
    status_message = None
    # acp-sdk leaves a resumed run's await_request in place: only a run that awaits asks.
    if run.get("await_request") is not None and state is TaskState.INPUT_REQUIRED:
        request = w.obj(run["await_request"], f"{path}.await_request")
        status_message = decode_message(request.get("message"), f"{path}.await_request.message")
    if run.get("error") is not None:
        error = w.obj(run["error"], f"{path}.error")
        text = w.req_str(error, "message", f"{path}.error")
        meta["acp.error"] = {k: v for k, v in error.items() if k != "message"}
        status_message = Message("agent", (TextPart(text),))
        data = error.get("data")
        if state is TaskState.FAILED and isinstance(data, dict) and data.get("state") == "rejected":
            state = TaskState.REJECTED
    if type(meta.get(TASK_KEY)) is str:
        run_id = meta.pop(TASK_KEY)
    return Task(
        run_id,
        state,
        meta.pop(CONTEXT_KEY, None)
        if type(meta.get(CONTEXT_KEY)) is str
        else w.opt_str(run, "session_id", path),
        status_message,
        _artifacts_in(w.opt_arr(run, "output", path), f"{path}.output"),
        (),
        meta,
    )


def encode_outcome(outcome: Outcome, *, agent_name: str) -> dict[str, Any]:
    """An ACP Run of the agent the caller knows as ``agent_name``. A direct Message reply,
    or the status message of a completed task without artifacts, is the run's output.

    Raises:
        CannotCarry: auth-required (ACP has no such status), or a history.
    """
    if isinstance(outcome, Message):
        return {
            "run_id": str(uuid.uuid4()),
            "agent_name": agent_name,
            "status": "completed",
            "output": [encode_message(outcome)],
        }
    task = outcome
    if task.state is TaskState.AUTH_REQUIRED:
        raise CannotCarry("the task state 'auth-required'", TARGET_RUN)
    meta = task.metadata
    status = meta.get("acp.status") or STATUS_NAMES[task.state]
    run_id, original_id = session_for(task.task_id) if task.task_id else (str(uuid.uuid4()), None)
    run: dict[str, Any] = {
        "run_id": run_id,
        # The name the caller called it by: an upstream's own name stays upstream.
        "agent_name": agent_name,
        "status": status,
    }
    original = None
    if task.context_id is not None:
        run["session_id"], original = session_for(task.context_id)
    message = task.status_message
    if task.state is TaskState.INPUT_REQUIRED and message is not None:
        run["await_request"] = {"type": "message", "message": encode_message(message)}
    elif task.state in (TaskState.FAILED, TaskState.REJECTED):
        texts = [p.text for p in message.parts if isinstance(p, TextPart)] if message else []
        error: dict[str, Any] = dict(meta.get("acp.error", {"code": "server_error"}))
        error["message"] = "\n".join(texts) or "the task failed"
        if task.state is TaskState.REJECTED:
            error["data"] = {**(error.get("data") or {}), "state": "rejected"}
        run["error"] = error
    run["output"] = _artifacts_out(task.artifacts)
    if task.state is TaskState.COMPLETED and not task.artifacts and message is not None:
        # An answer given as a message (an A2A Message reply, a final status text) is output.
        run["output"] = [encode_message(message)]
    for key in ("created_at", "finished_at"):
        if f"acp.{key}" in meta:
            run[key] = meta[f"acp.{key}"]
    foreign = {k: v for k, v in meta.items() if not k.startswith("acp.")}
    if original is not None:
        foreign[CONTEXT_KEY] = original
    if original_id is not None:
        foreign[TASK_KEY] = original_id
    if foreign:
        # Not an ACP field: acp-sdk peers ignore it, an effmesh peer reads it back.
        run["metadata"] = foreign
    return run


# --- events ----------------------------------------------------------------------------------

RUN_EVENTS: Final = {
    "created": "run.created",
    "in-progress": "run.in-progress",
    "awaiting": "run.awaiting",
    "completed": "run.completed",
    "failed": "run.failed",
    "cancelled": "run.cancelled",
    "cancelling": "run.in-progress",
}
EVENT_KEY: Final = "acp.event"


def decode_stream_item(raw: Any, *, run_id: str | None = None) -> StreamItem:
    """One ACP run event.

    Raises:
        EffmeshError: the event is an ``error`` event (the peer's error, rebuilt).
    """
    path = "event"
    event = w.obj(raw, path)
    kind = w.req_str(event, "type", path)
    if kind.startswith("run."):
        return decode_outcome(event.get("run"))
    if kind in ("message.created", "message.completed"):
        message = decode_message(event.get("message"), f"{path}.message")
        return Message(message.role, message.parts, metadata={**message.metadata, EVENT_KEY: kind})
    if kind == "message.part":
        part_raw = w.req_obj(event, "part", path)
        part = decode_part(part_raw, f"{path}.part")
        name = w.opt_str(part_raw, "name", f"{path}.part")
        return ArtifactEvent(run_id or "", Artifact(name or "part", (part,)), append=True)
    if kind == "generic":
        generic = w.req_obj(event, "generic", path)
        if type(generic.get("progress")) in (int, float) and "token" in generic:
            return ProgressEvent(
                w.req_id(generic, "token", f"{path}.generic"),
                float(generic["progress"]),
                w.opt_number(generic, "total", f"{path}.generic"),
                w.opt_str(generic, "message", f"{path}.generic"),
            )
        return StatusEvent(
            run_id or "",
            TaskState.WORKING,
            message=Message("agent", (DataPart(generic),)),
            metadata={EVENT_KEY: "generic"},
        )
    if kind == "error":
        raise decode_error(500, w.req_obj(event, "error", path))
    raise InvalidParams(f"unknown event type {kind!r:.40}", path=f"{path}.type")


def encode_stream_item(item: StreamItem, *, agent_name: str) -> list[dict[str, Any]]:
    """The ACP events for one canonical item (an artifact becomes one event per part)."""
    match item:
        case Task():
            run = encode_outcome(item, agent_name=agent_name)
            return [{"type": RUN_EVENTS[run["status"]], "run": run}]
        case Message():
            kind = item.metadata.get(EVENT_KEY, "message.completed")
            meta = {k: v for k, v in item.metadata.items() if k != EVENT_KEY}
            plain = Message(item.role, item.parts, metadata=meta)
            return [{"type": kind, "message": encode_message(plain)}]
        case ArtifactEvent():
            events = []
            for part in item.artifact.parts:
                wire = encode_part(part)
                if item.artifact.artifact_id != "part" and "name" not in wire:
                    wire["name"] = item.artifact.artifact_id
                events.append({"type": "message.part", "part": wire})
            return events
        case ProgressEvent():
            generic: dict[str, Any] = {"token": item.token, "progress": item.progress}
            w.put(generic, "total", item.total)
            w.put(generic, "message", item.message)
            return [{"type": "generic", "generic": generic}]
        case StatusEvent():
            if item.metadata.get(EVENT_KEY) == "generic" and item.message is not None:
                data = item.message.parts[0] if item.message.parts else None
                if isinstance(data, DataPart) and type(data.data) is dict:
                    return [{"type": "generic", "generic": data.data}]
            if item.state is TaskState.WORKING and item.message is not None:
                found = [
                    p.data
                    for p in item.message.parts
                    if isinstance(p, DataPart) and type(p.data) is dict
                ]
                if found:
                    text = " ".join(p.text for p in item.message.parts if isinstance(p, TextPart))
                    generic = dict(found[0])
                    if text and "message" not in generic:
                        generic["message"] = text
                    return [{"type": "generic", "generic": generic}]
            task = Task(
                item.task_id, item.state, item.context_id, item.message, metadata=item.metadata
            )
            run = encode_outcome(task, agent_name=agent_name)
            return [{"type": RUN_EVENTS[run["status"]], "run": run}]
        case _:
            assert_never(item)
