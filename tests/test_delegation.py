"""The caller travels with every delegated call: a specialist is offered and may call only the
tools its caller may call, a routed plan's subtasks act for the same caller, and a dial-in
agent is its registering token's alone, in MCP, A2A and ACP alike."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from adapters.model import DataPart, Invocation, Message, Skill, Task, TextPart
from agents.echo import EchoAgent
from agents.llm.backend import ModelBackend
from agents.llm.wire import ServerKind
from agents.specialists.agent import SpecialistAgent, SpecialistSpec
from agents.tiers import Tier
from agents.tools.index import ToolIndex
from gateway.app import create_app
from gateway.mesh.dialin import allow_for
from gateway.registry import Registry
from gateway.routing.catalog import Catalog
from gateway.runtime import calls
from gateway.runtime.runner import Runtime
from gateway.settings import Config
from gateway.toolhost import RegistryTools
from tests.servers import running
from tests.test_gateway_mesh import PeerThread
from tests.test_routing import router_for
from tests.test_specialist_loop import ScriptedModel

pytestmark = pytest.mark.anyio

ECHO_SECRET = json.dumps({"tool": "secret.echo", "arguments": {"text": "classified"}})


def registry_with_secret() -> Registry:
    """``secret`` is ``default``'s alone; ``calc`` is open to every token."""
    registry = Registry()
    registry.add(EchoAgent("secret"), allow=("default",))
    registry.add(EchoAgent("calc"))
    return registry


def test_a_tool_host_offers_and_runs_only_the_callers_tools() -> None:
    registry = registry_with_secret()
    host = RegistryTools(registry, "assistant")
    patterns = ("secret.echo", "calc.echo")
    assert [t.name for t in host.tools(patterns, principal="ide")] == ["calc.echo"]
    assert [t.name for t in host.tools(patterns, principal="default")] == [
        "secret.echo",
        "calc.echo",
    ]

    async def both() -> tuple[Any, Any, Any]:
        args = {"text": "x"}
        refused = await host.call("secret.echo", args, scope="s", principal="ide")
        absent = await host.call("nosuch.echo", args, scope="s", principal="ide")
        ran = await host.call("secret.echo", args, scope="s", principal="default")
        return refused, absent, ran

    refused, absent, ran = asyncio.run(both())
    assert not refused.ok
    # Refused as an absent tool is: the answer does not tell that the agent exists.
    assert refused.text.replace("secret", "nosuch") == absent.text
    assert ran.ok
    assert ran.text == "x"


@contextlib.contextmanager
def specialist(script: list[str]) -> Iterator[tuple[Registry, ScriptedModel, ModelBackend]]:
    """A registry with ``assistant``, a specialist configured with ``secret.*`` on a scripted
    model (the model's replies are the test's, so nothing depends on a model's choices)."""
    model = ScriptedModel(script)
    with running(model.app) as url:
        registry = registry_with_secret()
        spec = SpecialistSpec(
            "assistant",
            "You help.",
            (Skill("chat", "Answers questions."),),
            tools=("secret.echo",),
            tier=Tier.SMALL,
            optimize=False,
        )
        backend = ModelBackend([url], kind=ServerKind.LLAMACPP, timeout=10.0, retries=0)
        tools = RegistryTools(registry, "assistant")
        registry.add(SpecialistAgent(spec, backend, tools, ToolIndex(None, None)))
        yield registry, model, backend


async def settle(
    registry: Registry, skill: str, text: str, principal: str, **metadata: Any
) -> tuple[Task | None, Exception | None]:
    route = registry.route(skill, principal)
    invocation = Invocation(route.skill.name, Message("user", (TextPart(text),)), metadata=metadata)
    settled = await Runtime().run(
        route,
        invocation,
        owner=principal,
        endpoint="test",
        scope=calls.scope_for(principal),
        principal=principal,
    )
    return settled.task, settled.error


def steps_of(task: Task) -> dict[str, Any]:
    part = next(a for a in task.artifacts if a.name == "steps").parts[0]
    assert isinstance(part, DataPart)
    assert isinstance(part.data, dict)
    return part.data


def prompt_text(model: ScriptedModel) -> str:
    return json.dumps(model.requests)


async def test_a_specialist_offers_a_caller_only_the_tools_it_may_call() -> None:
    with specialist(["I cannot help with that."]) as (registry, model, backend):
        task, error = await settle(registry, "assistant.chat", "echo classified", "ide")
        await backend.aclose()
    assert error is None
    assert task is not None
    assert steps_of(task)["usage"]["tools_offered"] == []
    assert "secret" not in prompt_text(model)


async def test_a_specialist_calls_a_restricted_tool_for_a_caller_the_allow_list_names() -> None:
    with specialist([ECHO_SECRET, json.dumps({"answer": "done"})]) as (registry, model, backend):
        task, error = await settle(registry, "assistant.chat", "echo classified", "default")
        await backend.aclose()
    assert error is None
    assert task is not None
    steps = steps_of(task)
    assert steps["usage"]["tools_offered"] == ["secret.echo"]
    assert steps["tool_calls"][0] == {
        "tool": "secret.echo",
        "arguments": {"text": "classified"},
        "ok": True,
        "result": "classified",
    }
    assert "secret.echo" in prompt_text(model)


async def test_a_caller_cannot_force_a_tool_it_may_not_call() -> None:
    with specialist([]) as (registry, model, backend):
        _task, error = await settle(
            registry, "assistant.chat", "x", "ide", **{"effmesh.tool": "secret.echo"}
        )
        await backend.aclose()
    assert error is not None
    assert error.code == "not_found"
    assert model.requests == []


async def test_a_routed_plan_reaches_only_the_callers_tools_through_a_specialist() -> None:
    with specialist(["Nothing to do."]) as (registry, model, backend):
        router_for(registry, skills=("assistant.*",))
        task, error = await settle(registry, "effmesh.run", "say something", "ide")
        await backend.aclose()
    assert error is None
    assert task is not None
    run = next(a for a in task.artifacts if a.name == "run").parts[0]
    assert isinstance(run, DataPart)
    assert [s["skill"] for s in run.data["subtasks"]] == ["assistant.chat"]
    assert model.requests, "the plan ran the specialist"
    assert "secret" not in prompt_text(model)


ECHOES = ("calc.echo", "secret.echo")
"""Named exactly: a wildcard leaves the echo agent's skills (tagged ``test``) out of plans."""


def test_a_plan_is_made_only_of_agents_the_caller_may_call_and_see() -> None:
    registry = registry_with_secret()
    index = ToolIndex(None, None)
    names = {
        who: Catalog.of(registry, who, patterns=ECHOES, exclude="effmesh", index=index).names
        for who in ("ide", "default")
    }
    assert names == {"ide": ["calc.echo"], "default": ["calc.echo", "secret.echo"]}


# --- dial-in agents ------------------------------------------------------------------------


def test_a_dial_in_agent_is_its_tokens_alone_unless_shared() -> None:
    assert allow_for("maths", "ide", ()) == ("ide",)
    assert allow_for("maths", "ide", ("maths",)) == ("*",)
    assert allow_for("maths", "ide", ("ide",)) == ("*",)
    assert allow_for("maths", None, ()) == ("*",)  # no tokens in use: open to all


TOKENS = {"EFFMESH_DT_DEFAULT": "default-secret", "EFFMESH_DT_IDE": "ide-secret"}


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Registry]]:
    for env, value in TOKENS.items():
        monkeypatch.setenv(env, value)
    registry = Registry()
    registry.add(EchoAgent("calc"))
    config = Config(
        token_env="EFFMESH_DT_DEFAULT", tokens=(("ide", "EFFMESH_DT_IDE"),), rate_per_minute=0
    )
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        peer = PeerThread(url.replace("http://", "ws://") + "/ws", "maths", "ide-secret")
        peer.wait_registered()
        try:
            yield url, registry
        finally:
            peer.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def mcp_view(url: str, token: str) -> tuple[set[str], int | str]:
    async with (
        httpx2.AsyncClient(headers=bearer(token)) as http,
        Client(streamable_http_client(f"{url}/mcp/", http_client=http)) as client,
    ):
        names = {t.name for t in (await client.list_tools()).tools}
        try:
            result = await client.call_tool("maths.echo", {"text": "2+2"})
        except MCPError as exc:
            return names, exc.error.code
        return names, "".join(c.text for c in result.content if hasattr(c, "text"))


async def test_a_dial_in_agent_is_invisible_and_uncallable_for_other_tokens(
    dialled: tuple[str, Registry],
) -> None:
    url, registry = dialled
    # MCP
    names, outcome = await mcp_view(url, "default-secret")
    assert "maths.echo" not in names
    assert outcome == INVALID_PARAMS
    names, outcome = await mcp_view(url, "ide-secret")
    assert "maths.echo" in names
    assert outcome == "2+2"
    async with httpx.AsyncClient() as http:
        for token, visible in (("default-secret", False), ("ide-secret", True)):
            agents = (await http.get(f"{url}/agents", headers=bearer(token))).json()["agents"]
            assert ("maths" in {a["name"] for a in agents}) is visible
            # ACP: the listing, the manifest and a run
            listed = (await http.get(f"{url}/acp/agents", headers=bearer(token))).json()
            assert ("maths.echo" in {a["name"] for a in listed["agents"]}) is visible
            manifest = await http.get(f"{url}/acp/agents/maths.echo", headers=bearer(token))
            assert manifest.status_code == (200 if visible else 404)
            run = {
                "agent_name": "maths.echo",
                "mode": "sync",
                "input": [{"role": "user", "parts": [{"content": "2+2"}]}],
            }
            ran = await http.post(f"{url}/acp/runs", json=run, headers=bearer(token))
            assert ran.status_code == (200 if visible else 404)
            # A2A: the agent's card and endpoint, and the gateway's card
            card = await http.get(
                f"{url}/a2a/maths/.well-known/agent-card.json", headers=bearer(token)
            )
            assert card.status_code == (200 if visible else 404)
            send = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendMessage",
                "params": {
                    "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]},
                    "metadata": {"effmesh.skill": "echo"},
                },
            }
            headers = {**bearer(token), "A2A-Version": "1.0"}
            sent = await http.post(f"{url}/a2a/maths", json=send, headers=headers)
            assert (sent.status_code == 200) is visible
            gateway_card = await http.get(
                f"{url}/.well-known/agent-card.json", headers=bearer(token)
            )
            skills = {s["id"] for s in gateway_card.json()["skills"]}
            assert ("maths.echo" in skills) is visible
        anonymous = await http.get(f"{url}/a2a/maths/.well-known/agent-card.json")
        assert anonymous.status_code == 404
    # The router plans for ``default`` without it.
    index = ToolIndex(None, None)
    patterns = ("maths.echo", "calc.echo")
    default = Catalog.of(registry, "default", patterns=patterns, exclude="effmesh", index=index)
    ide = Catalog.of(registry, "ide", patterns=patterns, exclude="effmesh", index=index)
    assert "maths.echo" not in default.names
    assert "maths.echo" in ide.names
