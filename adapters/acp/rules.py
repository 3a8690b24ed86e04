"""Every translation rule of the ACP adapter, as data (README table, rule-coverage test)."""

from __future__ import annotations

RULES: tuple[tuple[str, str], ...] = (
    # ACP -> canonical
    (
        "acp.decode.part.text",
        "plain content -> TextPart (a content type other than text/plain"
        " and the part name -> metadata)",
    ),
    ("acp.decode.part.json", "content of type application/json or */*+json -> DataPart"),
    ("acp.decode.part.base64", "base64 content -> FileBytesPart (content type, name)"),
    ("acp.decode.part.url", "content_url -> FileUriPart (content type, name)"),
    (
        "acp.decode.part.metadata",
        "citation / trajectory metadata and unknown extra fields ->"
        " part metadata acp.metadata / acp.extra",
    ),
    ("acp.decode.message", "Message -> Message (agent/<name> roles and timestamps -> metadata)"),
    (
        "acp.decode.run_create",
        "RunCreateRequest -> Invocation (agent_name -> skill, last input"
        " message -> message, earlier ones -> history, session_id -> context id, mode)",
    ),
    ("acp.decode.run_create.trace", "HTTP traceparent, tracestate, baggage headers -> trace"),
    (
        "acp.decode.run",
        "Run -> Task (created / in-progress / awaiting / completed / failed /"
        " cancelled / cancelling; output messages -> artifacts; error -> status message;"
        " await_request -> status message only while the run awaits)",
    ),
    ("acp.decode.resume", "RunResumeRequest -> Resume"),
    ("acp.decode.cancel", "POST /runs/{id}/cancel -> Cancel"),
    ("acp.decode.event.run", "run.* events -> Task snapshots"),
    ("acp.decode.event.message", "message.created / message.completed -> Message"),
    ("acp.decode.event.part", "message.part -> ArtifactEvent (append)"),
    (
        "acp.decode.event.generic",
        "generic with progress -> ProgressEvent; other generic ->"
        " working StatusEvent holding the data",
    ),
    ("acp.decode.event.error", "error event -> raises the peer's error"),
    (
        "acp.decode.remote_run",
        "a remote run's events, as its caller reads them: message.part -> artifact chunks of"
        " output-<i> (append after the first part), message.created / completed -> nothing,"
        " in-progress -> working status, a resumed run's run.created -> nothing",
    ),
    (
        "acp.decode.remote_run.awaiting",
        "run.awaiting -> input-required whose question is the agent's message, with a fresh"
        " message id naming the run",
    ),
    (
        "acp.decode.manifest",
        "AgentManifest -> an agent with one skill (metadata.tags, content types, input_schema)",
    ),
    ("acp.decode.error", "Error body and HTTP status -> canonical error"),
    ("acp.decode.bad_input", "bad JSON, missing or mistyped fields -> invalid_input (422)"),
    # canonical -> ACP
    (
        "acp.encode.part",
        "TextPart / DataPart / FileBytesPart / FileUriPart -> plain / JSON /"
        " base64 / content_url parts; other metadata -> extra field meta",
    ),
    (
        "acp.encode.message",
        "Message -> Message (message ids are not carried: ACP has none;"
        " other metadata -> extra field metadata)",
    ),
    (
        "acp.encode.run_create",
        "Invocation -> RunCreateRequest (history first, then the message) and trace headers;"
        " a progress token asks for stream mode",
    ),
    (
        "acp.encode.run_create.refused",
        "a progress token on an async run, or request metadata -> raises CannotCarry",
    ),
    (
        "acp.encode.session",
        "a context id that is not a UUID -> a stable UUID5 session id, the original beside it"
        " in extra metadata effmesh.context_id",
    ),
    (
        "acp.encode.run",
        "Task -> Run (rejected -> failed with error.data.state rejected;"
        " artifacts -> output messages; other metadata -> extra field metadata); a Message,"
        " or the status message of a completed task without artifacts -> a completed run's"
        " output; agent_name is always the caller's name for the agent",
    ),
    ("acp.encode.run.auth_required", "auth-required -> raises CannotCarry"),
    ("acp.encode.resume", "Resume -> RunResumeRequest"),
    ("acp.encode.cancel", "Cancel -> the run id to cancel (a reason raises CannotCarry)"),
    (
        "acp.encode.event",
        "Task / StatusEvent / Message / ArtifactEvent / ProgressEvent ->"
        " run.* / message.* / message.part (one per part) / generic events",
    ),
    (
        "acp.encode.event.status_data",
        "a working StatusEvent whose message holds an object DataPart -> a generic event"
        " with that object (its text parts -> the object's message field, when absent)",
    ),
    ("acp.encode.manifest", "AgentDescriptor -> one manifest per skill, <agent>.<skill>"),
    ("acp.encode.error", "canonical error -> Error body and HTTP status, one table"),
)
