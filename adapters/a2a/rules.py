"""Every translation rule of the A2A adapter, as data (README table, rule-coverage test)."""

from __future__ import annotations

RULES: tuple[tuple[str, str], ...] = (
    # A2A -> canonical
    ("a2a.decode.part.text", "text part -> TextPart (mediaType, filename -> metadata)"),
    ("a2a.decode.part.raw", "raw part -> FileBytesPart (mediaType, filename)"),
    ("a2a.decode.part.url", "url part -> FileUriPart (mediaType, filename)"),
    ("a2a.decode.part.data", "data part -> DataPart (any JSON value)"),
    (
        "a2a.decode.message",
        "Message -> Message (ROLE_USER / ROLE_AGENT; extensions, referenceTaskIds -> metadata)",
    ),
    (
        "a2a.decode.send",
        "SendMessage / SendStreamingMessage -> Invocation (skill from"
        " metadata effmesh.skill or the addressed agent; mode sync / async / stream)",
    ),
    ("a2a.decode.send.trace", "message metadata traceparent, tracestate, baggage -> trace"),
    ("a2a.decode.task", "Task -> Task (every TASK_STATE_*; status timestamp -> metadata)"),
    ("a2a.decode.result.message", "SendMessage result holding a Message -> Message"),
    ("a2a.decode.stream.status", "statusUpdate -> StatusEvent"),
    (
        "a2a.decode.stream.progress",
        "working statusUpdate with effmesh.progress metadata -> ProgressEvent",
    ),
    ("a2a.decode.stream.artifact", "artifactUpdate -> ArtifactEvent (append, lastChunk)"),
    (
        "a2a.decode.card",
        "AgentCard -> AgentDescriptor; AgentSkill -> Skill (id -> name,"
        " name -> title; schemas from the effmesh skill-schemas extension)",
    ),
    ("a2a.decode.cancel", "CancelTask -> Cancel"),
    ("a2a.decode.get", "GetTask / SubscribeToTask -> GetTask"),
    ("a2a.decode.error", "JSON-RPC error -> canonical error (data.effmesh_code, else by code)"),
    (
        "a2a.decode.bad_input",
        "bad JSON, envelope, method or params -> -32700 / -32600 / -32601 / -32602",
    ),
    # canonical -> A2A
    (
        "a2a.encode.part",
        "TextPart / DataPart / FileBytesPart / FileUriPart -> text / data / raw / url part",
    ),
    ("a2a.encode.message", "Message -> Message (a messageId is made when there is none)"),
    (
        "a2a.encode.send",
        "Invocation -> SendMessage (SendStreamingMessage for stream; async ->"
        " configuration.returnImmediately; skill -> metadata effmesh.skill; progress token ->"
        " metadata effmesh.progressToken)",
    ),
    ("a2a.encode.send.trace", "trace -> message metadata traceparent, tracestate, baggage"),
    ("a2a.encode.send.history", "Invocation.history -> raises CannotCarry"),
    ("a2a.encode.task", "Task -> Task; a Message outcome -> result {message}"),
    (
        "a2a.encode.stream",
        "StatusEvent / ArtifactEvent / Task / Message -> statusUpdate /"
        " artifactUpdate / task / message",
    ),
    (
        "a2a.encode.stream.progress",
        "ProgressEvent -> working statusUpdate with effmesh.progress"
        " metadata and the progress message as status text",
    ),
    (
        "a2a.encode.card",
        "AgentDescriptor -> AgentCard (interfaces rewritten to the gateway's"
        " URL; skill schemas -> the effmesh skill-schemas extension)",
    ),
    ("a2a.encode.cancel", "Cancel -> CancelTask"),
    ("a2a.encode.get", "GetTask -> GetTask"),
    ("a2a.encode.error", "canonical error -> JSON-RPC error and REST error, one table"),
)
