"""The configuration reference, ``docs/configuration.md``, generated from the settings models.

    python -m gateway.settings.reference            # rewrite docs/configuration.md
    python -m gateway.settings.reference --check    # exit 1 if it is out of date

Every table, key, type, default and description comes from the models' JSON schema (types and
constraints from the fields, descriptions from their docstrings); only :data:`EXAMPLE` and the
opening paragraphs are written here. The test suite fails when the committed file differs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import ConfigDict

from gateway.settings.file import SettingsFile

DOC: Final = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

EXAMPLE: Final = """\
[gateway]
host = "127.0.0.1"
port = 8640
data_dir = "data"
token_env = "EFFMESH_TOKEN"      # bearer token, read from this environment variable
max_body_bytes = 4194304
rate_per_minute = 600            # per client address; 0 turns the limit off
call_timeout_seconds = 60
health_interval_seconds = 30     # how often remote agents are checked again; 0: never
allow_private_agents = false     # allow remote agents on link-local / metadata addresses
memory_uri = ""                  # a Milvus server for the memory agent; "": Milvus-lite
                                 # in data_dir/memory.db
tls_cert_file = ""               # serve HTTPS / WSS with this PEM certificate chain
tls_key_file = ""                # ... and this key

[tokens]
ide = "EFFMESH_TOKEN_IDE"        # another bearer token, named "ide"

[[agents]]
name = "echo"
kind = "echo"                    # built in: "echo", "calculator", "memory", "specialist";
                                 # remote: "mcp", "a2a", "acp"
allow = ["default", "ide"]       # token names that may call it ("default" is token_env's)
prefix = true                    # false: skills offered as "<skill>", not "<agent>.<skill>"

[[agents]]
name = "calculator"
kind = "calculator"

[[agents]]                       # a remote agent
name = "planner"
kind = "a2a"
url = "http://127.0.0.1:9001/a2a/planner"   # the URL its agent card is served under

[[agents]]                       # an MCP server over stdio, one process for all calls
name = "files"
kind = "mcp"
command = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]

[[agents]]                       # a specialist SLM agent
name = "arithmetic"
kind = "specialist"
skills = ["solve"]
tags = ["math"]                  # keywords A2A cards list for its skills
description = "Solves arithmetic word problems with the calculator."
system_prompt = "You solve arithmetic problems. Use the calculator."
model = "default"                # a [models] entry, or an SGLang URL: "http://gpu:30000"
tools = ["calculator.*"]         # registry tools it may call (names or patterns)
force_tool = "calculator.evaluate"  # optional: the first step must call this tool
tier = "tiny"                    # tiny (<1B), small (1-3B), medium (3-7B), large (7B+)
max_steps = 3                    # tool calls per request
max_tokens = 256

[models.default]                 # the model backend specialists use by default
kind = "embedded"                # llama.cpp with the bundled SmolLM2-135M, started here
parallel = 4                     # parallel slots (concurrent requests)
context = 4096                   # tokens per slot

[models.gpu]
kind = "sglang"                  # or "llamacpp", "openai": servers that run elsewhere
urls = ["http://gpu1:30000", "http://gpu2:30000"]   # replicas (or one smg router URL)

[models]
big = "http://gpu:30000"         # shorthand: an SGLang server at that URL

[routing]                        # the router agent: MCP tool effmesh.run, ACP agent effmesh
enabled = true
planner = "auto"                 # "model", "rules", or "auto": the model when the gateway
                                 # runs specialists and the model is not tiny, else rules
model = "default"                # the [models] entry that writes plans
skills = ["*"]                   # registry skills plans may use (names or patterns)
max_subtasks = 8
max_depth = 2                    # plan levels: 2 lets a subtask be planned once more
concurrency = 4                  # agent calls at once within one run
subtask_timeout_seconds = 60
retries = 1                      # more tries for a subtask whose agent timed out or was down

[routing.weights]                # the complexity analyzer's weights and thresholds
requirements = 0.3               # (calibrate them with `effmesh calibrate tasks.json`)

[federation]                     # gateways linked into one mesh
join = ["wss://gw-b:8640/ws"]    # needs the token in EFFMESH_FEDERATION_TOKEN

[telemetry]                      # traces and metrics
exporters = ["file"]             # file (data_dir/traces.jsonl), console, otlp-grpc, otlp-http
sample_ratio = 1.0
"""

_INTRO: Final = """\
# Configuration

<!-- Generated by `python -m gateway.settings.reference` from the settings models
(gateway/settings/, observability/settings.py); edit those, not this file. -->

`effmesh serve --config effmesh.toml` reads one TOML file; without one, every setting has its
default. Every table is optional, and so is every key with a default below. The file is read
strictly: an unknown key, a value of
the wrong type (a string where a number belongs, a number where `true` or `false` does) or out
of range stops the gateway with one line that names the file and the key:

```
effmesh: effmesh.toml: agents[2].url: is required
```

Secrets are never written in the file: it names the environment variables that hold them
(`gateway.token_env`, the `[tokens]` table, `federation.token_env`), and they are read when the
gateway starts. `serve --host`, `--port`, `--data-dir` and `--join` override the file.

## Example

"""


class _Documented(SettingsFile):
    """The file's model with its tables' field docstrings read (as descriptions)."""

    model_config = ConfigDict(use_attribute_docstrings=True)


def documented_schema() -> dict[str, Any]:
    """The JSON schema of effmesh.toml, every key with its description (its docstring)."""
    return _Documented.model_json_schema()


def one_line(text: str) -> str:
    """Docstring markup as Markdown: ``x`` -> `x`, on one line."""
    return re.sub(r"``(.+?)``", r"`\1`", " ".join(text.split()))


def _code(text: str) -> str:
    """:func:`one_line`, for a Markdown table cell."""
    return one_line(text).replace("|", "\\|")


def toml_value(value: Any) -> str:
    """``value`` as TOML writes it (None, which TOML cannot write, as ``unset``)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _range(schema: dict[str, Any]) -> str:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if low is not None and high is not None:
        return f", {low} to {high}"
    if low is not None:
        return f", >= {low}"
    if "exclusiveMinimum" in schema:
        return f", > {schema['exclusiveMinimum']}"
    return ""


def _type(schema: dict[str, Any]) -> str:
    options = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    if len(options) == 1:
        return _type(options[0])
    if "enum" in schema:
        return " / ".join(f"`{toml_value(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        items = _type(schema.get("items", {}))
        return f"array of {items}" if "`" in items else f"array of {items}s"
    if kind == "object":
        if "$ref" in schema.get("additionalProperties", {}):
            return "table of tables"  # each described in its own section
        return f"table of {_type(schema.get('additionalProperties', {}))}s"
    names = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
    return names.get(str(kind), str(kind)) + _range(schema)


def default_of(schema: dict[str, Any]) -> Any:
    """The default of a key, as the file writes it."""
    default = schema.get("default")
    if schema.get("type") == "object" and default == []:
        return {}  # a table kept as pairs inside
    return default


def _default(schema: dict[str, Any], required: bool) -> str:
    return "required" if required else f"`{toml_value(default_of(schema))}`"


def _rows(table: dict[str, Any], *, skip: Sequence[str] = ()) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    required = set(table.get("required", ()))
    for key, schema in table["properties"].items():
        if key in skip or "properties" in schema:
            continue
        description = _code(schema.get("description", ""))
        rows.append(
            f"| `{key}` | {_type(schema)} | {_default(schema, key in required)} | {description} |"
        )
    return rows


def _section(title: str, text: str, rows: list[str]) -> list[str]:
    return [f"## `{title}`", "", _code(text), "", *rows, *([""] if rows else [])]


def markdown() -> str:
    """The whole reference, as ``docs/configuration.md`` holds it."""
    schema = documented_schema()
    defs: dict[str, Any] = schema["$defs"]

    def resolve(ref: dict[str, Any]) -> dict[str, Any]:
        table: dict[str, Any] = defs[ref["$ref"].rsplit("/", 1)[-1]]
        return table

    out = [_INTRO + "```toml\n" + EXAMPLE + "```", ""]
    for name, prop in schema["properties"].items():
        text = prop.get("description", "")
        if "$ref" in prop:
            table = resolve(prop)
            # pydantic leaves out a field's description when it repeats its class's.
            out += _section(f"[{name}]", text or table.get("description", ""), _rows(table))
            for key, sub in table["properties"].items():
                if "properties" in sub:
                    out += _section(f"[{name}.{key}]", sub.get("description", ""), _rows(sub))
                elif "$ref" in sub.get("additionalProperties", {}):
                    entry = resolve(sub["additionalProperties"])
                    title = f"[{name}.{key}.<name>]"
                    out += _section(title, sub.get("description", ""), _rows(entry))
        elif prop.get("type") == "array":
            out += _section(f"[[{name}]]", text, _rows(resolve(prop["items"])))
        elif "$ref" in prop.get("additionalProperties", {}):
            # The entry's name is its key in the table, not a key inside it.
            table = resolve(prop["additionalProperties"])
            out += _section(f"[{name}.<name>]", text, _rows(table, skip=("name",)))
        else:
            value = _type(prop.get("additionalProperties", {}))
            out += _section(f"[{name}]", f"{text} Keys: any name; values: {value}s.", [])
    return "\n".join(out).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--out", type=Path, default=DOC, help=f"default: {DOC}")
    args = parser.parse_args(argv)
    text = markdown()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.out} is stale: run python -m gateway.settings.reference\n")
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
