"""The upstream MCP server every gateway in ``benchmarks.peers.gateways`` forwards to.

One tool, ``echo(text)``, which returns its argument: the call does no work, so what a
gateway adds is all that a measurement through it shows. Built on the official SDK's
``MCPServer`` with its defaults (stateful sessions, SSE-framed responses), logging at warning.

    python -m benchmarks.peers.upstream http PORT    # streamable HTTP at /mcp on 127.0.0.1
    python -m benchmarks.peers.upstream stdio        # stdio, for peers that spawn servers
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

TOOL = "echo"


def build() -> MCPServer:
    """A fresh server with the one ``echo`` tool."""
    server = MCPServer("upstream", log_level="WARNING")

    @server.tool(name=TOOL)
    def echo(text: str) -> str:
        """Returns ``text`` unchanged."""
        return text

    return server


def main(argv: list[str]) -> None:
    """Serve until stopped.

    Raises:
        SystemExit: ``argv`` is neither ``http PORT`` nor ``stdio``.
    """
    server = build()
    match argv:
        case ["http", port]:
            server.run("streamable-http", host="127.0.0.1", port=int(port))
        case ["stdio"]:
            server.run("stdio")
        case _:
            raise SystemExit("usage: python -m benchmarks.peers.upstream http PORT | stdio")


if __name__ == "__main__":
    main(sys.argv[1:])
