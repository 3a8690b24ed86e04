"""The stdio bridge that Claude Desktop launches answers a line it cannot deliver (too long,
not UTF-8) with an error for that line and carries on; a long line within the limit is
delivered whole."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from adapters import _json
from tests.servers import echo_gateway

ROOT = Path(__file__).resolve().parents[1]


def _request(rid: int, method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode()


def _converse(bridge: subprocess.Popen[bytes], lines: list[bytes]) -> list[dict[str, Any]]:
    """Write ``lines`` to the bridge and read its replies (five are expected)."""
    assert bridge.stdin is not None
    assert bridge.stdout is not None
    replies: Queue[bytes] = Queue()
    out = bridge.stdout
    reading = threading.Thread(
        target=lambda: [replies.put(line) for line in iter(out.readline, b"")], daemon=True
    )
    reading.start()
    got = []
    try:
        for line in lines:
            bridge.stdin.write(line + b"\n")
            bridge.stdin.flush()
        for _ in range(5):  # initialize, two refusals, the call and the ping
            try:
                got.append(_json.loads(replies.get(timeout=60)))
            except Empty:
                break
    finally:
        bridge.stdin.close()
        bridge.wait(timeout=10)
    return got


def test_the_bridge_answers_undeliverable_lines_and_keeps_serving() -> None:
    big_text = "x" * (2 * 1024 * 1024)
    lines = [
        _request(
            1,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        ),
        b'{"jsonrpc": "2.0", "method": "notifications/initialized"}',
        b'{"jsonrpc": "2.0", "id": 2, "method": "' + b"y" * (5 * 1024 * 1024) + b'"}',
        b'{"jsonrpc": "2.0", "id": 3, "method": "ping", "x": "\xff\xfe"}',
        _request(4, "tools/call", {"name": "echo.echo", "arguments": {"text": big_text}}),
        _request(5, "ping", {}),
    ]
    with (
        echo_gateway() as url,
        subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "mcp-stdio", "--url", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as bridge,
    ):
        got = _converse(bridge, lines)
    by_id: dict[Any, list[dict[str, Any]]] = {}

    for reply in got:
        by_id.setdefault(reply.get("id"), []).append(reply)
    assert "result" in by_id[1][0]
    refusals = sorted(r["error"]["code"] for r in by_id[None])
    assert refusals == [-32700, -32600]
    call = by_id[4][0]["result"]
    assert call["content"][0]["text"] == big_text
    assert by_id[5][0]["result"] == {}
    assert bridge.returncode == 0
