"""An upstream MCP server with the fixture tools the MCP conformance suite calls, built on the
official SDK's ``MCPServer``. The conformance test registers it behind the gateway, so the
suite checks that a real server's content, errors and progress come through effmesh intact.
"""

from __future__ import annotations

import base64
import struct
import zlib

import mcp_types as mt
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError


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


def build_fixture() -> MCPServer:
    server = MCPServer("conformance-fixture")

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

    return server


if __name__ == "__main__":
    # Over stdio, as an IDE launches an MCP server: ``python -m tests.mcp_fixture``.
    build_fixture().run()
