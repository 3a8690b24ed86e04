"""The gateway's added latency per cell of the third-party matrix: an immediate answer from each
third-party agent (A2A on @a2a-js/sdk, A2A on a2a-sdk's server, ACP on acp-sdk's server, MCP
on the Python SDK), called directly with its own protocol's official client and through an
effmesh gateway from each caller protocol's official client, in the same interleaved rounds.

Agents run as their own processes (``tests/thirdparty``, installed by ``make test``), and so
does the gateway (``effmesh serve``, as users run it); each client is opened once and kept, so
a figure is one call, not a connection. Added latency = median through the
gateway minus the median of the direct call.

    python -m benchmarks.thirdparty --out benchmarks/results/thirdparty.json --doc docs/matrix.md
    python -m benchmarks.thirdparty --out /tmp/thirdparty.json --baseline-src ../effmesh-before
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from acp_sdk.client import Client as ACPClient
from acp_sdk.models import Message, MessagePart
from mcp import Client as MCPClient

from benchmarks import hop, report
from tests.thirdparty import launch

CALLS = 100
ROUNDS = 5
AGENTS = {"js": "a2a", "sdk": "a2a", "acp": "acp", "mcp": "mcp"}
"""Agent -> the protocol it speaks (its direct client)."""
Call = Callable[[], Awaitable[object]]


def _a2a_request(text: str, skill: str | None = None) -> pb.SendMessageRequest:
    parts = [pb.Part(text=text)]
    message = pb.Message(message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=parts)
    request = pb.SendMessageRequest(message=message)
    if skill is not None:
        request.metadata.update({"effmesh.skill": skill})
    return request


@asynccontextmanager
async def a2a_call(url: str, text: str, skill: str | None = None) -> AsyncIterator[Call]:
    async with httpx.AsyncClient(timeout=60) as http:
        config = ClientConfig(streaming=False, supported_protocol_bindings=["JSONRPC"])
        config.httpx_client = http
        async with await create_client(url, client_config=config) as client:

            async def call() -> object:
                return [r async for r in client.send_message(_a2a_request(text, skill))]

            yield call


@asynccontextmanager
async def acp_call(url: str, agent: str, text: str) -> AsyncIterator[Call]:
    headers = {"Content-Type": "application/json"}
    async with ACPClient(base_url=url, headers=headers, timeout=60) as client:
        message = [Message(parts=[MessagePart(content=text)])]

        async def call() -> object:
            return await client.run_sync(message, agent=agent)

        yield call


@asynccontextmanager
async def mcp_call(url: str, tool: str, arguments: dict[str, Any]) -> AsyncIterator[Call]:
    async with MCPClient(url, mode="legacy") as client:  # type: ignore[call-overload]

        async def call() -> object:
            return await client.call_tool(tool, arguments)

        yield call


def _paths(gateways: dict[str, str], agents: dict[str, str]) -> dict[tuple[str, str], Any]:
    """(agent, path) -> a context manager giving its call: ``direct``, and each caller through
    each gateway (``mcp``, ``a2a``, ``acp`` through this tree's; ``mcp@before`` ... through
    the baseline tree's)."""
    paths: dict[tuple[str, str], Any] = {}
    for name, url in agents.items():
        tool, text = (f"{name}.now", "hi") if name == "mcp" else (f"{name}.demo", "now hi")
        skill = tool.split(".", 1)[1]
        if AGENTS[name] == "a2a":
            paths[name, "direct"] = a2a_call(url, "now hi")
        elif AGENTS[name] == "acp":
            paths[name, "direct"] = acp_call(url, "demo", "now hi")
        else:
            paths[name, "direct"] = mcp_call(url, "now", {"text": "hi"})
        for suffix, gateway in gateways.items():
            paths[name, f"mcp{suffix}"] = mcp_call(f"{gateway}/mcp", tool, {"text": text})
            paths[name, f"a2a{suffix}"] = a2a_call(f"{gateway}/a2a/{name}", text, skill)
            paths[name, f"acp{suffix}"] = acp_call(f"{gateway}/acp", tool, text)
    return paths


async def measure(gateways: dict[str, str], agents: dict[str, str]) -> dict[str, dict[str, float]]:
    """Median milliseconds per (agent, path), in interleaved rounds."""
    times: dict[tuple[str, str], list[float]] = {}
    async with AsyncExitStack() as stack:
        calls = {
            key: await stack.enter_async_context(path)
            for key, path in _paths(gateways, agents).items()
        }
        for call in calls.values():  # warm every path once
            await call()
        for _ in range(ROUNDS):
            for key, call in calls.items():
                for _ in range(CALLS // ROUNDS):
                    began = time.perf_counter()
                    await call()
                    times.setdefault(key, []).append((time.perf_counter() - began) * 1000)
    result: dict[str, dict[str, float]] = {}
    for (agent, path), samples in times.items():
        result.setdefault(agent, {})[path] = round(statistics.median(samples), 2)
    return result


def run(baseline_src: str | None = None) -> dict[str, Any]:
    missing = launch.missing()
    if missing is not None:
        raise SystemExit(f"run `make test` first: {missing}")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        up = {
            name: stack.enter_context(launch.started(name, command, Path(tmp), path))
            for name, (command, path) in launch.COMMANDS.items()
        }
        config = "".join(
            f'[[agents]]\nname = "{name}"\nkind = "{AGENTS[name]}"\nurl = "{started.url}"\n'
            for name, started in up.items()
        )
        gateways = {"": stack.enter_context(hop.gateway(config))}
        if baseline_src is not None:
            gateways["@before"] = stack.enter_context(hop.gateway(config, src=baseline_src))
        medians = asyncio.run(measure(gateways, {n: s.url for n, s in up.items()}))
    return {"calls": CALLS, "rounds": ROUNDS, "median_ms": medians}


def table(result: dict[str, Any]) -> str:
    rows = [
        "| agent (its protocol) | direct, p50 ms | via gateway from MCP | from A2A | from ACP |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for agent, paths in result["median_ms"].items():
        direct = paths["direct"]
        added = [
            f"+{paths[p] - direct:.1f} ms ({paths[p] / direct:.2f}x)" for p in ("mcp", "a2a", "acp")
        ]
        rows.append(f"| {agent} ({AGENTS[agent]}) | {direct:.1f} | " + " | ".join(added) + " |")
    note = (
        f"\nMedians of {result['calls']} immediate answers per path in {result['rounds']}"
        " interleaved rounds; `+x ms` is the gateway's added latency (through it minus direct),"
        " `(n x)` the ratio.\n"
    )
    if any("mcp@before" in paths for paths in result["median_ms"].values()):
        rows += [
            "",
            "| agent | before -> after, from MCP | from A2A | from ACP |",
            "| --- | ---: | ---: | ---: |",
        ]
        for agent, paths in result["median_ms"].items():
            pairs = [
                f"{paths[p + '@before']:.1f} -> {paths[p]:.1f} ms" for p in ("mcp", "a2a", "acp")
            ]
            rows.append(f"| {agent} | " + " | ".join(pairs) + " |")
    return "\n".join(rows) + "\n" + note


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--baseline-src", help="also call through a gateway from this tree")
    args = parser.parse_args()
    report.publish(args, "thirdparty", run(args.baseline_src), table)


if __name__ == "__main__":
    main()
