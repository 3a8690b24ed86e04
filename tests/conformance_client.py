"""effmesh's remote MCP agent as the client of the MCP conformance suite's client scenarios:
``conformance client --command "python -m tests.conformance_client" --scenario NAME`` runs
this with the suite's mock server URL as its argument and the scenario's name (and context)
in the environment.

It does what a gateway does with an MCP server behind it: opens the agent (the handshake or
2026-07-28 discovery, the tool listing), calls the tools the scenario offers, and answers a
server's question the way an A2A or ACP caller of the gateway would: by continuing the call
that stopped for input, here with an empty form (accept, the form's defaults). Every step goes
through ``agents.remote.RemoteMCPAgent``, nothing around it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import replace
from typing import Any

from adapters.errors import EffmeshError
from adapters.mcp.calls import arguments_parts
from adapters.model import DataPart, Invocation, Message, StatusEvent, TaskState
from agents.remote import RemoteMCPAgent

CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "tools_call": [("add_numbers", {"a": 5, "b": 3})],
    "elicitation-sep1034-client-defaults": [("test_client_elicitation_defaults", {})],
    "sse-retry": [("test_reconnection", {})],
    "sep-2322-client-request-state": [
        ("test_mrtr_echo_state", {}),
        ("test_mrtr_no_state", {}),
        ("test_mrtr_unrelated", {}),
        ("test_mrtr_no_result_type", {}),
    ],
}
"""Scenario -> the tools it expects called (others take theirs from the context)."""
ROUNDS = 4
"""Questions one call may ask before the client gives up on it."""


async def call(agent: RemoteMCPAgent, tool: str, arguments: dict[str, Any]) -> None:
    """Call ``tool``; a question is answered with an empty form (its defaults)."""
    invocation = Invocation(tool, Message("user", arguments_parts(arguments)))
    task_id = uuid.uuid4().hex
    for _ in range(ROUNDS):
        last = None
        async for item in agent.run(invocation, task_id=task_id):
            last = item
        asked = isinstance(last, StatusEvent) and last.state is TaskState.INPUT_REQUIRED
        if not asked:
            return
        reply = Message("user", (DataPart({}),))
        invocation = replace(invocation, message=reply)


async def exercise_everything(agent: RemoteMCPAgent) -> None:
    """Lists and reads the server's resources, lists and gets its prompts."""
    for resource in await agent.list_resources():
        await agent.read_resource(resource["uri"])
        break
    for prompt in await agent.list_prompts():
        await agent.get_prompt(prompt["name"], None)
        break


async def main(url: str, scenario: str, context: dict[str, Any]) -> None:
    agent = RemoteMCPAgent("suite", url, timeout=20)
    try:
        await agent.connect()
        skills = {s.name: s for s in agent.descriptor.skills}
        planned = CALLS.get(scenario, [])
        for listed in context.get("toolCalls", []):
            planned.append((listed["name"], listed.get("arguments") or {}))
        if scenario == "json-schema-2020-12-preservation":
            # The schema the agent took from the listing, sent back for the suite to compare.
            focal = skills["json_schema_2020_12_tool"].input_schema
            planned.append(("json_schema_echo", {"schema": dict(focal or {})}))
        if scenario in ("http-standard-headers", "http-invalid-tool-headers"):
            planned += [(name, {}) for name in skills]
        if scenario == "http-standard-headers":
            await exercise_everything(agent)
        for tool, arguments in planned:
            try:
                await call(agent, tool, arguments)
            except EffmeshError as exc:  # the server's failure: the next call is its own
                sys.stderr.write(f"{tool}: {exc.public_message}\n")
    finally:
        await agent.close()


if __name__ == "__main__":
    name = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    given = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    asyncio.run(main(sys.argv[-1], name, given))
