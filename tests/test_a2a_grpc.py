"""A2A's gRPC binding of the gateway, driven by a2a-sdk's own gRPC client: listed in every card,
each agent addressed by the tenant its card names, a task another token started is not found,
and a call without a valid token is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from a2a.client.errors import A2AClientError
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import TaskNotFoundError

from agents.echo import EchoAgent
from gateway.app import create_app
from gateway.registry import Registry
from gateway.settings import Config
from tests.servers import running

pytestmark = pytest.mark.anyio
TOKENS = {"ide": "ide-secret", "ops": "ops-secret"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EFFMESH_G_IDE", TOKENS["ide"])
        env.setenv("EFFMESH_G_OPS", TOKENS["ops"])
        registry = Registry()
        registry.add(EchoAgent())
        config = Config(
            token_env="EFFMESH_G_UNSET",
            tokens=(("ide", "EFFMESH_G_IDE"), ("ops", "EFFMESH_G_OPS")),
            rate_per_minute=0,
            a2a_grpc_port=0,
        )
        with running(lambda base: create_app(registry, config, base_url=base)) as url:
            yield url


def _with_token(details: Any, token: str) -> Any:
    metadata = [*(details.metadata or ()), ("authorization", f"Bearer {token}")]
    return details._replace(metadata=metadata)


class BearerUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Puts the caller's bearer token into every unary call's metadata."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.token), request)


class BearerStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """The same for streaming calls (a channel takes one kind per interceptor)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.token), request)


@asynccontextmanager
async def grpc_client(url: str, token: str, *, streaming: bool = False) -> AsyncIterator[Client]:
    """a2a-sdk's client on the card at ``url``, over gRPC only, with ``token``."""

    def channel(target: str) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(
            target, interceptors=[BearerUnary(token), BearerStream(token)]
        )

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers) as http:
        config = ClientConfig(
            streaming=streaming,
            httpx_client=http,
            supported_protocol_bindings=["GRPC"],
            grpc_channel_factory=channel,
        )
        client = await create_client(url, client_config=config)
        async with client:
            yield client


def ask(text: str, skill: str | None = None) -> pb.SendMessageRequest:
    req = pb.SendMessageRequest(
        message=pb.Message(message_id=f"m-{text}", role=pb.ROLE_USER, parts=[pb.Part(text=text)])
    )
    if skill is not None:
        req.metadata.update({"effmesh.skill": skill})
    return req


async def test_every_card_lists_the_grpc_binding(gateway: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ide']}"}
    async with httpx.AsyncClient(headers=headers) as http:
        own = (await http.get(f"{gateway}/a2a")).json()["supportedInterfaces"]
        echo = (await http.get(f"{gateway}/a2a/echo")).json()["supportedInterfaces"]
    (mine,) = [i for i in own if i["protocolBinding"] == "GRPC"]
    (its,) = [i for i in echo if i["protocolBinding"] == "GRPC"]
    assert "tenant" not in mine
    assert its["tenant"] == "echo"
    assert its["url"] == mine["url"]


@pytest.mark.parametrize("streaming", [False, True])
async def test_an_agent_answers_over_grpc(gateway: str, streaming: bool) -> None:
    async with grpc_client(f"{gateway}/a2a/echo", TOKENS["ide"], streaming=streaming) as client:
        responses = [r async for r in client.send_message(ask("hi", "echo"))]
        task_id = responses[0].task.id
        got = await client.get_task(pb.GetTaskRequest(id=task_id))
    assert got.status.state == pb.TASK_STATE_COMPLETED
    assert got.artifacts[0].parts[0].text == "hi"
    if streaming:
        states = [r.status_update.status.state for r in responses if r.HasField("status_update")]
        assert pb.TASK_STATE_WORKING in states


async def test_another_tokens_task_is_not_found_over_grpc(gateway: str) -> None:
    async with grpc_client(f"{gateway}/a2a/echo", TOKENS["ide"]) as client:
        responses = [r async for r in client.send_message(ask("mine", "ask"))]
        task_id = responses[-1].task.id
        assert responses[-1].task.status.state == pb.TASK_STATE_INPUT_REQUIRED
    async with grpc_client(f"{gateway}/a2a/echo", TOKENS["ops"]) as other:
        with pytest.raises(TaskNotFoundError):
            await other.get_task(pb.GetTaskRequest(id=task_id))
        with pytest.raises(TaskNotFoundError):
            await other.cancel_task(pb.CancelTaskRequest(id=task_id))
        listed = await other.list_tasks(pb.ListTasksRequest())
        assert task_id not in [t.id for t in listed.tasks]
        # Nor may it answer the question another token's task asked.
        follow = ask("theirs", "ask")
        follow.message.task_id = task_id
        with pytest.raises(TaskNotFoundError):
            _ = [r async for r in other.send_message(follow)]
    async with grpc_client(f"{gateway}/a2a/echo", TOKENS["ide"]) as client:
        got = await client.get_task(pb.GetTaskRequest(id=task_id))
    assert got.status.state == pb.TASK_STATE_INPUT_REQUIRED


async def test_a_call_without_a_valid_token_is_refused(gateway: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ide']}"}
    async with httpx.AsyncClient(headers=headers) as http:
        card = (await http.get(f"{gateway}/a2a/echo")).json()
    (iface,) = [i for i in card["supportedInterfaces"] if i["protocolBinding"] == "GRPC"]
    async with grpc.aio.insecure_channel(iface["url"]) as channel:
        call = channel.unary_unary(
            "/lf.a2a.v1.A2AService/GetTask",
            request_serializer=pb.GetTaskRequest.SerializeToString,
            response_deserializer=pb.Task.FromString,
        )
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(pb.GetTaskRequest(id="x", tenant="echo"), metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_agent_hidden_from_a_token_is_not_found_over_grpc(gateway: str) -> None:
    async with grpc_client(f"{gateway}/a2a/echo", TOKENS["ide"]) as client:
        req = ask("hi")
        req.tenant = "nobody"
        with pytest.raises((TaskNotFoundError, A2AClientError)):
            _ = [r async for r in client.send_message(req)]
