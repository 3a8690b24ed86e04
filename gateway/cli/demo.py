"""``effmesh demo``: one tool call and one result carried through all six directions."""

from __future__ import annotations

import itertools
import json
from typing import Any

from adapters import translate
from adapters.translate import Protocol, Wire

TOOL_CALL: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "calculator.evaluate",
        "arguments": {"expression": "2 * (3 + 4)", "precision": 4},
        "_meta": {
            "progressToken": "p-1",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
    },
}

A2A_TASK: dict[str, Any] = {
    "task": {
        "id": "0f6a1c52-95a8-4e1e-9f50-3d1c7a1c2b10",
        "contextId": "c-1",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"artifactId": "result", "parts": [{"text": "14"}]}],
    }
}

A2A_FILE_MESSAGE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "SendMessage",
    "params": {
        "message": {
            "messageId": "m-1",
            "role": "ROLE_USER",
            "parts": [{"text": "describe this"}, {"url": "https://example.test/cat.png"}],
        },
        "metadata": {"effmesh.skill": "vision.describe"},
    },
}


def _show(title: str, value: Any) -> str:
    return f"--- {title}\n{json.dumps(value, indent=2)}\n"


def run() -> str:
    out = [_show("MCP tools/call (from an IDE)", TOOL_CALL)]
    wire = Wire(TOOL_CALL)
    chain: list[Protocol] = ["mcp", "a2a", "acp", "mcp"]
    for source, target in itertools.pairwise(chain):
        wire = translate.translate("request", source, target, wire)
        headers = f" with headers {dict(wire.headers)}" if wire.headers else ""
        out.append(_show(f"{source.upper()} -> {target.upper()} request{headers}", wire.body))
    result = Wire(A2A_TASK)
    out.append(_show("A2A SendMessage result (from an agent)", A2A_TASK))
    for target in ("mcp", "acp"):
        done = translate.translate("result", "a2a", target, result)
        out.append(_show(f"A2A -> {target.upper()} result", done.body))
    try:
        translate.translate("request", "a2a", "mcp", Wire(A2A_FILE_MESSAGE))
    except translate.TranslationError as exc:
        refusal = json.loads(exc.wire)
        out.append(
            _show("A2A message with a file -> MCP: refused, in A2A's own error form", refusal)
        )
    return "".join(out)
