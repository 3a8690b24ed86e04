"""First steps: ``effmesh init`` (a commented configuration file) and ``effmesh
claude-config`` (the entry that connects Claude Desktop or an IDE to the gateway)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Final, TextIO

from gateway.cli.exits import EXIT_COMPLETED, EXIT_NOT_STARTED

CLAUDE_FILES: Final = (
    ("macOS", "~/Library/Application Support/Claude/claude_desktop_config.json"),
    ("Windows", r"%APPDATA%\Claude\claude_desktop_config.json"),
    ("Linux", "~/.config/Claude/claude_desktop_config.json (community builds; no official one)"),
)
"""Where Claude Desktop keeps its MCP servers, by system."""


def init(path: str, *, force: bool, out: TextIO, err: TextIO) -> int:
    """Write the commented default configuration to ``path``; refuse to replace a file
    unless ``force``. Returns the exit code."""
    from gateway.settings import template  # noqa: PLC0415 - the settings models are not light

    target = Path(path)
    if target.exists() and not force:
        err.write(f"effmesh: {path} exists; pass --force to replace it\n")
        return EXIT_NOT_STARTED
    try:
        target.write_text(template.text(path), encoding="utf-8")
    except OSError as exc:
        err.write(f"effmesh: cannot write {path}: {exc.strerror}\n")
        return EXIT_NOT_STARTED
    out.write(f"wrote {path}; start the gateway with: effmesh serve --config {path}\n")
    return EXIT_COMPLETED


def effmesh_command() -> list[str]:
    """How to start this install's ``effmesh``, as absolute paths: its script next to the
    running interpreter, else the interpreter with ``-m gateway.cli``."""
    python = Path(sys.executable).absolute()
    script = python.parent / ("effmesh.exe" if os.name == "nt" else "effmesh")
    if script.is_file():
        return [str(script)]
    return [str(python), "-m", "gateway.cli"]


def claude_entry(url: str) -> dict[str, Any]:
    """The ``mcpServers`` entry that starts the stdio bridge to the gateway at ``url``."""
    command, *args = effmesh_command()
    return {
        "mcpServers": {"effmesh": {"command": command, "args": [*args, "mcp-stdio", "--url", url]}}
    }


def claude_config(url: str, *, out: TextIO, err: TextIO) -> int:
    """Print the entry as JSON on ``out`` (so it can be piped), and on ``err`` where it goes.
    Returns the exit code."""
    out.write(json.dumps(claude_entry(url), indent=2) + "\n")
    err.write('Merge it into the "mcpServers" of Claude Desktop\'s configuration file:\n')
    for system, where in CLAUDE_FILES:
        err.write(f"  {system + ':':9}{where}\n")
    err.write(
        "IDEs that take the same form (Cursor: ~/.cursor/mcp.json) take the same entry. If the\n"
        'gateway requires a token, add "env": {"EFFMESH_TOKEN": "..."} beside "args".\n'
        "The gateway must be running (effmesh serve); restart the client to pick it up.\n"
    )
    return EXIT_COMPLETED
