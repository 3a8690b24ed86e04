"""The ``[federation]`` table and ``serve --join``: what is accepted, what is refused."""

from __future__ import annotations

import pathlib

import pytest

from adapters.errors import InvalidParams
from gateway.config import load
from gateway.server import serve


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
    "table",
    [
        'joins = ["ws://b/ws"]',
        'join = ["http://b/ws"]',
        'join = "ws://b/ws"',
        "max_hops = 0",
        "max_hops = true",
        'name = "has space"',
        "heartbeat_seconds = 0",
    ],
)
def test_a_bad_federation_setting_is_refused(tmp_path: pathlib.Path, table: str) -> None:
    with pytest.raises(InvalidParams):
        load(write(tmp_path, f"[federation]\n{table}\n"))


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
