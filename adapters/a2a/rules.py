"""Every translation rule of the A2A adapter, as data: the README's mapping table and the
rule-coverage test both read this list."""

from __future__ import annotations

RULES: tuple[tuple[str, str], ...] = (
    # A2A -> canonical
    (
        "a2a.decode.part.text",
        "text part -> TextPart (mediaType, filename -> metadata a2a.mediaType, a2a.filename)",
    ),
    (
        "a2a.decode.part.raw",
        "raw part (standard or URL-safe base64) -> FileBytesPart (mediaType, filename -> name)",
    ),
    ("a2a.decode.part.url", "url part -> FileUriPart (mediaType, filename -> name)"),
    (
        "a2a.decode.part.data",
        "data part (any JSON value, null too) -> DataPart (mediaType, filename -> metadata)",
    ),
    ("a2a.decode.part.metadata", "part metadata -> part metadata"),
    (
        "a2a.decode.part.oneof",
        "a part with none or several of text / raw / url / data -> InvalidParams",
    ),
    (
        "a2a.decode.message",
        "Message -> Message (messageId required; ROLE_USER / ROLE_AGENT -> user / agent)",
    ),
    (
        "a2a.decode.message.extras",
        "extensions, referenceTaskIds -> metadata a2a.extensions, a2a.referenceTaskIds",
    ),
    ("a2a.decode.artifact", "Artifact -> Artifact (extensions -> metadata a2a.extensions)"),
    ("a2a.decode.invocation", "SendMessageRequest -> Invocation of its message"),
    (
        "a2a.decode.invocation.skill",
        "request metadata effmesh.skill, else the agent the URL addresses -> skill;"
        " neither -> InvalidParams",
    ),
    (
        "a2a.decode.invocation.mode",
        "SendStreamingMessage -> stream; configuration.returnImmediately -> async; else sync",
    ),
    (
        "a2a.decode.invocation.trace",
        "message metadata traceparent, tracestate, baggage -> trace",
    ),
    (
        "a2a.decode.invocation.progress_token",
        "request metadata effmesh.progressToken -> progress_token",
    ),
    (
        "a2a.decode.invocation.extras",
        "configuration (less what mode says), tenant -> metadata a2a.configuration, a2a.tenant;"
        " other request metadata -> metadata",
    ),
    ("a2a.decode.task", "Task -> Task (status message, artifacts, history, metadata)"),
    (
        "a2a.decode.task.state",
        "TASK_STATE_* -> the canonical state of the same name; UNSPECIFIED -> InvalidParams",
    ),
    ("a2a.decode.task.timestamp", "status timestamp -> metadata a2a.timestamp"),
    ("a2a.decode.outcome", "SendMessageResponse {task} / {message} -> Task / Message"),
    ("a2a.decode.stream.snapshot", "StreamResponse task / message -> Task / Message"),
    ("a2a.decode.stream.status", "statusUpdate -> StatusEvent (timestamp -> metadata)"),
    ("a2a.decode.stream.artifact", "artifactUpdate -> ArtifactEvent (append, lastChunk)"),
    (
        "a2a.decode.stream.progress",
        "a working statusUpdate exactly as effmesh writes progress (effmesh.progress metadata)"
        " -> ProgressEvent",
    ),
    (
        "a2a.decode.card",
        "AgentCard -> AgentDescriptor (url = first interface; capabilities.streaming;"
        " default modes)",
    ),
    (
        "a2a.decode.card.skill",
        "AgentSkill -> Skill (id -> name, name -> title, tags, examples, modes;"
        " securityRequirements -> metadata)",
    ),
    (
        "a2a.decode.card.extensions",
        "effmesh skill-schemas / agent-metadata extensions -> skill schemas and metadata,"
        " agent metadata",
    ),
    (
        "a2a.decode.card.extras",
        "interfaces, provider, capabilities, security, signatures, URLs -> metadata a2a.<field>",
    ),
    ("a2a.decode.cancel", "CancelTaskRequest -> Cancel (effmesh.cancelReason -> reason)"),
    ("a2a.decode.get_task", "GetTaskRequest -> GetTask (historyLength, tenant)"),
    ("a2a.decode.subscribe", "SubscribeToTaskRequest -> GetTask"),
    (
        "a2a.decode.request",
        "JSON-RPC method -> the decoder above; other A2A methods -> the request itself;"
        " unknown -> MethodNotFound",
    ),
    (
        "a2a.decode.error",
        "JSON-RPC error -> canonical error (effmesh_code in ErrorInfo or data, else by code)",
    ),
    (
        "a2a.decode.bad_input",
        "bad bytes, JSON, envelope, method or params -> -32700 / -32600 / -32601 / -32602",
    ),
    # canonical -> A2A
    ("a2a.encode.part.text", "TextPart -> text part (a2a.mediaType, a2a.filename -> fields)"),
    ("a2a.encode.part.raw", "FileBytesPart -> raw part (base64), mediaType, filename"),
    ("a2a.encode.part.url", "FileUriPart -> url part, mediaType, filename"),
    ("a2a.encode.part.data", "DataPart -> data part (a2a.mediaType, a2a.filename -> fields)"),
    ("a2a.encode.part.metadata", "part metadata -> part metadata"),
    ("a2a.encode.message", "Message -> Message (no message id -> a new one from new_id)"),
    (
        "a2a.encode.message.extras",
        "metadata a2a.extensions, a2a.referenceTaskIds -> extensions, referenceTaskIds",
    ),
    ("a2a.encode.artifact", "Artifact -> Artifact (a2a.extensions -> extensions)"),
    ("a2a.encode.invocation", "Invocation -> SendMessageRequest params"),
    ("a2a.encode.invocation.skill", "skill -> request metadata effmesh.skill"),
    (
        "a2a.encode.invocation.mode",
        "stream -> SendStreamingMessage; async -> configuration.returnImmediately; sync ->"
        " SendMessage",
    ),
    ("a2a.encode.invocation.trace", "trace -> message metadata traceparent, tracestate, baggage"),
    (
        "a2a.encode.invocation.progress_token",
        "progress_token -> request metadata effmesh.progressToken",
    ),
    (
        "a2a.encode.invocation.extras",
        "metadata a2a.configuration, a2a.tenant -> configuration, tenant; the rest -> request"
        " metadata",
    ),
    ("a2a.encode.invocation.history", "Invocation with history -> raises CannotCarry"),
    ("a2a.encode.task", "Task -> Task"),
    ("a2a.encode.task.state", "TaskState -> TASK_STATE_* of the same name"),
    ("a2a.encode.task.timestamp", "metadata a2a.timestamp -> status timestamp"),
    ("a2a.encode.outcome", "Task / Message -> SendMessageResponse {task} / {message}"),
    ("a2a.encode.stream.snapshot", "Task / Message -> StreamResponse task / message"),
    ("a2a.encode.stream.status", "StatusEvent -> statusUpdate"),
    ("a2a.encode.stream.artifact", "ArtifactEvent -> artifactUpdate"),
    (
        "a2a.encode.stream.progress",
        "ProgressEvent -> working statusUpdate: taskId = str(token), progress text as status"
        " message, metadata effmesh.progress {progress, total, token}",
    ),
    ("a2a.encode.card", "AgentDescriptor -> AgentCard (url -> a JSONRPC 1.0 interface)"),
    (
        "a2a.encode.card.skill",
        "Skill -> AgentSkill (title, else name -> name; no tags -> the agent's name as its tag)",
    ),
    (
        "a2a.encode.card.extensions",
        "skill schemas and metadata, agent metadata -> effmesh skill-schemas / agent-metadata"
        " extensions",
    ),
    ("a2a.encode.card.extras", "metadata a2a.<field> -> card fields"),
    (
        "a2a.encode.card.url",
        "the gateway's url -> the only interface; the original card's signatures are left out",
    ),
    (
        "a2a.encode.cancel",
        "Cancel -> CancelTaskRequest (reason -> metadata effmesh.cancelReason);"
        " an integer target -> raises CannotCarry",
    ),
    (
        "a2a.encode.get_task",
        "GetTask -> GetTaskRequest; metadata other than a2a.tenant -> raises CannotCarry",
    ),
    (
        "a2a.encode.subscribe",
        "GetTask -> SubscribeToTaskRequest; a history length -> raises CannotCarry",
    ),
    (
        "a2a.encode.reserved_metadata",
        "an a2a.* metadata key of the wrong shape -> raises InvalidParams",
    ),
    (
        "a2a.encode.error",
        "canonical error -> JSON-RPC error and REST error from one table; public text only",
    ),
)
