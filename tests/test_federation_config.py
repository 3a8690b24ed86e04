"""The ``[federation]`` table and ``serve --join``: what is accepted, what is refused."""

from __future__ import annotations

import pathlib

import pytest

from gateway.server import serve
from gateway.settings import SettingsError, load


def write(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "effmesh.toml"
    path.write_text(text)
    return str(path)


def test_the_table_and_the_join_flag_add_up(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        '[federation]\nname = "gw-a"\njoin = ["wss://b:8640/ws"]\nmax_hops = 3\n'
        "heartbeat_seconds = 2\n",
    )
    cfg = load(path, join=("ws://c:8640/ws", "wss://b:8640/ws")).federation
    assert cfg.name == "gw-a"
    assert cfg.join == ("wss://b:8640/ws", "ws://c:8640/ws")
    assert cfg.max_hops == 3
    assert cfg.heartbeat_seconds == 2.0
    assert load(None).federation.join == ()
    assert load(None).federation.gateway_id(8640).endswith("-8640")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('joins = ["ws://b/ws"]', "federation.joins"),
        ('join = ["http://b/ws"]', "federation.join[0]"),
        ('join = "ws://b/ws"', "federation.join"),
        ("max_hops = 0", "federation.max_hops"),
        ("max_hops = true", "federation.max_hops"),
        ('name = "has space"', "federation.name"),
        ("heartbeat_seconds = 0", "federation.heartbeat_seconds"),
    ],
)
def test_a_bad_federation_setting_is_refused(tmp_path: pathlib.Path, table: str, key: str) -> None:
    path = write(tmp_path, f"[federation]\n{table}\n")
    with pytest.raises(SettingsError) as info:
        load(path)
    assert (info.value.file, info.value.key) == (path, key)


def test_a_bad_join_url_from_the_command_line_is_refused_without_naming_the_file(
    tmp_path: pathlib.Path,
) -> None:
    path = write(tmp_path, '[federation]\njoin = ["ws://b/ws"]\n')
    with pytest.raises(SettingsError) as info:
        load(path, join=("http://c/ws",))
    assert (info.value.file, info.value.key) == (None, "federation.join[1]")


def test_joining_without_a_token_or_with_a_callers_token_does_not_start(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EFFMESH_FEDERATION_TOKEN", raising=False)
    path = write(tmp_path, "")
    assert serve(host=None, port=None, config=path, data_dir=None, join=("ws://b/ws",)) == 2
    assert "EFFMESH_FEDERATION_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("EFFMESH_FEDERATION_TOKEN", "same")
    monkeypatch.setenv("EFFMESH_TOKEN", "same")
    assert serve(host=None, port=None, config=path, data_dir=None, join=("ws://b/ws",)) == 2
    assert "must differ" in capsys.readouterr().err
