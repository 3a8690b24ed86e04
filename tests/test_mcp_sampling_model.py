"""An upstream MCP server's sampling request answered by the gateway's own model, for callers
that cannot answer it, on a remote MCP agent configured with ``sampling = "model"``.

The gateway is built from a settings file as ``effmesh serve`` builds it; the model is the real
embedded llama.cpp server with the bundled SmolLM2 (``model_url``), the upstream the official
SDK's server with the conformance fixtures (``test_sampling`` asks the client's model)."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator

import httpx
import mcp_types as mt
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from mcp import Client
from mcp.client.session import ClientRequestContext

from adapters.errors import InvalidParams, Unsupported
from agents.echo import EchoAgent
from agents.remote.mcp_sampling import MAX_TOKENS, chat_request
from gateway.app import create_app
from gateway.models import ModelPool
from gateway.server import build_registry
from gateway.settings import SettingsError, load
from tests.mcp_fixture import build_fixture
from tests.servers import running

pytestmark = pytest.mark.anyio
PREFIX = "LLM response: "


@pytest.fixture(scope="module")
def gateway(model_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: pathlib.Path = tmp_path_factory.mktemp("sampling")
    with running(lambda base: build_fixture().streamable_http_app()) as upstream:
        path = folder / "effmesh.toml"
        path.write_text(
            f"""
[gateway]
data_dir = "{folder}"
token_env = "EFFMESH_SAMPLING_UNSET"
rate_per_minute = 0

[models.small]
kind = "llamacpp"
urls = ["{model_url}"]

[[agents]]
name = "fx"
kind = "mcp"
url = "{upstream}/mcp"
sampling = "model"
model = "small"
# The fixture speaks both eras; its tools ask for sampling the handshake's way.
era = "handshake"
"""
        )
        config = load(path)
        models = ModelPool(config)
        registry = asyncio.run(build_registry(config, models))
        registry.add(ClosesModels(models))
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url


class ClosesModels(EchoAgent):
    """An agent that closes the models' connections as the gateway stops, on the gateway's
    own event loop (where the model's HTTP client was opened), as ``effmesh serve`` does."""

    def __init__(self, models: ModelPool) -> None:
        super().__init__("closer")
        self.models = models

    async def close(self) -> None:
        await self.models.aclose()


def a2a_request(prompt: str) -> pb.SendMessageRequest:
    part = pb.Part()
    json_format.ParseDict({"data": {"prompt": prompt}}, part)
    message = pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[part])
    request = pb.SendMessageRequest(message=message)
    request.metadata.update({"effmesh.skill": "test_sampling"})
    return request


async def test_the_gateways_model_answers_an_a2a_callers_sampling(gateway: str) -> None:
    async with httpx.AsyncClient(timeout=120) as http:
        client = await create_client(
            f"{gateway}/a2a/fx", client_config=ClientConfig(streaming=False, httpx_client=http)
        )
        async with client:
            responses = [r async for r in client.send_message(a2a_request("Say hello."))]
    task = responses[-1].task
    assert task.status.state == pb.TASK_STATE_COMPLETED
    said = task.artifacts[-1].parts[0].text
    assert said.startswith(PREFIX)
    assert said[len(PREFIX) :].strip()  # the model said something


async def test_the_gateways_model_answers_an_mcp_caller_that_cannot_sample(gateway: str) -> None:
    async with Client(f"{gateway}/mcp", mode="legacy") as ide:
        result = await ide.call_tool("fx.test_sampling", {"prompt": "Say hello."})
    (block,) = result.content
    assert isinstance(block, mt.TextContent)
    assert block.text.startswith(PREFIX)
    assert block.text[len(PREFIX) :].strip()


async def test_a_caller_that_can_sample_is_still_asked_first(gateway: str) -> None:
    async def sample(
        context: ClientRequestContext, params: mt.CreateMessageRequestParams
    ) -> mt.CreateMessageResult:
        text = mt.TextContent(type="text", text="from the caller")
        return mt.CreateMessageResult(role="assistant", content=text, model="caller")

    async with Client(f"{gateway}/mcp", mode="legacy", sampling_callback=sample) as ide:
        result = await ide.call_tool("fx.test_sampling", {"prompt": "Say hello."})
    assert isinstance(result.content[0], mt.TextContent)
    assert result.content[0].text == PREFIX + "from the caller"


def test_a_sampling_request_becomes_one_chat_completion() -> None:
    request = chat_request(
        {
            "systemPrompt": "Be brief.",
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "maxTokens": 100_000,
            "stopSequences": ["\n\n"],
        }
    )
    assert list(request.messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert (request.max_tokens, tuple(request.stop)) == (MAX_TOKENS, ("\n\n",))


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"messages": [{"role": "user", "content": {"type": "image", "data": ""}}]}, Unsupported),
        ({"messages": [], "maxTokens": 5}, InvalidParams),
        ({"messages": [{"role": "tool", "content": {"type": "text", "text": "x"}}]}, InvalidParams),
        (
            {
                "messages": [{"role": "user", "content": {"type": "text", "text": "x"}}],
                "tools": [{"name": "t", "inputSchema": {"type": "object"}}],
            },
            Unsupported,
        ),
    ],
    ids=["image", "no-messages", "unknown-role", "tools"],
)
def test_what_the_model_cannot_take_is_refused(params: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        chat_request(params)


def test_sampling_by_model_is_for_mcp_agents_and_named_models(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text('[[agents]]\nname = "e"\nkind = "echo"\nsampling = "model"\n')
    with pytest.raises(SettingsError) as wrong_kind:
        load(path)
    assert wrong_kind.value.key == "agents[0].sampling"
    path.write_text(
        '[[agents]]\nname = "m"\nkind = "mcp"\nurl = "http://127.0.0.1:1/mcp"\n'
        'sampling = "model"\nmodel = "nowhere"\n'
    )
    with pytest.raises(SettingsError) as unknown:
        load(path)
    assert unknown.value.key == "agents[0].model"
