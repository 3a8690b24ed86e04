"""Drivers for the endpoint fuzz tests: many inputs over one keep-alive HTTP connection, many
frames over one WebSocket, each answer checked with ``tests.fuzzwire``.

A WebSocket batch is sent whole, then read until every frame that is owed an answer has one
(bounded by a deadline, never by a sleep): a frame that is not JSON or not a well-formed
request is owed an error with ``id: null``, a request with a usable id an answer with that id.
Answers nobody is owed (a stream's later frames, a notification's) are still checked.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from websockets.sync.client import ClientConnection

from adapters import _json
from adapters.errors import EffmeshError
from tests.fuzzwire import Tally, http_problem, jsonrpc_problem, leak

WAIT: Final = 30.0
"""Seconds a batch may take to be answered; far above what it needs."""
ROOT: Final = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def gateway_process(log: Path) -> Iterator[str]:
    """A gateway with the echo agent, in a process of its own; yields its base URL.

    Its own process: the fuzz client and the gateway each get a core, and the gateway's
    OpenTelemetry ids do not draw from this process's ``random`` while hypothesis draws.
    """
    with (
        log.open("wb") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "tests.fuzzdrive"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        ) as child,
    ):
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            ready, _, _ = select.select([child.stdout], [], [], 60)
            url = child.stdout.readline().decode().strip() if ready else ""
            assert url.startswith("http://"), f"the gateway did not start: {log.read_text()}"
            yield url
        finally:
            child.stdin.close()  # the gateway's signal to stop
            child.wait(30)


def _serve() -> None:
    """The gateway process: serve until stdin closes."""
    from agents.echo import EchoAgent
    from gateway.app import create_app
    from gateway.registry import Registry
    from gateway.settings import Config
    from tests.servers import running

    logging.basicConfig(level=logging.ERROR)  # the SDKs' warning per refusal is noise here
    registry = Registry()
    registry.add(EchoAgent())
    config = Config(rate_per_minute=0, call_timeout_seconds=10, max_body_bytes=1 << 20)
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        os.write(sys.stdout.fileno(), f"{url}\n".encode())
        sys.stdin.buffer.read()


@dataclass(frozen=True)
class Answer:
    status: int
    ctype: str
    body: bytes
    location: str | None


class Http:
    """One keep-alive connection; a closed one is opened again."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        pieces: int = 0,
    ) -> Answer:
        """``pieces`` > 0: send the body chunked, in that many pieces (about)."""
        for attempt in (0, 1):
            conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=WAIT)
            self._conn = conn
            try:
                if pieces and body is not None:
                    size = max(1, -(-len(body) // pieces))
                    chunks = [body[i : i + size] for i in range(0, len(body), size)]
                    conn.request(method, path, iter(chunks), headers, encode_chunked=True)
                else:
                    conn.request(method, path, body, headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                # The server closed an idle keep-alive connection: open another, once.
                conn.close()
                self._conn = None
                if attempt:
                    raise
                continue
            if response.will_close:
                conn.close()
                self._conn = None
            return Answer(
                response.status,
                response.getheader("content-type", ""),
                data,
                response.getheader("location"),
            )
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def mcp_may_be_silent(raw: bytes) -> bool:
    """Whether MCP may accept ``raw`` with an empty 202: a well-formed notification or
    response (the streamable HTTP transport's rule), nothing else."""
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    if type(msg) is not dict or msg.get("jsonrpc") != "2.0":
        return False
    if "method" in msg:
        return "id" not in msg and type(msg["method"]) is str
    if type(msg.get("id")) not in (str, int):
        return False
    error = msg.get("error")
    return type(msg.get("result")) is dict or (
        type(error) is dict and type(error.get("code")) is int
    )


def check_http(path: str, answer: Answer, sent: bytes) -> str | None:
    """Why ``answer`` to ``sent`` on ``path`` is not one in the path's protocol."""
    if answer.status == 202 and not answer.body and path.startswith("/mcp"):
        return None if mcp_may_be_silent(sent) else "a silent 202 for a message owed an answer"
    return http_problem(path, answer.status, answer.ctype, answer.body, sent)


def http_label(answer: Answer) -> str:
    """A short name for how an input was answered, for the counts: status and error code."""
    try:
        body = json.loads(answer.body)
    except (ValueError, RecursionError):
        return str(answer.status)
    error = body.get("error") if type(body) is dict else None
    code = error.get("code") if type(error) is dict else body.get("code")
    return f"{answer.status} {code}" if code is not None else str(answer.status)


# --- WebSockets ----------------------------------------------------------------------------

Kind = Literal["mcp", "a2a", "acp", "mesh"]
Owed = tuple[str, Any] | None
"""``NULL`` (an error with ``id: null``), ``("id", key)`` (an answer with that id), or None."""
NULL: Final = ("null", None)
MESH_NOTIFICATIONS: Final = frozenset(
    {"mesh/event", "mesh/cancel", "mesh/announce", "mesh/withdraw", "mesh/ping"}
)


def _key(rid: Any) -> tuple[str, Any]:
    return (type(rid).__name__, rid)


def owed(kind: Kind, raw: bytes, binary: bool) -> Owed:
    """The answer a frame is owed (None: no answer, or none this model is sure of)."""
    if binary:
        return NULL
    try:
        msg = _json.loads(raw, max_bytes=len(raw) + 1)
    except EffmeshError:
        return NULL
    if type(msg) is not dict:
        return NULL
    rid = msg.get("id")
    usable = type(rid) in (str, int)
    if "id" in msg and not usable and (kind != "mesh" or "method" in msg):
        return NULL
    if kind in ("a2a", "acp"):
        return ("id", _key(rid)) if usable else NULL
    if "method" not in msg or not usable:
        return None
    params = msg.get("params", {})
    well_formed = (
        msg.get("jsonrpc") == "2.0"
        and type(msg["method"]) is str
        and (type(params) is dict or (kind == "mcp" and params is None))
    )
    if kind == "mesh" and well_formed and msg["method"] in MESH_NOTIFICATIONS:
        return None
    return ("id", _key(rid)) if well_formed or kind == "mesh" else None


@dataclass
class Expected:
    nulls: int = 0
    ids: Counter[tuple[str, Any]] = field(default_factory=Counter)

    def add(self, answer: Owed) -> None:
        if answer == NULL:
            self.nulls += 1
        elif answer is not None:
            self.ids[answer[1]] += 1


class Ws:
    """One WebSocket connection to an endpoint, fed batches of frames."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    def call(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send one good request; its answer (the first frame with its id)."""
        self.conn.send(json.dumps(frame))
        deadline = time.monotonic() + WAIT
        while True:
            msg = self._next(deadline)
            if msg.get("id") == frame["id"] and "method" not in msg:
                return msg

    def batch(self, frames: list[tuple[bytes, bool]], expected: Expected, tally: Tally) -> None:
        """Send ``frames`` ((data, binary)); read until ``expected`` is met."""
        for data, binary in frames:
            self.conn.send(data if binary else data.decode("utf-8"))
        nulls = 0
        ids: Counter[tuple[str, Any]] = Counter()
        deadline = time.monotonic() + WAIT
        while nulls < expected.nulls or any(ids[k] < n for k, n in expected.ids.items()):
            try:
                msg = self._next(deadline)
            except TimeoutError:
                missing = {k: n - ids[k] for k, n in expected.ids.items() if ids[k] < n}
                nulls_missing = max(0, expected.nulls - nulls)
                raise AssertionError(
                    f"no answer in {WAIT} s to {nulls_missing} frames owed an id: null error, "
                    f"nor to the requests with these ids: {missing}"
                ) from None
            if "method" in msg:
                continue  # a notification or request of the server's
            error = msg.get("error")
            tally.answers[f"error {error['code']}" if error else "result"] += 1
            if msg["id"] is None:
                nulls += 1
            else:
                ids[_key(msg["id"])] += 1

    def _next(self, deadline: float) -> dict[str, Any]:
        """The next frame, checked: JSON-RPC, no internal text.

        Raises:
            TimeoutError: none came before ``deadline``.
        """
        text = self.conn.recv(timeout=max(0.0, deadline - time.monotonic()))
        assert isinstance(text, str), "a binary frame from the gateway"
        found = leak(text)
        assert found is None, f"internal text {found!r} in {text[:300]!r}"
        msg = json.loads(text)
        problem = jsonrpc_problem(msg)
        assert problem is None, f"{problem}: {text[:300]!r}"
        assert isinstance(msg, dict)
        return msg


if __name__ == "__main__":
    _serve()
