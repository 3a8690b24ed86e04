"""An upstream MCP server with every fixture the MCP conformance suite (0.1.16) expects of a
server: its tools (content types, errors, progress, logging, sampling and elicitation
requests), resources (static, binary, a template, a watched one), prompts and completions,
built on the official SDK's ``MCPServer``. The conformance test registers it behind the
gateway, so the suite checks that all of it comes through effmesh intact.

For the newest suite's 2026-07-28 scenarios it has more (``_add_2026_fixtures``): tools and a
prompt that ask the 2026-07-28 way, ending the request ``input_required`` and reading the
retry's ``inputResponses`` and ``requestState`` (the SDK seals the state, and refuses a
tampered one); a tool with a JSON Schema 2020-12 input schema; one with an ``x-mcp-header``
argument; and the stateless scenario's diagnostic tools (a capability the client must
declare, a log line only on request, a question on the call's own stream, list changes).

The requests to the client and the log lines go out through the session's typed requests
and notifications: the SDK's helpers for them warn that 2026-07-28 deprecates them, and this
server speaks the handshake era too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import struct
import zlib
from typing import Annotated, Any

import mcp_types as mt
from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel, Field


def _png() -> str:
    """A 1x1 red PNG, base64."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    return base64.b64encode(png + chunk(b"IEND", b"")).decode()


def _wav() -> str:
    """Ten milliseconds of silence, 8 kHz mono 8-bit WAV, base64."""
    samples = b"\x80" * 80
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return base64.b64encode(b"RIFF" + struct.pack("<I", len(body)) + body).decode()


def _resource() -> mt.EmbeddedResource:
    contents = mt.TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="embedded text"
    )
    return mt.EmbeddedResource(type="resource", resource=contents)


def _png_bytes() -> bytes:
    return base64.b64decode(_png())


async def _ask(ctx: Context, request: Any, result: type[BaseModel]) -> Any:
    """A request to the client, on the call's own stream."""
    related = ServerMessageMetadata(related_request_id=ctx.request_id)
    return await ctx.session.send_request(request, result, metadata=related)


async def _log(ctx: Context, text: str) -> None:
    note = mt.LoggingMessageNotification(
        params=mt.LoggingMessageNotificationParams(level="info", data=text)
    )
    await ctx.session.send_notification(note, related_request_id=ctx.request_id)


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> mt.ElicitResult:
    params = mt.ElicitRequestFormParams(message=message, requested_schema=schema)
    result: mt.ElicitResult = await _ask(ctx, mt.ElicitRequest(params=params), mt.ElicitResult)
    return result


SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}
SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}


def build_fixture() -> MCPServer:
    server = MCPServer("conformance-fixture", version="1.0.0")
    subscribed: set[str] = set()

    @server.tool()
    def test_simple_text() -> str:
        """Answers with one text block."""
        return "This is a simple text response for testing."

    @server.tool()
    def test_image_content() -> list[mt.ContentBlock]:
        """Answers with one PNG image."""
        return [mt.ImageContent(type="image", data=_png(), mime_type="image/png")]

    @server.tool()
    def test_audio_content() -> list[mt.ContentBlock]:
        """Answers with one WAV clip."""
        return [mt.AudioContent(type="audio", data=_wav(), mime_type="audio/wav")]

    @server.tool()
    def test_embedded_resource() -> list[mt.ContentBlock]:
        """Answers with one embedded text resource."""
        return [_resource()]

    @server.tool()
    def test_multiple_content_types() -> list[mt.ContentBlock]:
        """Answers with text, an image and a resource."""
        return [
            mt.TextContent(type="text", text="mixed content"),
            mt.ImageContent(type="image", data=_png(), mime_type="image/png"),
            _resource(),
        ]

    @server.tool()
    def test_error_handling() -> str:
        """Always fails, as a tool error."""
        raise ToolError("This tool intentionally returns an error for testing")

    @server.tool()
    async def test_tool_with_progress(ctx: Context) -> str:
        """Reports progress three times, then answers."""
        for step in (0, 50, 100):
            await ctx.report_progress(step, 100)
        return "done"

    @server.tool()
    async def test_tool_with_logging(ctx: Context) -> str:
        """Logs three lines at info level while it runs."""
        await _log(ctx, "Tool execution started")
        await asyncio.sleep(0.05)
        await _log(ctx, "Tool processing data")
        await asyncio.sleep(0.05)
        await _log(ctx, "Tool execution completed")
        return "Tool with logging executed successfully"

    @server.tool()
    async def test_sampling(prompt: str, ctx: Context) -> str:
        """Asks the client's model to answer ``prompt``."""
        text = mt.TextContent(type="text", text=prompt)
        params = mt.CreateMessageRequestParams(
            messages=[mt.SamplingMessage(role="user", content=text)], max_tokens=100
        )
        request = mt.CreateMessageRequest(params=params)
        result: mt.CreateMessageResult = await _ask(ctx, request, mt.CreateMessageResult)
        answer = result.content.text if isinstance(result.content, mt.TextContent) else ""
        return f"LLM response: {answer}"

    @server.tool()
    async def test_elicitation(message: str, ctx: Context) -> str:
        """Asks the user for a name and an email address."""
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        reply = await _elicit(ctx, message, schema)
        return f"User response: action={reply.action}, content={json.dumps(reply.content)}"

    @server.tool()
    async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
        """Asks with a default for every primitive type."""
        reply = await _elicit(ctx, "Please review and update the form fields", SEP1034_SCHEMA)
        return f"Elicitation completed: action={reply.action}, content={json.dumps(reply.content)}"

    @server.tool()
    async def test_elicitation_sep1330_enums(ctx: Context) -> str:
        """Asks with every kind of enum schema."""
        reply = await _elicit(ctx, "Please select options", SEP1330_SCHEMA)
        return f"Elicitation completed: action={reply.action}, content={json.dumps(reply.content)}"

    @server.tool()
    def test_resource_link(id: str) -> list[mt.ContentBlock]:
        """Answers with a link to the template resource of ``id`` (not in the suite)."""
        uri = f"test://template/{id}/data"
        return [mt.ResourceLink(type="resource_link", uri=uri, name=f"data {id}")]

    @server.tool()
    async def test_touch_watched(ctx: Context) -> str:
        """Tells subscribers that the watched resource changed (not in the suite)."""
        note = mt.ResourceUpdatedNotification(
            params=mt.ResourceUpdatedNotificationParams(uri="test://watched-resource")
        )
        await ctx.session.send_notification(note)
        return "touched"

    @server.tool()
    async def test_wait_for_cancel(record: str) -> str:
        """Waits until cancelled, noting "started" and then "cancelled" in the file ``record``
        (not in the suite: it shows a cancel reached the server)."""
        path = pathlib.Path(record)
        path.write_text("started\n")
        try:
            await asyncio.Event().wait()
        finally:
            with path.open("a") as f:
                f.write("cancelled\n")
        return "never"

    @server.resource("test://static-text", mime_type="text/plain")
    def static_text() -> str:
        """A static text resource."""
        return "This is the content of the static text resource."

    @server.resource("test://static-binary", mime_type="image/png")
    def static_binary() -> bytes:
        """A static PNG image."""
        return _png_bytes()

    @server.resource("test://template/{id}/data", mime_type="application/json")
    def template_data(id: str) -> str:
        """Data for one id."""
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @server.resource("test://watched-resource", mime_type="text/plain")
    def watched() -> str:
        """A resource clients may subscribe to."""
        return "Watched resource content"

    @server.prompt()
    def test_simple_prompt() -> str:
        """A prompt without arguments."""
        return "This is a simple prompt for testing."

    @server.prompt()
    def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
        """A prompt with two arguments."""
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @server.prompt()
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
        """A prompt that embeds a resource."""
        contents = mt.TextResourceContents(
            uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        return [
            UserMessage(content=mt.EmbeddedResource(type="resource", resource=contents)),
            UserMessage(
                content=mt.TextContent(
                    type="text", text="Please process the embedded resource above."
                ),
            ),
        ]

    @server.prompt()
    def test_prompt_with_image() -> list[UserMessage]:
        """A prompt with an image."""
        return [
            UserMessage(
                content=mt.ImageContent(type="image", data=_png(), mime_type="image/png"),
            ),
            UserMessage(
                content=mt.TextContent(type="text", text="Please analyze the image above."),
            ),
        ]

    @server.completion()
    async def complete(
        ref: mt.PromptReference | mt.ResourceTemplateReference,
        argument: mt.CompletionArgument,
        context: mt.CompletionContext | None,
    ) -> mt.Completion:
        words = ["paris", "park", "party"]
        values = [w for w in words if w.startswith(argument.value)]
        return mt.Completion(values=values, total=len(values), has_more=False)

    async def subscribe(
        ctx: ServerRequestContext[Any], params: mt.SubscribeRequestParams
    ) -> dict[str, Any]:
        subscribed.add(str(params.uri))
        return {}

    async def unsubscribe(
        ctx: ServerRequestContext[Any], params: mt.UnsubscribeRequestParams
    ) -> dict[str, Any]:
        subscribed.discard(str(params.uri))
        return {}

    async def set_level(
        ctx: ServerRequestContext[Any], params: mt.SetLevelRequestParams
    ) -> dict[str, Any]:
        return {}

    _add_2026_fixtures(server)
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", mt.SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", mt.UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("logging/setLevel", mt.SetLevelRequestParams, set_level)
    return server


JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def _form(message: str, field: str, kind: str = "string") -> mt.ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    params = mt.ElicitRequestFormParams(message=message, requested_schema=schema)
    return mt.ElicitRequest(params=params)


def _sample(text: str, tokens: int) -> mt.CreateMessageRequest:
    message = mt.SamplingMessage(role="user", content=mt.TextContent(type="text", text=text))
    return mt.CreateMessageRequest(
        params=mt.CreateMessageRequestParams(messages=[message], max_tokens=tokens)
    )


def _roots() -> mt.ListRootsRequest:
    return mt.ListRootsRequest()


def _ask_for(requests: dict[str, Any], state: str | None = None) -> mt.InputRequiredResult:
    return mt.InputRequiredResult(input_requests=requests, request_state=state)


def _answers(ctx: Context) -> dict[str, Any]:
    return dict(ctx.input_responses or {})


def _content(answer: Any) -> dict[str, Any]:
    """An elicitation answer's content (empty unless accepted)."""
    if isinstance(answer, mt.ElicitResult) and answer.action == "accept":
        return dict(answer.content or {})
    return {}


def _text(text: str) -> mt.CallToolResult:
    return mt.CallToolResult(content=[mt.TextContent(type="text", text=text)])


def _add_2026_fixtures(server: MCPServer) -> None:
    """What the newest suite's 2026-07-28 server scenarios call (see the module's text)."""

    @server.tool()
    def test_input_required_result_elicitation(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks for a name, then greets it; asks again while no answer names ``user_name``."""
        answer = _answers(ctx).get("user_name")
        if answer is None:
            return _ask_for({"user_name": _form("What is your name?", "name")})
        return _text(f"Hello, {_content(answer).get('name', 'stranger')}!")

    @server.tool()
    def test_input_required_result_sampling(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks the client's model a question, then answers with what it said."""
        answer = _answers(ctx).get("capital_question")
        if answer is None:
            return _ask_for({"capital_question": _sample("What is the capital of France?", 100)})
        said = answer.content.text if isinstance(answer.content, mt.TextContent) else ""
        return _text(f"The model said: {said}")

    @server.tool()
    def test_input_required_result_list_roots(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks for the client's roots, then names them."""
        answer = _answers(ctx).get("client_roots")
        if not isinstance(answer, mt.ListRootsResult):
            return _ask_for({"client_roots": _roots()})
        return _text("Roots: " + ", ".join(str(r.uri) for r in answer.roots))

    @server.tool()
    def test_input_required_result_request_state(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks for a confirmation with a state of its own, checked on the retry."""
        answer = _answers(ctx).get("confirm")
        if answer is None or ctx.request_state != "confirm-round-1":
            confirm = _form("Please confirm", "ok", "boolean")
            return _ask_for({"confirm": confirm}, "confirm-round-1")
        return _text(f"state-ok: confirmed={_content(answer).get('ok')}")

    @server.tool()
    def test_input_required_result_multiple_inputs(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks for a name, the client's model and its roots at once."""
        answers = _answers(ctx)
        asked = {
            "user_name": _form("What is your name?", "name"),
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": _roots(),
        }
        if ctx.request_state != "all-three" or not set(asked) <= set(answers):
            return _ask_for(asked, "all-three")
        return _text(f"Hello, {_content(answers['user_name']).get('name')}: all three answered")

    @server.tool()
    def test_input_required_result_multi_round(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks for a name, then (a new state) a colour, then answers."""
        answers, state = _answers(ctx), ctx.request_state
        if state == "round-2" and "step2" in answers:
            return _text(f"Favourite colour: {_content(answers['step2']).get('color')}")
        if state == "round-1" and "step1" in answers:
            step2 = _form("Step 2: What is your favorite color?", "color")
            return _ask_for({"step2": step2}, "round-2")
        return _ask_for({"step1": _form("Step 1: What is your name?", "name")}, "round-1")

    @server.tool()
    def test_input_required_result_tampered_state(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks with a state (the SDK seals it: a tampered one is refused before this runs)."""
        if ctx.request_state != "untampered" or "confirm" not in _answers(ctx):
            confirm = _form("Please confirm", "ok", "boolean")
            return _ask_for({"confirm": confirm}, "untampered")
        return _text("state intact")

    @server.tool()
    def test_input_required_result_capabilities(
        ctx: Context,
    ) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks only what the client declared it can answer (elicitation, sampling)."""
        caps = ctx.client_capabilities or mt.ClientCapabilities()
        answers = _answers(ctx)
        asked: dict[str, Any] = {}
        if caps.elicitation is not None and "user_name" not in answers:
            asked["user_name"] = _form("What is your name?", "name")
        if caps.sampling is not None and "greeting" not in answers:
            asked["greeting"] = _sample("Generate a greeting", 50)
        return _ask_for(asked) if asked else _text("answered what could be asked")

    @server.prompt()
    def test_input_required_result_prompt(
        ctx: Context,
    ) -> list[UserMessage] | mt.InputRequiredResult:
        """A prompt that asks for its context first."""
        answer = _answers(ctx).get("user_context")
        if answer is None:
            asked = _form("What context should the prompt use?", "context")
            return _ask_for({"user_context": asked})
        context = _content(answer).get("context", "")
        return [UserMessage(content=mt.TextContent(type="text", text=f"Context: {context}"))]

    @server.tool(name="json_schema_2020_12_tool")
    def json_schema_2020_12_tool(name: str = "") -> str:
        """Tool with JSON Schema 2020-12 features"""
        return f"registered: {name}"

    tool = server._tool_manager.get_tool("json_schema_2020_12_tool")
    assert tool is not None
    tool.parameters = JSON_SCHEMA_2020_12  # listed as it is; the body reads only ``name``

    @server.tool()
    def test_custom_headers(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
    ) -> str:
        """Names the region its ``Mcp-Param-Region`` header carried (the SDK checks it)."""
        return f"region: {region}"

    @server.tool()
    async def test_missing_capability(ctx: Context) -> str:
        """Needs the client's sampling capability: refused (-32021) without it."""
        caps = ctx.client_capabilities
        if caps is None or caps.sampling is None:
            data = {"requiredCapabilities": {"sampling": {}}}
            raise MCPError(mt.MISSING_REQUIRED_CLIENT_CAPABILITY, "sampling is required", data)
        return "sampling declared"

    @server.tool()
    def test_streaming_elicitation(ctx: Context) -> mt.CallToolResult | mt.InputRequiredResult:
        """Asks a question in its result (2026-07-28), never as a request on the stream."""
        answer = _answers(ctx).get("confirm")
        if answer is None:
            return _ask_for({"confirm": _form("Continue?", "ok", "boolean")})
        return _text("continued")

    @server.tool()
    async def test_logging_tool(ctx: Context) -> str:
        """Logs one line, as far as the request's level admits (2026-07-28: only on request)."""
        version = ctx.protocol_version or "2025-11-25"
        if "info" in allowed_log_levels(version, ctx.request_context.meta):
            await _log(ctx, "test_logging_tool ran")
        return "logged as asked"

    @server.tool()
    async def test_trigger_tool_change(ctx: Context) -> str:
        """Tells listeners that the tool list changed."""
        await ctx.notify_tools_changed()
        return "tools changed"

    @server.tool()
    async def test_trigger_prompt_change(ctx: Context) -> str:
        """Tells listeners that the prompt list changed."""
        await ctx.notify_prompts_changed()
        return "prompts changed"


if __name__ == "__main__":
    # Over stdio, as an IDE launches an MCP server: ``python -m tests.mcp_fixture``.
    build_fixture().run()
