"""``effmesh serve`` with no configuration file, as ``make run`` starts it: the embedded model
server comes up with the gateway, the default specialists answer through MCP, and stopping the
gateway stops the model server too."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client as MCPClient

from agents.llm.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]


async def _call_a_specialist(base: str) -> Any:
    for _ in range(200):  # uvicorn binds right after the endpoint list is printed
        try:
            httpx.get(f"{base}/agents")
            break
        except httpx.ConnectError:
            await asyncio.sleep(0.05)
    async with MCPClient(f"{base}/mcp") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"arithmetic.solve", "summarizer.summarize", "assistant.chat"} <= names
        result = await client.call_tool("arithmetic.solve", {"text": "What is 6 times 7?"})
    assert result.is_error is False
    return result.structured_content


def test_the_default_gateway_runs_specialists_on_its_own_model(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(tmp_path)]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stdout is not None
        try:
            line = ""
            for line in process.stdout:  # the endpoint list ends with the model server's URL
                if line.startswith("model (llama.cpp)"):
                    break
            model_url = line.split()[-1]
            steps = asyncio.run(_call_a_specialist(f"http://127.0.0.1:{port}"))
            assert steps["tool_calls"][0]["tool"] == "calculator.evaluate"
            assert httpx.get(f"{model_url}/health").status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{model_url}/health", timeout=2)
    # The gateway's state is its callers' data: nothing in the data folder is readable,
    # writable or searchable by group or others.
    written = [tmp_path, *tmp_path.rglob("*")]
    assert any(p.name == "tasks.sqlite3" for p in written)
    assert [str(p) for p in written if p.stat().st_mode & 0o077] == []
