"""A commented ``effmesh.toml`` with every setting at its default: what ``effmesh init`` writes.

Like the reference (``gateway.settings.reference``), it is generated from the settings models:
each key's comment is its description, each value its default, and the ``[[agents]]`` entries
are the default agents. Loaded back, the file gives exactly the defaults. Tables that have no
default entries (``[tokens]``, ``[routing.weights]``) are written as comments.
"""

from __future__ import annotations

import textwrap
from dataclasses import fields
from typing import Any, Final

from gateway.settings.agents import AgentConfig, default_agents
from gateway.settings.reference import default_of, documented_schema, one_line, toml_value

WIDTH: Final = 96
HEADER: Final = """\
# effmesh.toml: the settings of one effmesh gateway, written by `effmesh init`.
# Every key holds its default: change what you need; a key or table left out takes its default.
# Each key is described in docs/configuration.md. Secrets are never written here: the file
# names the environment variables that hold them.
#
#     effmesh serve --config {path}
"""


def _comment(text: str, *, hang: str = "") -> list[str]:
    """``text`` (docstring markup) as wrapped TOML comment lines; lines after the first are
    indented by ``hang`` more."""
    return textwrap.wrap(
        one_line(text),
        WIDTH,
        initial_indent="# ",
        subsequent_indent=f"# {hang}",
        break_on_hyphens=False,
    )


def _keys(table: dict[str, Any], *, skip: tuple[str, ...] = ()) -> list[str]:
    """Each key of ``table``: its description, then ``key = default`` (commented out when the
    default is unset, which TOML cannot write)."""
    out: list[str] = []
    for key, prop in table["properties"].items():
        if key in skip or "properties" in prop:
            continue
        out += _comment(prop.get("description", ""))
        default = default_of(prop)
        if default is None:
            out.append(f"# {key} = ...  (unset by default)")
        else:
            out.append(f"{key} = {toml_value(default)}")
    return out


def _commented(title: str, table: dict[str, Any]) -> list[str]:
    """A table of optional keys, all commented out."""
    out = [f"# [{title}]"]
    for key, prop in table["properties"].items():
        out += _comment(prop.get("description", ""))
        out.append(f"# {key} = {toml_value(prop.get('default'))}")
    return out


def _agent(entry: AgentConfig) -> list[str]:
    """One ``[[agents]]`` entry: its name, its kind, and the keys that differ from the
    defaults."""
    out = ["[[agents]]"]
    for f in fields(AgentConfig):
        value = getattr(entry, f.name)
        if f.name in ("name", "kind") or value != f.default:
            out.append(
                f"{f.name} = {toml_value(list(value) if isinstance(value, tuple) else value)}"
            )
    return out


def text(path: str = "effmesh.toml") -> str:
    """The whole file; ``path`` is where it is written (named in its opening comment)."""
    schema = documented_schema()
    defs: dict[str, Any] = schema["$defs"]
    props: dict[str, Any] = schema["properties"]

    def table(prop: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = defs[prop["$ref"].rsplit("/", 1)[-1]]
        return found

    def section(name: str, lines: list[str]) -> list[str]:
        return ["", *_comment(props[name].get("description", "")), *lines]

    out = [HEADER.format(path=path).rstrip("\n")]
    out += section("gateway", ["[gateway]", *_keys(table(props["gateway"]))])
    out += section("tokens", ["# [tokens]"])
    agent_keys = table(props["agents"]["items"])["properties"]
    legend = ["# Keys of an [[agents]] entry:"]
    for key, prop in agent_keys.items():
        legend += _comment(f"  {key}: {prop.get('description', '')}", hang="    ")
    out += section("agents", legend)
    for entry in default_agents():
        out += ["", *_agent(entry)]
    model = table(props["models"]["additionalProperties"])
    out += section("models", ["[models.default]", *_keys(model, skip=("name",))])
    routing = table(props["routing"])
    weights = routing["properties"]["weights"]
    out += section("routing", ["[routing]", *_keys(routing), ""])
    out += _comment(weights.get("description", ""))
    out += _commented("routing.weights", weights)
    for name in ("federation", "telemetry"):
        out += section(name, [f"[{name}]", *_keys(table(props[name]))])
    return "\n".join(out) + "\n"
