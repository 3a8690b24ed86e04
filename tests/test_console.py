"""The web console in a real browser: Debian's chromium, driven by Playwright, against two
federated gateways on 127.0.0.1 built as ``effmesh serve`` builds them (calculator, memory,
the router with the rules planner), with tokens for three callers, one of them an operator.

Every page must load without an error in the browser's console; each is kept as a screenshot
under the test's tmp dir, and, with ``EFFMESH_SCREENSHOTS=DIR``, in ``DIR`` too (the ones in
``docs/console/`` are made so). The browser is not optional: ``make test`` installs it, and
without it these tests fail saying how to install it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.sync.client import connect

from adapters.model import (
    AgentDescriptor,
    Artifact,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.base import Agent
from agents.tools.calculator import CalculatorAgent
from gateway.app import create_app
from gateway.models import ModelPool
from gateway.registry import Registry
from gateway.server import build_registry
from gateway.settings import AgentConfig, Config, RoutingConfig
from gateway.settings.federation import FederationConfig
from observability.jsonlines import JsonLinesSpanExporter
from tests.servers import running

BROWSER = os.environ.get("EFFMESH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
INSTALL = (
    "the console tests drive Debian's chromium: install it with "
    "`apt-get install -y --no-install-recommends chromium` (`make test` does), "
    "or point EFFMESH_CHROMIUM at a Chromium binary"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKENS = {"alice": "alice-secret", "bob": "bob-secret", "ops": "ops-secret"}
FEDERATION_TOKEN = "console-federation-secret"
ROUTED = "Write down the date, then write down the time."
WAIT_MS = 15_000
"""The longest any page condition may take to hold."""


def _text(invocation: Invocation) -> str:
    return " ".join(p.text for p in invocation.message.parts if isinstance(p, TextPart))


class Scribe(Agent):
    """``note``: returns the text it is given, marked as noted (a skill plans may use)."""

    @property
    def descriptor(self) -> AgentDescriptor:
        note = Skill("note", "Writes a line of text down and returns it as written.")
        return AgentDescriptor("scribe", (note,), "Keeps notes.")

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        out = Artifact("note", (TextPart(f"noted: {_text(invocation)}"),))
        yield Task(task_id, TaskState.COMPLETED, artifacts=(out,))


class Gate(Agent):
    """``hold``: reports working, then returns its text once the test opens the gate."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened: asyncio.Event | None = None

    @property
    def descriptor(self) -> AgentDescriptor:
        hold = Skill("hold", "Holds a text until the gate opens.", tags=("test",))
        return AgentDescriptor("gate", (hold,), "Waits for the test.")

    async def run(self, invocation: Invocation, *, task_id: str) -> AsyncIterator[StreamItem]:
        self._loop = asyncio.get_running_loop()
        self._opened = self._opened or asyncio.Event()
        waiting = Message("agent", (TextPart("waiting at the gate"),))
        yield StatusEvent(task_id, TaskState.WORKING, message=waiting)
        await self._opened.wait()
        out = Artifact("out", (TextPart(f"through: {_text(invocation)}"),))
        yield Task(task_id, TaskState.COMPLETED, artifacts=(out,))

    def open(self) -> None:
        """Called from the test's thread, once a call is waiting."""
        assert self._loop is not None
        assert self._opened is not None
        self._loop.call_soon_threadsafe(self._opened.set)


@dataclass
class Mesh:
    url: str
    """Gateway ``north``: the one under test."""
    gate: Gate
    trace_file: Path


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """``north`` (tokens alice, bob and ops, ops an operator) and ``south``, which joins it and
    offers agent ``abacus``."""
    folder = tmp_path_factory.mktemp("console")
    with pytest.MonkeyPatch.context() as env:
        for name, secret in TOKENS.items():
            env.setenv(f"EFFMESH_CONSOLE_{name.upper()}", secret)
        env.setenv("EFFMESH_CONSOLE_FEDERATION", FEDERATION_TOKEN)
        federation = FederationConfig(token_env="EFFMESH_CONSOLE_FEDERATION")
        north = Config(
            data_dir=str(folder / "north"),
            token_env="EFFMESH_CONSOLE_UNSET",
            tokens=tuple((n, f"EFFMESH_CONSOLE_{n.upper()}") for n in TOKENS),
            operators=("ops",),
            rate_per_minute=0,
            agents=(AgentConfig("calculator", "calculator"), AgentConfig("memory", "memory")),
            routing=RoutingConfig(planner="rules"),
            federation=FederationConfig(name="north", token_env=federation.token_env),
        )
        models = ModelPool(north)
        registry = asyncio.run(build_registry(north, models))
        registry.add(Scribe())
        gate = Gate()
        registry.add(gate)
        south_registry = Registry()
        south_registry.add(CalculatorAgent("abacus"))
        try:
            with running(lambda base: create_app(registry, north, base_url=base)) as url:
                ws = url.replace("http://", "ws://") + "/ws"
                south = Config(
                    data_dir=str(folder / "south"),
                    rate_per_minute=0,
                    federation=FederationConfig(
                        name="south", join=(ws,), token_env=federation.token_env
                    ),
                )
                with running(lambda base: create_app(south_registry, south, base_url=base)):
                    yield Mesh(url, gate, folder / "north" / "traces.jsonl")
        finally:
            asyncio.run(models.aclose())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the console tests need Playwright: pip install -e '.[dev]'")
    if not Path(BROWSER).exists():
        pytest.fail(INSTALL)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=BROWSER, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Page:
    """One caller's console in its own browser context (its own session storage)."""

    def __init__(self, browser: Any, url: str, tmp_path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 820})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.url = url
        self.tmp_path = tmp_path
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, who: str) -> Page:
        self.page.goto(f"{self.url}/")
        self.page.wait_for_selector("#signin-token")
        self.page.fill("#signin-token", TOKENS[who])
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("body[data-live=true]")
        return self

    def go(self, fragment: str) -> None:
        self.page.evaluate("f => { location.hash = f }", fragment)

    def shot(self, name: str) -> None:
        """Keep a screenshot as the test's artifact (and in EFFMESH_SCREENSHOTS, if set)."""
        path = self.tmp_path / f"{name}.png"
        self.page.screenshot(path=str(path))
        wanted = os.environ.get("EFFMESH_SCREENSHOTS")
        if wanted:
            Path(wanted).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(wanted) / path.name)

    def task_ids(self) -> list[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#task-rows tr", "rows => rows.map(r => r.dataset.taskId)"
        )
        return ids

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def console(browser: Any, mesh: Mesh, tmp_path: Path, who: str) -> Iterator[Page]:
    """``who``'s signed-in console; it must log no error while the block runs."""
    page = Page(browser, mesh.url, tmp_path).sign_in(who)
    try:
        yield page
        assert page.errors == []
    finally:
        page.close()


def acp_run(mesh: Mesh, who: str, skill: str, text: str) -> dict[str, Any]:
    """A sync ACP run, as any ACP client makes it."""
    reply = httpx.post(
        f"{mesh.url}/acp/runs",
        json={
            "agent_name": skill,
            "mode": "sync",
            "input": [{"role": "user", "parts": [{"content": text}]}],
        },
        headers={"authorization": f"Bearer {TOKENS[who]}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    run: dict[str, Any] = reply.json()
    assert run["status"] == "completed", run
    return run


def bearer(secret: str) -> str:
    return "effmesh.bearer." + base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")


def test_the_page_is_served_without_a_token_and_the_data_only_with_one(mesh: Mesh) -> None:
    page = httpx.get(f"{mesh.url}/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers
    assert httpx.get(f"{mesh.url}/console/api/memory").status_code == 401
    hello = f"{mesh.url}/console/api/hello"
    assert httpx.get(hello).json()["signed_in"] is False
    wrong = httpx.get(hello, headers={"authorization": "Bearer nope"}).json()
    assert wrong["signed_in"] is False
    right = httpx.get(hello, headers={"authorization": f"Bearer {TOKENS['alice']}"}).json()
    assert (right["signed_in"], right["principal"]) == (True, "alice")
    # A page of another site whose name was rebound to 127.0.0.1 names its own host.
    rebound = httpx.get(hello, headers={"host": "evil.example"})
    assert rebound.status_code == 403


def test_the_socket_takes_its_token_as_a_subprotocol_from_the_consoles_own_origin(
    mesh: Mesh,
) -> None:
    url = mesh.url.replace("http://", "ws://") + "/console/ws"

    def first_frame(secret: str, origin: str) -> dict[str, Any]:
        offered = [
            websockets.Subprotocol("effmesh.console"),
            websockets.Subprotocol(bearer(secret)),
        ]
        with connect(
            url, subprotocols=offered, origin=websockets.Origin(origin), open_timeout=10
        ) as socket:
            assert socket.subprotocol == "effmesh.console"
            frame: dict[str, Any] = json.loads(socket.recv(timeout=10))
            return frame

    hello = first_frame(TOKENS["alice"], mesh.url)
    assert (hello["type"], hello["principal"], hello["operator"]) == ("hello", "alice", False)
    for secret, origin in (("nope", mesh.url), (TOKENS["alice"], "http://evil.example")):
        with pytest.raises(websockets.InvalidStatus) as refused:
            first_frame(secret, origin)
        assert refused.value.response.status_code == 403


def test_a_call_from_the_form_shows_up_live_in_the_tasks_list_and_completes(
    mesh: Mesh, browser: Any, tmp_path: Path
) -> None:
    with console(browser, mesh, tmp_path, "alice") as alice:
        alice.go("#/tasks")
        alice.page.select_option("#call-skill", "gate.hold")
        alice.page.fill("#call-input", "hello gate")
        alice.page.click("#call-submit")
        # The run shows up on its own, waiting: the page was not reloaded.
        row = alice.page.wait_for_selector("#task-rows tr[data-state=working]")
        task_id = row.get_attribute("data-task-id")
        assert row.inner_text().count("gate.hold") == 1
        mesh.gate.open()
        done = f"#task-rows tr[data-task-id='{task_id}'][data-state=completed]"
        alice.page.wait_for_selector(done)
        alice.page.wait_for_selector("#detail-result")
        assert alice.page.inner_text("#detail-result") == "through: hello gate"


def test_the_routers_plan_tree_runs_live_and_ends_as_the_run_ended(
    mesh: Mesh, browser: Any, tmp_path: Path
) -> None:
    with console(browser, mesh, tmp_path, "alice") as alice:
        alice.go("#/tasks")
        alice.page.select_option("#call-skill", "effmesh.run")
        alice.page.fill("#call-input", ROUTED)
        alice.page.click("#call-submit")
        alice.page.wait_for_selector("#task-detail #detail-state[data-state=completed]")
        nodes = alice.page.eval_on_selector_all(
            "li.node", "ns => ns.map(n => [n.dataset.nodeId, n.dataset.state])"
        )
        assert nodes == [["s1", "completed"], ["s2", "completed"]]
        assert "(after s1)" in alice.page.inner_text("li.node[data-node-id=s2]")
        assert "noted: write down the time" in alice.page.inner_text("#detail-result")


def test_a_second_token_does_not_see_the_first_tokens_task_and_an_operator_sees_both(
    mesh: Mesh, browser: Any, tmp_path: Path
) -> None:
    alices = str(acp_run(mesh, "alice", "scribe.note", "alice's own line")["run_id"])
    bobs = str(acp_run(mesh, "bob", "scribe.note", "bob's own line")["run_id"])
    with console(browser, mesh, tmp_path, "bob") as bob:
        bob.go("#/tasks")
        bob.page.wait_for_selector(f"#task-rows tr[data-task-id='{bobs}']")
        # Tasks arrive in the order they started: alice's, older, would be here already.
        assert alices not in bob.task_ids()
        refused = httpx.get(
            f"{mesh.url}/console/api/trace/{alices}",
            headers={"authorization": f"Bearer {TOKENS['bob']}"},
        )
        assert refused.status_code == 404
    with console(browser, mesh, tmp_path, "ops") as ops:
        ops.go("#/tasks")
        ops.page.wait_for_selector(f"#task-rows tr[data-task-id='{bobs}']")
        assert alices in ops.task_ids()
        owner = ops.page.inner_text(f"#task-rows tr[data-task-id='{alices}'] td.owner")
        assert owner == "alice"


def test_memory_lists_and_searches_the_callers_own_scope(
    mesh: Mesh, browser: Any, tmp_path: Path
) -> None:
    acp_run(mesh, "alice", "memory.store", "The staging database moved to db-2 on Monday.")
    acp_run(mesh, "bob", "memory.store", "Bob's lunch is at noon.")
    with console(browser, mesh, tmp_path, "alice") as alice:
        alice.go("#/memory")
        alice.page.wait_for_selector("#memory-rows tr")
        listed = alice.page.inner_text("#memory-rows")
        assert "db-2" in listed
        assert "lunch" not in listed
        alice.page.fill("#memory-query", "where is the staging database?")
        alice.page.click("#memory-form button[type=submit]")
        alice.page.wait_for_selector("#memory-note >> text=closest")
        assert "db-2" in alice.page.inner_text("#memory-rows tr:first-child")


def test_every_page_loads_without_console_errors_and_is_kept_as_a_screenshot(
    mesh: Mesh, browser: Any, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    routed = str(acp_run(mesh, "alice", "effmesh", ROUTED)["run_id"])
    acp_run(mesh, "alice", "memory.store", "The release train leaves on Thursdays.")
    # North's spans, written to its trace file as the file exporter writes them (this test
    # process's telemetry keeps them in memory).
    JsonLinesSpanExporter(mesh.trace_file).export(spans.get_finished_spans())
    page = Page(browser, mesh.url, tmp_path)
    try:
        page.page.goto(f"{mesh.url}/")
        page.page.wait_for_selector("#signin-token")
        page.shot("signin")
        page.sign_in("alice")
        page.page.wait_for_selector("tr[data-agent=abacus] td.hosts >> text=south")
        page.page.wait_for_selector("tr[data-agent=effmesh]")
        page.shot("agents")
        page.go(f"#/tasks/{routed}")
        page.page.wait_for_selector("li.node[data-node-id=s2][data-state=completed]")
        page.shot("tasks")
        page.page.click("#detail-trace")
        page.page.wait_for_selector(".span-row[data-span='invoke_agent effmesh']")
        assert page.page.locator(".span-row").count() >= 4
        page.shot("trace")
        page.go("#/memory")
        page.page.wait_for_selector("#memory-rows tr >> text=release train")
        page.shot("memory")
        page.go("#/federation")
        page.page.wait_for_selector("tr[data-link=south]")
        page.page.wait_for_selector("tr[data-origin=south]")
        page.shot("federation")
        assert page.errors == []
    finally:
        page.close()
