"""``tools/call`` requests and results <-> canonical invocations and tasks.

Arguments convention: ``{"text": "..."}`` (that one key, a string) is a plain text message and
becomes one TextPart; any other arguments object is one DataPart. This is what lets a text-only
A2A or ACP agent appear as an MCP tool whose schema asks for ``text``.

Requests decode from wire JSON (``decode_invocation``) or from the MCP SDK's validated
``CallToolRequestParams`` (``decode_call_params``), with the same result for the same request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from adapters import _wire as w
from adapters.errors import (
    Canceled,
    CannotCarry,
    InvalidParams,
    Unauthorized,
    Unsupported,
)
from adapters.mcp.content import decode_block, encode_part
from adapters.model import (
    EMPTY,
    Artifact,
    DataPart,
    Invocation,
    Message,
    Outcome,
    Part,
    Task,
    TaskState,
    TextPart,
)
from adapters.trace import join_trace, split_trace

if TYPE_CHECKING:
    import mcp_types as mt

TEXT_ARGUMENT: Final = "text"
RESERVED_PREFIX: Final = "io.modelcontextprotocol/"
RESULT_ARTIFACT_ID: Final = "result"
STATUS_ARTIFACT_ID: Final = "effmesh.status"
ARTIFACTS_META_KEY: Final = "effmesh.artifacts"
NO_RENDERING_KEY: Final = "mcp.noRendering"
MODERN_VERSION: Final = "2026-07-28"
TARGET_CALL: Final = "MCP tools/call"
TARGET_RESULT: Final = "MCP tools/call result"
INPUT_REQUESTS_KEY: Final = "mcp.inputRequests"
"""DataPart metadata flag: the data is a 2026-07-28 ``inputRequests`` object, handed on as is."""
INPUT_RESPONSES_KEY: Final = "mcp.inputResponses"
"""DataPart metadata flag: the data is a retry's ``inputResponses`` object, handed on as is."""
CARRIED_PARAMS: Final = ("task", "inputResponses", "requestState")
"""``tools/call`` params with no canonical slot, kept in metadata as ``mcp.<param>``."""


# --- requests --------------------------------------------------------------------------------


def arguments_parts(arguments: dict[str, Any] | None) -> tuple[Part, ...]:
    """The message parts of tool-call ``arguments``: ``{"text": str}`` alone is a text part,
    any other object one data part (the inverse of the arguments a message encodes to)."""
    if arguments is None:
        return ()
    if len(arguments) == 1 and type(arguments.get(TEXT_ARGUMENT)) is str:
        return (TextPart(arguments[TEXT_ARGUMENT]),)
    return (DataPart(arguments),)


def decode_invocation(raw: Any) -> Invocation:
    """Canonical invocation of a ``tools/call`` request's params.

    Raises:
        InvalidParams: a field is missing or mistyped.
    """
    path = "params"
    params = w.obj(raw, path)
    name = w.req_str(params, "name", path)
    arguments = w.opt_obj(params, "arguments", path)
    carried: dict[str, Any] = {key: params[key] for key in CARRIED_PARAMS if key in params}
    return _invocation(name, arguments, w.opt_obj(params, "_meta", path), carried)


def decode_call_params(params: mt.CallToolRequestParams) -> Invocation:
    """Canonical invocation of ``tools/call`` params the MCP SDK has validated: the same as
    ``decode_invocation`` of the SDK's wire dump of them, without making that dump."""
    meta = None
    if params.meta:
        # The SDK's wire dump names the token progressToken and leaves null entries out.
        meta = {
            ("progressToken" if key == "progress_token" else key): value
            for key, value in params.meta.items()
            if value is not None
        }
    carried: dict[str, Any] = {}
    if (
        params.task is not None
        or params.input_responses is not None
        or params.request_state is not None
    ):
        # Rare (task requests, 2026-07-28 retries), and nested SDK models: dump just these.
        fields = {"task", "input_responses", "request_state"}  # CARRIED_PARAMS
        wire = params.model_dump(by_alias=True, exclude_none=True, mode="json", include=fields)
        carried = {key: wire[key] for key in CARRIED_PARAMS if key in wire}
    return _invocation(params.name, params.arguments, meta, carried)


def _invocation(
    name: str,
    arguments: dict[str, Any] | None,
    wire_meta: dict[str, Any] | None,
    carried: dict[str, Any],
) -> Invocation:
    trace, meta = split_trace(wire_meta)
    token = w.opt_id(meta, "progressToken", "params._meta")
    meta.pop("progressToken", None)
    # Reserved keys (protocol version, client info and capabilities) describe this hop's MCP
    # session; the SDK of each hop sets its own, so they are not carried past it.
    for key in [k for k in meta if k.startswith(RESERVED_PREFIX)]:
        del meta[key]
    for key, value in carried.items():
        meta[f"mcp.{key}"] = value
    return Invocation(
        skill=name,
        message=Message("user", arguments_parts(arguments)),
        progress_token=token,
        trace=trace,
        metadata=meta or EMPTY,
    )


def _arguments(message: Message) -> dict[str, Any] | None:
    parts = message.parts
    if not parts:
        return None
    if len(parts) == 1:
        part = parts[0]
        if isinstance(part, DataPart):
            if type(part.data) is dict:
                return part.data
            raise CannotCarry("structured data that is not a JSON object", TARGET_CALL)
        if isinstance(part, TextPart):
            return {TEXT_ARGUMENT: part.text}
    kinds = ", ".join(p.kind for p in parts)
    raise CannotCarry(f"a message with parts [{kinds}]", TARGET_CALL)


def encode_invocation(inv: Invocation) -> dict[str, Any]:
    """``tools/call`` params for ``inv``.

    Raises:
        CannotCarry: the invocation has a conversation history, or its message is not one
            JSON object or one text part (MCP arguments are a JSON object).
    """
    if inv.history:
        raise CannotCarry(f"a conversation history of {len(inv.history)} messages", TARGET_CALL)
    params: dict[str, Any] = {"name": inv.skill}
    arguments = _arguments(inv.message)
    if arguments is not None:
        params["arguments"] = arguments
    meta: dict[str, Any] = {}
    for key, value in inv.metadata.items():
        if key.startswith("mcp.") and key[4:] in CARRIED_PARAMS:
            params[key[4:]] = value
        else:
            meta[key] = value
    if inv.progress_token is not None:
        meta["progressToken"] = inv.progress_token
    meta = join_trace(inv.trace, meta)
    if meta:
        params["_meta"] = meta
    return params


# --- results ---------------------------------------------------------------------------------


def _split_artifacts(
    parts: tuple[Part, ...], layout: Any, path: str
) -> tuple[tuple[Artifact, ...], Message | None]:
    if layout is None:
        return (Artifact(RESULT_ARTIFACT_ID, parts),), None
    entries = w.arr(layout, path)
    artifacts = []
    start = 0
    for i, entry in enumerate(entries):
        e = w.obj(entry, f"{path}[{i}]")
        count = w.opt_int(e, "parts", f"{path}[{i}]") or 0
        if count < 0 or start + count > len(parts):
            raise InvalidParams("does not match the content", path=f"{path}[{i}].parts")
        meta = w.opt_obj(e, "metadata", f"{path}[{i}]")
        artifacts.append(
            Artifact(
                w.req_str(e, "artifactId", f"{path}[{i}]"),
                parts[start : start + count],
                w.opt_str(e, "name", f"{path}[{i}]"),
                w.opt_str(e, "description", f"{path}[{i}]"),
                meta or EMPTY,
            )
        )
        start += count
    if start != len(parts):
        raise InvalidParams("does not match the content", path=path)
    status = None
    if artifacts and artifacts[-1].artifact_id == STATUS_ARTIFACT_ID:
        status = Message("agent", artifacts.pop().parts)
    return tuple(artifacts), status


def decode_outcome(raw: Any, *, task_id: str = "") -> Task:
    """Canonical task of a ``tools/call`` result (complete, error, or 2026 input-required)."""
    path = "result"
    result = w.obj(raw, path)
    meta = dict(w.opt_obj(result, "_meta", path) or {})
    result_type = w.opt_str(result, "resultType", path) or "complete"
    if result_type == "input_required":
        requests = w.opt_obj(result, "inputRequests", path)
        state = w.opt_str(result, "requestState", path)
        if requests is None and state is None:
            raise InvalidParams("needs inputRequests or requestState", path=path)
        if state is not None:
            meta["mcp.requestState"] = state
        parts = (DataPart(requests),) if requests is not None else ()
        return Task(
            task_id,
            TaskState.INPUT_REQUIRED,
            status_message=Message("agent", parts),
            metadata=meta or EMPTY,
        )
    if result_type != "complete":
        raise InvalidParams(f"unknown resultType {result_type!r:.40}", path=f"{path}.resultType")
    blocks = w.req_arr(result, "content", path)
    decoded = [decode_block(b, f"{path}.content[{i}]") for i, b in enumerate(blocks)]
    if "structuredContent" in result and result["structuredContent"] is not None:
        has_text = any(isinstance(p, TextPart) for p in decoded)
        flag = EMPTY if has_text else {NO_RENDERING_KEY: True}
        decoded.append(DataPart(result["structuredContent"], flag))
    failed = w.opt_bool(result, "isError", path)
    layout = meta.pop(ARTIFACTS_META_KEY, None)
    artifacts, status = _split_artifacts(
        tuple(decoded), layout, f"{path}._meta.{ARTIFACTS_META_KEY}"
    )
    return Task(
        task_id,
        TaskState.FAILED if failed else TaskState.COMPLETED,
        status_message=status,
        artifacts=artifacts,
        metadata=meta or EMPTY,
    )


def _content(parts: tuple[Part, ...], result: dict[str, Any]) -> None:
    content = []
    structured: DataPart | None = None
    for part in parts:
        if isinstance(part, DataPart):
            if structured is not None:
                raise CannotCarry("a second structured data part", TARGET_RESULT)
            if type(part.data) is not dict:
                raise CannotCarry("structured data that is not a JSON object", TARGET_RESULT)
            structured = part
        else:
            content.append(encode_part(part, TARGET_RESULT))
    if structured is not None:
        result["structuredContent"] = structured.data
        # Clients older than 2025-06-18 read only content: give them a text rendering.
        no_text = not any(b["type"] == "text" for b in content)
        if no_text and not structured.metadata.get(NO_RENDERING_KEY):
            content.append({"type": "text", "text": json.dumps(structured.data)})
    result["content"] = content


def _input_required(task: Task, version: str) -> dict[str, Any]:
    if version != MODERN_VERSION:
        raise Unsupported("input-required needs elicitation on this protocol revision")
    out: dict[str, Any] = {"resultType": "input_required"}
    parts = task.status_message.parts if task.status_message else ()
    if len(parts) == 1 and isinstance(parts[0], DataPart) and type(parts[0].data) is dict:
        out["inputRequests"] = parts[0].data
    elif parts:
        out["inputRequests"] = {"input": elicitation_request(task)}
    state = task.metadata.get("mcp.requestState", task.task_id)
    out["requestState"] = state
    meta = {k: v for k, v in task.metadata.items() if k != "mcp.requestState"}
    if meta:
        out["_meta"] = meta
    return out


def elicitation_request(task: Task) -> dict[str, Any]:
    """An ``elicitation/create`` request asking the MCP user for a task's missing input."""
    texts = (
        [p.text for p in task.status_message.parts if isinstance(p, TextPart)]
        if (task.status_message)
        else []
    )
    return {
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": "\n".join(texts) or "The agent needs more input.",
            "requestedSchema": {
                "type": "object",
                "properties": {TEXT_ARGUMENT: {"type": "string"}},
                "required": [TEXT_ARGUMENT],
            },
        },
    }


def encode_outcome(outcome: Outcome, *, version: str = "2025-11-25") -> dict[str, Any]:
    """The ``tools/call`` result for a final outcome.

    Raises:
        CannotCarry: a non-final state, or content MCP results cannot hold.
        Canceled / Unauthorized / Unsupported: states MCP answers with a JSON-RPC error
            (canceled, auth-required, rejected), raised so the one error mapping renders them.
    """
    result: dict[str, Any] = {}
    if isinstance(outcome, Message):
        _content(outcome.parts, result)
        result["isError"] = False
    else:
        state = outcome.state
        if state is TaskState.INPUT_REQUIRED:
            return _input_required(outcome, version)
        if state is TaskState.CANCELED:
            raise Canceled("the task was canceled")
        if state is TaskState.AUTH_REQUIRED:
            raise Unauthorized("the agent needs authorization")
        if state is TaskState.REJECTED:
            raise Unsupported("the agent rejected the task")
        if state not in (TaskState.COMPLETED, TaskState.FAILED):
            raise CannotCarry(f"the non-final task state {state.value!r}", TARGET_RESULT)
        arts = outcome.artifacts
        status = outcome.status_message
        if status is not None and status.parts and arts:
            # Keep the status message apart from the artifacts so it is not read back as one.
            arts = (*arts, Artifact(STATUS_ARTIFACT_ID, status.parts))
        elif status is not None and not arts:
            arts = (Artifact(RESULT_ARTIFACT_ID, status.parts),)
        _content(tuple(p for a in arts for p in a.parts), result)
        result["isError"] = state is TaskState.FAILED
        meta = dict(outcome.metadata)
        trivial = len(arts) == 1 and arts[0] == Artifact(RESULT_ARTIFACT_ID, arts[0].parts)
        if arts and not trivial:
            meta[ARTIFACTS_META_KEY] = [_layout(a) for a in arts]
        if meta:
            result["_meta"] = meta
    if version == MODERN_VERSION:
        result["resultType"] = "complete"
    return result


def _layout(artifact: Artifact) -> dict[str, Any]:
    entry: dict[str, Any] = {"artifactId": artifact.artifact_id, "parts": len(artifact.parts)}
    w.put(entry, "name", artifact.name)
    w.put(entry, "description", artifact.description)
    w.put(entry, "metadata", dict(artifact.metadata) or None)
    return entry
