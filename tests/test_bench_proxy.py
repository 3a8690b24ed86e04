"""The frameworks benchmark's recording proxy: an answered model request is recorded with its
usage; one whose client leaves first (a runner killed at its task's timeout) is closed
upstream too, so the model server stops generating for it, and leaves no record.

The upstream here is a small ASGI app standing in for the model server, so that a request can
be held open and its closing seen; the proxy and the client are the real ones.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import httpx
import pytest

from benchmarks.peers.proxy import RecordingProxy
from tests.servers import running

pytestmark = pytest.mark.anyio
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 8}}


class Upstream:
    """Answers ``/v1/fast`` at once; holds ``/v1/slow`` until its client goes, then notes it."""

    def __init__(self) -> None:
        self.gone = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/v1/fast":
            body = json.dumps({"choices": [], "usage": USAGE}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()


async def test_an_answered_request_is_recorded_with_its_usage() -> None:
    with running(lambda _: Upstream(), graceful=5) as url:
        proxy = RecordingProxy(url)
        await proxy.start()
        try:
            proxy.tag = "t1"
            async with httpx.AsyncClient(timeout=30) as client:
                reply = await client.post(f"{proxy.url}/v1/fast", json={"messages": []})
            assert reply.json()["usage"] == USAGE
            [record] = proxy.take("t1")
            assert (record.status, record.prompt_tokens, record.cached_tokens) == (200, 12, 8)
            assert proxy.cut_short == 0
        finally:
            await proxy.stop()


async def test_a_request_whose_client_leaves_is_closed_upstream_and_not_recorded() -> None:
    upstream = Upstream()
    with running(lambda _: upstream, graceful=5) as url:
        proxy = RecordingProxy(url)
        await proxy.start()
        try:
            proxy.tag = "t1"
            async with httpx.AsyncClient(timeout=0.5) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(f"{proxy.url}/v1/slow", json={"messages": []})
            assert await anyio.to_thread.run_sync(upstream.gone.wait, 30)
            assert proxy.cut_short == 1
            assert proxy.take("t1") == []
        finally:
            await proxy.stop()
