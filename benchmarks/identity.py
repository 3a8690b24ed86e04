"""What authentication costs per request: the guard alone (pure ASGI, in process, no
network), answering a GET with no authentication configured (the baseline), with a named
bearer token, and with a provider's JWT (RS256, the provider's keys already fetched), rounds
interleaved so all see the same machine state.

Before and after in one run: ``--baseline-src DIR`` also times the named-token request
through the guard of the source tree DIR (its ``gateway/security/guard.py``), in the same
rounds.

    python -m benchmarks.identity --out benchmarks/results/identity.json --doc docs/benchmarks.md
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import statistics
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from agents import outbound
from benchmarks import report
from gateway.security.guard import Guard
from gateway.security.oauth import ResourceServer
from gateway.settings.identity import OidcConfig

ROUNDS = 20
PER_ROUND = 500
NAMED = "named-token-secret"
RESOURCE = "http://gateway.bench"

Call = Callable[[], Awaitable[None]]


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _request(guard: Any, token: str | None) -> Call:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "method": "GET", "path": "/agents", "headers": headers}
    scope["client"] = ("127.0.0.1", 1)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    async def call() -> None:
        await guard(dict(scope), receive, send)

    return call


@contextmanager
def _provider(jwks: dict[str, Any]) -> Iterator[str]:
    """The provider's metadata and keys on 127.0.0.1 (read once by the gateway)."""
    body: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.get(self.path)
            self.send_response(200 if data else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(data or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    body["/.well-known/openid-configuration"] = json.dumps(
        {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"}
    ).encode()
    body["/jwks"] = json.dumps(jwks).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()


def _commit(src: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"


def _baseline_guard(src: Path) -> type[Guard]:
    spec = importlib.util.spec_from_file_location(
        "baseline_guard", src / "gateway" / "security" / "guard.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: type[Guard] = module.Guard
    return found


async def _measure(paths: dict[str, Call]) -> dict[str, list[float]]:
    for call in paths.values():
        await call()  # warm: keys fetched, caches filled
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(ROUNDS):
        for name, call in paths.items():
            began = time.perf_counter()
            for _ in range(PER_ROUND):
                await call()
            samples[name].append((time.perf_counter() - began) / PER_ROUND * 1e6)
    return samples


def measure(baseline_src: Path | None) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="bench", alg="RS256", use="sig")
    with _provider({"keys": [public]}) as issuer:
        claims = {"iss": issuer, "aud": RESOURCE, "sub": "u1", "exp": int(time.time()) + 3600}
        token = jwt.encode(claims, key, "RS256", headers={"kid": "bench"})
        config = OidcConfig(issuer=issuer)
        remembered = ResourceServer(config, RESOURCE, outbound.OPEN)
        checked = ResourceServer(config, RESOURCE, outbound.OPEN, remember_seconds=0)
        limits: dict[str, Any] = {"max_body": 1 << 20, "rate_per_minute": 0}
        paths = {
            "no authentication": _request(Guard(_ok, tokens={}, **limits), None),
            "named bearer token": _request(Guard(_ok, tokens={NAMED: "default"}, **limits), NAMED),
            "provider JWT, signature checked (RS256)": _request(
                Guard(_ok, tokens={NAMED: "default"}, oauth=checked, **limits), token
            ),
            "provider JWT, seen within the last minute": _request(
                Guard(_ok, tokens={NAMED: "default"}, oauth=remembered, **limits), token
            ),
        }
        if baseline_src is not None:
            before = _baseline_guard(baseline_src)
            paths["named bearer token, before"] = _request(
                before(_ok, tokens={NAMED: "default"}, **limits), NAMED
            )
        samples = asyncio.run(_measure(paths))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["no authentication"]
    return {
        "per_request_us": medians,
        "ratio_to_no_authentication": {name: m / base for name, m in medians.items()},
        "rounds": ROUNDS,
        "per_round": PER_ROUND,
        "baseline_commit": _commit(baseline_src) if baseline_src is not None else None,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| request through the guard | µs per request (median) | ratio to no authentication |",
        "| --- | ---: | ---: |",
    ]
    for name, us in result["per_request_us"].items():
        ratio = result["ratio_to_no_authentication"][name]
        lines.append(f"| {name} | {us:.1f} | {ratio:.2f} |")
    lines.append("")
    before = result.get("baseline_commit")
    lines.append(
        f"{result['rounds']} interleaved rounds of {result['per_round']} requests each, "
        "in one process; the provider's keys fetched once before timing."
        + (f' "Before": the guard of commit {before}, in the same rounds.' if before else "")
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = report.arguments()
    parser.add_argument("--baseline-src", type=Path, help="time this tree's guard as well")
    args = parser.parse_args()
    report.publish(args, "identity", measure(args.baseline_src), table)


if __name__ == "__main__":
    main()
