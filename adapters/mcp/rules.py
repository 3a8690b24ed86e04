"""Every translation rule of the MCP adapter, as data: the README's mapping table and the
rule-coverage test both read this list."""

from __future__ import annotations

RULES: tuple[tuple[str, str], ...] = (
    # MCP -> canonical
    ("mcp.decode.call", "tools/call {name, arguments} -> Invocation(skill=name)"),
    ("mcp.decode.call.text", 'arguments {"text": str} (that key alone) -> one TextPart'),
    ("mcp.decode.call.data", "any other arguments object -> one DataPart"),
    (
        "mcp.decode.call.meta",
        "_meta progressToken / traceparent, tracestate, baggage / other keys"
        " -> progress_token / trace / metadata",
    ),
    (
        "mcp.decode.call.reserved",
        "reserved _meta keys io.modelcontextprotocol/* -> not carried: they describe this"
        " hop's MCP session, and every hop's SDK sets its own",
    ),
    ("mcp.decode.content.text", "TextContent -> TextPart (annotations, _meta -> metadata)"),
    ("mcp.decode.content.image", "ImageContent -> FileBytesPart (image/* media type)"),
    ("mcp.decode.content.audio", "AudioContent -> FileBytesPart (audio/* media type)"),
    (
        "mcp.decode.content.resource",
        "EmbeddedResource (text or blob) -> FileBytesPart named by its URI",
    ),
    (
        "mcp.decode.content.link",
        "ResourceLink -> FileUriPart (title, description, size, icons -> metadata)",
    ),
    ("mcp.decode.result", "CallToolResult -> Task completed, or failed when isError"),
    ("mcp.decode.result.structured", "structuredContent -> DataPart after the content parts"),
    (
        "mcp.decode.result.input_required",
        "2026-07-28 input_required result -> Task"
        " input-required (inputRequests as DataPart, requestState in metadata)",
    ),
    ("mcp.decode.progress", "notifications/progress -> ProgressEvent"),
    ("mcp.decode.cancel", "notifications/cancelled -> Cancel(target_id=requestId)"),
    (
        "mcp.decode.tool",
        "Tool -> Skill (inputSchema, outputSchema, title; annotations, icons,"
        " execution -> metadata)",
    ),
    ("mcp.decode.error", "JSON-RPC error -> canonical error (data.effmesh_code, else by code)"),
    (
        "mcp.decode.bad_input",
        "bad JSON, envelope, method or params -> -32700 / -32600 / -32601 / -32602",
    ),
    # canonical -> MCP
    ("mcp.encode.call", "Invocation -> tools/call params"),
    ("mcp.encode.call.text", 'one TextPart -> arguments {"text": str}'),
    ("mcp.encode.call.data", "one DataPart holding an object -> arguments"),
    (
        "mcp.encode.call.other_parts",
        "files, several parts, or non-object data -> raises CannotCarry",
    ),
    ("mcp.encode.call.history", "Invocation.history -> raises CannotCarry"),
    ("mcp.encode.content.text", "TextPart -> TextContent"),
    (
        "mcp.encode.content.bytes",
        "FileBytesPart -> ImageContent / AudioContent (unnamed image/*,"
        " audio/*) or EmbeddedResource blob",
    ),
    ("mcp.encode.content.uri", "FileUriPart -> ResourceLink (name defaults to the URI)"),
    (
        "mcp.encode.result",
        "Task completed / failed -> CallToolResult (isError for failed);"
        " artifact boundaries in _meta effmesh.artifacts",
    ),
    ("mcp.encode.result.message", "a direct Message reply -> CallToolResult of its parts"),
    ("mcp.encode.result.data", "one DataPart (object) -> structuredContent plus a text rendering"),
    ("mcp.encode.result.data_extra", "a second DataPart, or non-object data -> raises CannotCarry"),
    ("mcp.encode.result.status_message", "status message -> content after the artifacts"),
    (
        "mcp.encode.result.history",
        "Task.history -> not sent: the MCP caller sent those messages itself",
    ),
    ("mcp.encode.result.nonfinal", "submitted / working -> raises CannotCarry"),
    (
        "mcp.encode.result.error_states",
        "canceled / auth-required / rejected -> JSON-RPC error"
        " (Canceled / Unauthorized / Unsupported)",
    ),
    (
        "mcp.encode.result.input_required",
        "input-required -> 2026-07-28 input_required result;"
        " older revisions: raises Unsupported (use an elicitation/create request)",
    ),
    (
        "mcp.encode.progress",
        "ProgressEvent, or a submitted/working StatusEvent -> notifications/progress",
    ),
    (
        "mcp.encode.stream.other",
        "artifact updates, snapshots, messages in a stream -> raises"
        " CannotCarry (collected into the final result instead)",
    ),
    ("mcp.encode.cancel", "Cancel -> notifications/cancelled"),
    ("mcp.encode.tool", "Skill -> Tool (no schema -> text schema; tags, examples, modes -> _meta)"),
    ("mcp.encode.error", "canonical error -> JSON-RPC error, one code table, public text only"),
)
