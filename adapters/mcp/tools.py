"""MCP tools <-> canonical skills; a ``tools/list`` result <-> an agent descriptor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from adapters import _wire as w
from adapters.model import EMPTY, AgentDescriptor, Skill

TEXT_INPUT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
}
"""The input schema of a skill that takes plain text (see the arguments convention in calls)."""

_TOOL_FIELDS = ("annotations", "icons", "execution")
"""Tool fields with no canonical slot, kept in skill metadata as ``mcp.<field>``."""
_SKILL_LISTS = (
    ("tags", "effmesh.tags"),
    ("examples", "effmesh.examples"),
    ("input_modes", "effmesh.inputModes"),
    ("output_modes", "effmesh.outputModes"),
)
"""Skill fields with no MCP slot, kept in the tool's ``_meta``."""
_LIST_FIELDS = ("nextCursor", "ttlMs", "cacheScope", "resultType")


def decode_skill(tool: Any, path: str) -> Skill:
    t = w.obj(tool, path)
    meta = dict(w.opt_obj(t, "_meta", path) or {})
    lists: dict[str, tuple[str, ...]] = {}
    for attr, key in _SKILL_LISTS:
        if key in meta:
            lists[attr] = w.str_list(meta, key, f"{path}._meta")
            del meta[key]
    for key in _TOOL_FIELDS:
        if key in t:
            meta[f"mcp.{key}"] = t[key]
    return Skill(
        name=w.req_str(t, "name", path),
        title=w.opt_str(t, "title", path),
        description=w.opt_str(t, "description", path),
        input_schema=w.req_obj(t, "inputSchema", path),
        output_schema=w.opt_obj(t, "outputSchema", path),
        metadata=meta or EMPTY,
        **lists,
    )


def input_schema(skill: Skill) -> Mapping[str, Any]:
    """The ``inputSchema`` of the tool ``skill`` encodes to (read-only: not a copy)."""
    return skill.input_schema if skill.input_schema is not None else TEXT_INPUT_SCHEMA


def encode_skill(skill: Skill) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": skill.name}
    w.put(tool, "title", skill.title)
    w.put(tool, "description", skill.description)
    schema = skill.input_schema
    tool["inputSchema"] = dict(schema) if schema is not None else TEXT_INPUT_SCHEMA
    if skill.output_schema is not None:
        tool["outputSchema"] = dict(skill.output_schema)
    meta: dict[str, Any] = {}
    for key, value in skill.metadata.items():
        if key.startswith("mcp.") and key[4:] in _TOOL_FIELDS:
            tool[key[4:]] = value
        else:
            meta[key] = value
    for attr, key in _SKILL_LISTS:
        values = getattr(skill, attr)
        if values:
            meta[key] = list(values)
    if meta:
        tool["_meta"] = meta
    return tool


def decode_agent(
    raw: Any, *, name: str, description: str | None = None, version: str | None = None
) -> AgentDescriptor:
    """An agent made of a ``tools/list`` result; ``name`` etc. come from the server's info."""
    result = w.obj(raw, "result")
    tools = w.req_arr(result, "tools", "result")
    skills = tuple(decode_skill(t, f"result.tools[{i}]") for i, t in enumerate(tools))
    meta = {f"mcp.{k}": result[k] for k in _LIST_FIELDS if k in result}
    if "_meta" in result:
        meta["mcp._meta"] = w.req_obj(result, "_meta", "result")
    return AgentDescriptor(name, skills, description, version, metadata=meta or EMPTY)


def encode_agent(agent: AgentDescriptor) -> dict[str, Any]:
    """The ``tools/list`` result listing every skill of ``agent`` as one tool."""
    result: dict[str, Any] = {"tools": [encode_skill(s) for s in agent.skills]}
    for key in _LIST_FIELDS:
        if f"mcp.{key}" in agent.metadata:
            result[key] = agent.metadata[f"mcp.{key}"]
    if "mcp._meta" in agent.metadata:
        result["_meta"] = agent.metadata["mcp._meta"]
    return result
