"""Building the gateway from configuration: remote agents, refused addresses, agents down."""

from __future__ import annotations

import asyncio
import pathlib
import socket

import pytest

from adapters.errors import InvalidParams, NotFound
from gateway.server import build_registry
from gateway.settings import AgentConfig, Config, RoutingConfig, SettingsError, load


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_remote_agent_is_registered_as_down() -> None:
    port = _closed_port()
    config = Config(
        agents=(
            AgentConfig("echo", "echo"),
            AgentConfig("far", "a2a", url=f"http://127.0.0.1:{port}/a2a/x"),
            AgentConfig("tools", "mcp", url=f"http://127.0.0.1:{port}/mcp"),
            AgentConfig("runs", "acp", url=f"http://127.0.0.1:{port}/acp"),
        )
    )
    registry = asyncio.run(build_registry(config))
    states = {a.descriptor.name: getattr(a, "healthy", True) for a in registry.agents()}
    # effmesh: the router, which every gateway has unless routing is turned off.
    assert states == {"echo": True, "far": False, "tools": False, "runs": False, "effmesh": True}


def test_unknown_kinds_and_missing_urls_are_configuration_errors() -> None:
    # Built in code, so no file check ran before: building the registry refuses them.
    for entry, key in (
        (AgentConfig("x", "smtp"), "agents[1].kind"),
        (AgentConfig("y", "mcp"), "agents[1].url"),
    ):
        with pytest.raises(SettingsError) as info:
            asyncio.run(build_registry(Config(agents=(AgentConfig("e", "echo"), entry))))
        assert info.value.key == key


def test_a_remote_agent_that_comes_back_is_up_again() -> None:
    import time

    import httpx

    from agents.echo import EchoAgent
    from gateway.app import create_app
    from gateway.registry import Registry
    from tests.servers import running

    port = _closed_port()
    config = Config(
        health_interval_seconds=0.05,
        agents=(AgentConfig("far", "acp", url=f"http://127.0.0.1:{port}/acp"),),
    )
    registry = asyncio.run(build_registry(config))
    with running(lambda base: create_app(registry, config, base_url=base)) as url:
        assert httpx.get(f"{url}/agents").json()["agents"][0]["state"] == "down"
        upstream = Registry()
        upstream.add(EchoAgent())
        with running(lambda base: create_app(upstream, base_url=base), port=port):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                far = httpx.get(f"{url}/agents").json()["agents"][0]
                if far["state"] == "up":
                    break
                time.sleep(0.05)
            assert far["state"] == "up"
            assert "echo.echo" in far["skills"]


def test_an_unprefixed_agent_offers_its_skills_by_their_own_names() -> None:
    # Routing off: a gateway in front of one agent offers exactly that agent's skills.
    cfg = Config(agents=(AgentConfig("echo", "echo", prefix=False),), routing=RoutingConfig(False))
    registry = asyncio.run(build_registry(cfg))
    assert {r.tool_name for r in registry.routes()} == {"echo", "wait", "ask"}
    assert registry.route("wait").skill.name == "wait"
    assert registry.route("echo.wait").tool_name == "wait"  # the qualified name still works
    with pytest.raises(NotFound):
        registry.route("nothing")


def test_two_unprefixed_agents_may_not_offer_the_same_skill_name() -> None:
    cfg = Config(
        agents=(AgentConfig("one", "echo", prefix=False), AgentConfig("two", "echo", prefix=False))
    )
    with pytest.raises(InvalidParams):
        asyncio.run(build_registry(cfg))


def test_prefix_must_be_a_boolean(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text('[[agents]]\nname = "e"\nkind = "echo"\nprefix = "no"\n')
    with pytest.raises(SettingsError) as info:
        load(path)
    assert (info.value.file, info.value.key) == (str(path), "agents[0].prefix")


SPECIALIST_TOML = """
[models]
big = "http://10.0.0.7:30000"

[models.pool]
kind = "llamacpp"
urls = ["http://a:8080", "http://b:8080"]
tier = "small"

[[agents]]
name = "calculator"
kind = "calculator"

[[agents]]
name = "maths"
kind = "specialist"
skills = ["solve"]
model = "pool"
tools = ["calculator.*"]
force_tool = "calculator.evaluate"
max_steps = 2
"""


def test_specialists_and_model_backends_come_from_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(SPECIALIST_TOML)
    cfg = load(path)
    maths = cfg.agents[1]
    assert (maths.kind, maths.skills, maths.model, maths.max_steps) == (
        "specialist",
        ("solve",),
        "pool",
        2,
    )
    assert cfg.model("big").kind == "sglang"
    assert cfg.model("big").urls == ("http://10.0.0.7:30000",)
    assert cfg.model("pool").size_tier == "small"
    assert cfg.model("default").kind == "embedded"
    # One line points a specialist at an SGLang server: its URL as the model.
    assert cfg.model("http://gpu:30000").kind == "sglang"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[[agents]]\nname = "e"\nkind = "echo"\nskills = ["x"]\n', "agents[0].skills"),
        ('[[agents]]\nname = "s"\nkind = "specialist"\n', "agents[0].skills"),
        (
            '[[agents]]\nname = "s"\nkind = "specialist"\nskills = ["a"]\ntier = "huge"\n',
            "agents[0].tier",
        ),
        (
            '[[agents]]\nname = "s"\nkind = "specialist"\nskills = ["a"]\nmax_steps = "3"\n',
            "agents[0].max_steps",
        ),
        ('[models.x]\nkind = "sglang"\n', "models.x.urls"),
        ('[models.x]\nkind = "tpu"\nurls = ["http://a"]\n', "models.x.kind"),
        ('[models]\nx = "ftp://a"\n', "models.x"),
        ("[models.default]\nparallel = 0\n", "models.default.parallel"),
    ],
)
def test_bad_specialist_and_model_settings_name_their_place(
    tmp_path: pathlib.Path, text: str, where: str
) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load(path)
    assert info.value.key == where


def test_a_specialist_naming_an_unknown_model_is_refused_at_start() -> None:
    from gateway.models import ModelPool

    entry = AgentConfig("s", "specialist", skills=("a",), model="nowhere")
    cfg = Config(agents=(entry,))
    with pytest.raises(SettingsError) as info:
        asyncio.run(build_registry(cfg, ModelPool(cfg)))
    assert info.value.key == "models"


def test_a_specialist_naming_an_unknown_model_is_refused_when_the_file_is_read(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(
        '[[agents]]\nname = "calculator"\nkind = "calculator"\n'
        '[[agents]]\nname = "s"\nkind = "specialist"\nskills = ["a"]\nmodel = "nowhere"\n'
    )
    with pytest.raises(SettingsError) as info:
        load(path)
    assert info.value.key == "agents[1].model"
    path.write_text('[routing]\nmodel = "nowhere"\n')
    with pytest.raises(SettingsError) as info:
        load(path)
    assert info.value.key == "routing.model"


def test_routing_settings_are_read_and_checked(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "effmesh.toml"
    path.write_text(
        '[[agents]]\nname = "calculator"\nkind = "calculator"\n'
        '[routing]\nplanner = "rules"\nconcurrency = 2\nskills = ["calculator.*"]\n'
        "[routing.weights]\nrequirements = 0.5\n"
    )
    routing = load(path).routing
    assert (routing.planner, routing.concurrency, routing.skills) == ("rules", 2, ("calculator.*",))
    assert dict(routing.weights) == {"requirements": 0.5}
    registry = asyncio.run(build_registry(load(path)))
    assert registry.route("effmesh").tool_name == "effmesh.run"  # the ACP agent's alias
    for bad, key in (
        ('[routing]\nplanner = "oracle"\n', "routing.planner"),
        ("[routing]\nmax_subtasks = 20\n", "routing.max_subtasks"),
        ("[routing]\nconcurrency = 0\n", "routing.concurrency"),
        ("[routing]\nspeed = 1\n", "routing.speed"),
        ("[routing.weights]\nrequirements = -1\n", "routing.weights.requirements"),
        ('[routing.weights]\nrequirements = "x"\n', "routing.weights.requirements"),
        ("[routing.weights]\nmystery = 1\n", "routing.weights.mystery"),
        ("[routing]\nweights = 3\n", "routing.weights"),
    ):
        path.write_text(bad)
        with pytest.raises(SettingsError) as info:
            load(path)
        assert info.value.key == key


def test_an_agent_named_like_the_router_needs_routing_off() -> None:
    cfg = Config(agents=(AgentConfig("effmesh", "echo"),))
    with pytest.raises(SettingsError) as info:
        asyncio.run(build_registry(cfg))
    assert info.value.key == "agents[0].name"
    off = Config(agents=(AgentConfig("effmesh", "echo"),), routing=RoutingConfig(False))
    assert asyncio.run(build_registry(off)).find("effmesh") is not None
