"""ACP agent manifests <-> canonical agents. An ACP agent does one thing: it is one skill."""

from __future__ import annotations

from typing import Any

from adapters import _wire as w
from adapters.model import EMPTY, AgentDescriptor, Skill

_SKILL_META = (
    ("input_schema", "input_schema"),
    ("output_schema", "output_schema"),
    ("title", "title"),
)


def decode_agent(raw: Any) -> AgentDescriptor:
    path = "manifest"
    m = w.obj(raw, path)
    name = w.req_str(m, "name", path)
    description = w.opt_str(m, "description", path)
    meta = dict(w.opt_obj(m, "metadata", path) or {})
    tags = w.str_list(meta, "tags", f"{path}.metadata")
    meta.pop("tags", None)
    extra: dict[str, Any] = {}
    for key, attr in _SKILL_META:
        if key in meta:
            extra[attr] = meta.pop(key)
    skill = Skill(
        name=name,
        description=description,
        tags=tags,
        input_modes=w.str_list(m, "input_content_types", path),
        output_modes=w.str_list(m, "output_content_types", path),
        metadata={"acp.metadata": meta} if meta else EMPTY,
        **extra,
    )
    return AgentDescriptor(name, (skill,), description)


def encode_agent(agent: AgentDescriptor) -> list[dict[str, Any]]:
    """One manifest per skill, named ``<agent>.<skill>`` (just ``<agent>`` when the agent's
    only skill has the agent's name)."""
    manifests = []
    single = len(agent.skills) == 1 and agent.skills[0].name == agent.name
    for skill in agent.skills:
        meta: dict[str, Any] = dict(skill.metadata.get("acp.metadata", {}))
        if skill.tags:
            meta["tags"] = list(skill.tags)
        for key, attr in _SKILL_META:
            value = getattr(skill, attr)
            if value is not None:
                meta[key] = value
        manifest: dict[str, Any] = {
            "name": skill.name if single else f"{agent.name}.{skill.name}",
            "metadata": meta,
            "input_content_types": list(skill.input_modes) or ["*/*"],
            "output_content_types": list(skill.output_modes) or ["*/*"],
        }
        w.put(manifest, "description", skill.description)
        manifests.append(manifest)
    return manifests
