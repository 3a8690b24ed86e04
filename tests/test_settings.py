"""Reading effmesh.toml: every unknown, mistyped or out-of-range setting is refused by its key
and file, ``effmesh serve`` says so in one line, and the configuration reference is current."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from gateway.cli import main as cli
from gateway.routing.complexity import Weights
from gateway.settings import (
    AgentConfig,
    Config,
    FederationConfig,
    GatewaySettings,
    ModelConfig,
    RoutingConfig,
    SettingsError,
    TelemetryConfig,
    load,
    reference,
)

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "effmesh.toml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> SettingsError:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load(path)
    assert info.value.file == str(path)
    return info.value


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[gatway]\nport = 1\n", "gatway"),
        ("[gateway]\nprot = 1\n", "gateway.prot"),
        ('[[agents]]\nname = "e"\nkind = "echo"\nurll = "x"\n', "agents[0].urll"),
        (
            '[[agents]]\nname = "e"\nkind = "echo"\n[[agents]]\nname = "f"\nkind = "echo"\nx = 1\n',
            "agents[1].x",
        ),
        ('[models.big]\nkind = "sglang"\nurls = ["http://a"]\nurl = "x"\n', "models.big.url"),
        ('[models.big]\nname = "other"\n', "models.big.name"),
        ("[routing.weights]\nmystery = 1\n", "routing.weights.mystery"),
        ("[federation]\njoins = []\n", "federation.joins"),
        ('[telemetry]\nexporter = ["file"]\n', "telemetry.exporter"),
        ('[gateway]\n"odd key" = 1\n', 'gateway."odd key"'),
    ],
)
def test_an_unknown_key_is_named_with_its_path_and_file(
    tmp_path: Path, text: str, key: str
) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    assert error.reason == "unknown key"
    assert str(error) == f"{tmp_path / 'effmesh.toml'}: {key}: unknown key"


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ('[gateway]\nport = "8640"\n', "gateway.port", "'8640'"),
        ("[gateway]\nport = 8640.5\n", "gateway.port", "8640.5"),
        ("[gateway]\nport = true\n", "gateway.port", "True"),
        ("[gateway]\nallow_private_agents = 1\n", "gateway.allow_private_agents", "1"),
        ("[gateway]\nhost = 127\n", "gateway.host", "127"),
        ("[gateway]\nport = 1979-05-27\n", "gateway.port", "'1979-05-27'"),
        ('[[agents]]\nname = "e"\nkind = "echo"\nallow = "*"\n', "agents[0].allow", "'*'"),
        ('[[agents]]\nname = "e"\nkind = "echo"\nallow = ["a", 3]\n', "agents[0].allow[1]", "3"),
        ("[tokens]\nide = 3\n", "tokens.ide", "3"),
        ('[telemetry]\ncapture_content = "yes"\n', "telemetry.capture_content", "'yes'"),
        ("agents = 3\n", "agents", "3"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_and_quoted(
    tmp_path: Path, text: str, key: str, value: str
) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    assert error.reason.endswith(f", not {value}")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[gateway]\nport = 70000\n", "gateway.port"),
        ("[gateway]\nrate_per_minute = -1\n", "gateway.rate_per_minute"),
        ('[gateway]\ntls_cert_file = "cert.pem"\n', "gateway.tls_key_file"),
        ('[[agents]]\nkind = "echo"\n', "agents[0].name"),
        ('[[agents]]\nname = "e"\nkind = "smtp"\n', "agents[0].kind"),
        ('[[agents]]\nname = "r"\nkind = "a2a"\n', "agents[0].url"),
        ('[[agents]]\nname = "e"\nkind = "echo"\nurl = "http://a"\n', "agents[0].url"),
        (
            '[[agents]]\nname = "a"\nkind = "acp"\nurl = "http://a"\ncommand = ["x"]\n',
            "agents[0].command",
        ),
        (
            '[[agents]]\nname = "a"\nkind = "a2a"\nurl = "http://a"\nera = "handshake"\n',
            "agents[0].era",
        ),
        (
            '[[agents]]\nname = "m"\nkind = "mcp"\nurl = "http://a"\nera = "2025-11-25"\n',
            "agents[0].era",
        ),
        ('[models]\nbig = "gpu:30000"\n', "models.big"),
        ('[models.big]\nkind = "embedded"\nurls = ["http://a"]\n', "models.big.urls"),
        ("[telemetry]\nsample_ratio = 1.5\n", "telemetry.sample_ratio"),
    ],
)
def test_a_value_out_of_range_or_at_odds_with_another_is_refused(
    tmp_path: Path, text: str, key: str
) -> None:
    assert refusal(tmp_path, text).key == key


def test_a_file_that_is_missing_or_not_toml_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load(tmp_path / "absent.toml")
    assert info.value.file == str(tmp_path / "absent.toml")
    error = refusal(tmp_path, "[gateway\n")
    assert (error.key, error.reason.startswith("is not valid TOML")) == ("", True)


def test_the_file_and_the_overrides_give_one_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[gateway]\nport = 9000\nhost = "0.0.0.0"\n'
        '[models]\nbig = "http://gpu:30000"\n'
        '[telemetry]\nexporters = ["console", "file", "console"]\n'
        'otlp_headers = {b = "2", a = "1"}\n',
    )
    config = load(path, port=9100, data_dir=None)
    assert (config.host, config.port, config.data_dir) == ("0.0.0.0", 9100, "data")
    assert [m.name for m in config.models] == ["big", "default"]
    assert config.model("big").urls == ("http://gpu:30000",)
    assert config.telemetry.exporters == ("console", "file")
    assert config.telemetry.otlp_headers == (("a", "1"), ("b", "2"))
    assert load(None) == Config()


def test_an_override_out_of_range_names_its_key_but_no_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load(write(tmp_path, ""), port=70000)
    assert (info.value.file, info.value.key) == (None, "gateway.port")
    with pytest.raises(TypeError):
        load(None, colour="blue")


def test_tokens_are_read_from_the_variables_the_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[gateway]\ntoken_env = "T_MAIN"\n[tokens]\nide = "T_IDE"\n')
    monkeypatch.setenv("T_MAIN", "main-secret")
    monkeypatch.setenv("T_IDE", "ide-secret")
    monkeypatch.setenv("EFFMESH_FEDERATION_TOKEN", "peer-secret")
    config = load(path)
    assert config.principals() == {"main-secret": "default", "ide-secret": "ide"}
    assert config.token == "main-secret"
    assert config.federation.token == "peer-secret"
    monkeypatch.delenv("T_IDE")
    assert config.principals() == {"main-secret": "default"}


def test_serve_with_a_bad_file_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, '[[agents]]\nname = "e"\nkind = "echo"\n[[agents]]\nname = "r"\nkind = "mcp"\n'
    )
    assert cli.main(["serve", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"effmesh: {path}: agents[1].url: is required\n"
    assert cli.main(["trace", "t-1", "--config", str(path)]) == 2
    assert capsys.readouterr().err == f"effmesh: {path}: agents[1].url: is required\n"


def test_the_serve_command_shows_no_traceback_for_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[gateway]\nport = 'high'\n")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"effmesh: {path}: gateway.port: must be an integer, not 'high'\n"


def test_the_example_in_the_reference_is_a_valid_file(tmp_path: Path) -> None:
    config = load(write(tmp_path, reference.EXAMPLE))
    assert [a.kind for a in config.agents] == ["echo", "calculator", "a2a", "mcp", "specialist"]
    assert {m.name for m in config.models} == {"default", "gpu", "big"}
    assert config.routing.weights == (("requirements", 0.3),)
    assert config.federation.join == ("wss://gw-b:8640/ws",)


def test_the_committed_configuration_reference_is_up_to_date() -> None:
    committed = reference.DOC.read_text(encoding="utf-8")
    assert committed == reference.markdown(), (
        "docs/configuration.md is stale: run python -m gateway.settings.reference"
    )


def test_the_reference_lists_every_key_of_every_table() -> None:
    text = reference.markdown()
    tables = {
        "[gateway]": GatewaySettings,
        "[[agents]]": AgentConfig,
        "[models.<name>]": ModelConfig,
        "[routing]": RoutingConfig,
        "[routing.weights]": Weights,
        "[federation]": FederationConfig,
        "[telemetry]": TelemetryConfig,
    }
    sections = {s.split("`", 1)[0]: s for s in text.split("## `")[1:]}
    for title, kind in tables.items():
        keys = {f.name for f in fields(kind)} - {"weights"}
        if title == "[models.<name>]":
            keys.discard("name")  # the entry's key in [models]
        for key in keys:
            assert f"| `{key}` |" in sections[title], (title, key)
