"""An ACP agent on acp-sdk 1.0.3's own server: the third-party ACP agent of
tests/test_thirdparty_matrix.py, written the way acp-sdk's users write one.

It runs in its own venv (``.cache/acp-agent``: acp-sdk's server needs uvicorn < 0.36) and
imports nothing of effmesh. The first word of the message picks what it does: ``now X``
answers with one whole Message; ``stream`` yields three message parts over a second (acp-sdk
then sends an empty ``message.created`` first); ``long`` works for a minute unless cancelled;
``ask`` awaits a message and greets the name it is resumed with.

acp-sdk cancels a run's executor, not the agent's own generator, so the agent cannot see a
cancel itself: the server does. A small ASGI wrapper records what reaches the server (a run
created, cancelled or resumed, with its run id) as JSON lines in the file named by
``RECORD``. It prints the port it listens on.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncGenerator
from typing import Any

import uvicorn
from acp_sdk.models import Message, MessageAwaitRequest, MessageAwaitResume, MessagePart
from acp_sdk.server import Context, RunYield, RunYieldResume, agent
from acp_sdk.server.app import create_app


def record(event: str, run: str) -> None:
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({"event": event, "task": run}) + "\n")


@agent(name="demo", description="now, stream, long or ask")
async def demo(input: list[Message], context: Context) -> AsyncGenerator[RunYield, RunYieldResume]:
    text = "".join(p.content or "" for p in input[-1].parts).strip()
    word, _, rest = text.partition(" ")
    if word == "now":
        yield Message(parts=[MessagePart(content=f"now: {rest}")])
    elif word == "stream":
        for chunk in ("one ", "two ", "three"):
            await asyncio.sleep(0.5)
            yield MessagePart(content=chunk)
    elif word == "long":
        await asyncio.sleep(60)
        yield MessagePart(content="finished")
    elif word == "ask":
        question = Message(parts=[MessagePart(content="What name?")])
        answer = yield MessageAwaitRequest(message=question)
        name = ""
        if isinstance(answer, MessageAwaitResume):
            name = "".join(p.content or "" for p in answer.message.parts).strip()
        yield MessagePart(content=f"hello {name}")
    else:
        yield MessagePart(content=f"unknown {word}")


def recorded(app: Any) -> Any:
    """``app``, recording each run created (its Run-ID), cancelled or resumed."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith("/runs"):
            await app(scope, receive, send)
            return
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[2] == "cancel":
            record("cancel", parts[1])
        elif len(parts) == 2:
            record("resume", parts[1])

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and len(parts) == 1:
                for key, value in message.get("headers", []):
                    if key.lower() == b"run-id":
                        record("start", value.decode())
            await send(message)

        await app(scope, receive, sending)

    return wrapped


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    app = recorded(create_app(demo))
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
