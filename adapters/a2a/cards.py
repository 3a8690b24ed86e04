"""A2A agent cards <-> canonical agent descriptors.

A2A skills have no input schema; the schemas of skills that have one travel in a card
extension (``urn:effmesh:skill-schemas``) whose params map skill id -> schemas, so an MCP
tool's schema survives a trip through A2A.
"""

from __future__ import annotations

from typing import Any, Final

from adapters import _wire as w
from adapters.model import EMPTY, AgentDescriptor, Skill

SCHEMAS_URI: Final = "urn:effmesh:skill-schemas"
_CARD_EXTRAS: Final = (
    "supportedInterfaces",
    "provider",
    "documentationUrl",
    "securitySchemes",
    "securityRequirements",
    "signatures",
    "iconUrl",
)
"""Card fields with no canonical slot, kept in descriptor metadata as ``a2a.<field>``."""


def _decode_skill(raw: Any, path: str, schemas: dict[str, Any]) -> Skill:
    s = w.obj(raw, path)
    skill_id = w.req_str(s, "id", path)
    meta: dict[str, Any] = {}
    if "securityRequirements" in s:
        meta["a2a.securityRequirements"] = w.arr(s["securityRequirements"], path)
    found = schemas.get(skill_id) or {}
    return Skill(
        name=skill_id,
        description=w.opt_str(s, "description", path),
        input_schema=found.get("inputSchema"),
        output_schema=found.get("outputSchema"),
        title=w.opt_str(s, "name", path),
        tags=w.str_list(s, "tags", path),
        examples=w.str_list(s, "examples", path),
        input_modes=w.str_list(s, "inputModes", path),
        output_modes=w.str_list(s, "outputModes", path),
        metadata=meta or EMPTY,
    )


def _encode_skill(skill: Skill) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": skill.name,
        "name": skill.title or skill.name,
        "description": skill.description or "",
        "tags": list(skill.tags),
    }
    w.put(out, "examples", list(skill.examples))
    w.put(out, "inputModes", list(skill.input_modes))
    w.put(out, "outputModes", list(skill.output_modes))
    if "a2a.securityRequirements" in skill.metadata:
        out["securityRequirements"] = skill.metadata["a2a.securityRequirements"]
    return out


def decode_agent(raw: Any) -> AgentDescriptor:
    path = "card"
    card = w.obj(raw, path)
    caps = dict(w.opt_obj(card, "capabilities", path) or {})
    # Kept in the metadata too: the field has explicit presence, so false differs from absent.
    streaming = w.opt_bool(caps, "streaming", f"{path}.capabilities")
    schemas: dict[str, Any] = {}
    extensions = []
    for i, ext in enumerate(w.opt_arr(caps, "extensions", f"{path}.capabilities")):
        e = w.obj(ext, f"{path}.capabilities.extensions[{i}]")
        if e.get("uri") == SCHEMAS_URI:
            schemas = w.opt_obj(e, "params", f"{path}.capabilities.extensions[{i}]") or {}
        else:
            extensions.append(e)
    if extensions:
        caps["extensions"] = extensions
    else:
        caps.pop("extensions", None)
    meta = {f"a2a.{k}": card[k] for k in _CARD_EXTRAS if k in card}
    if caps:
        meta["a2a.capabilities"] = caps
    skills = w.opt_arr(card, "skills", path)
    interfaces = w.opt_arr(card, "supportedInterfaces", path)
    url = None
    if interfaces:
        url = w.opt_str(
            w.obj(interfaces[0], f"{path}.supportedInterfaces[0]"),
            "url",
            f"{path}.supportedInterfaces[0]",
        )
    return AgentDescriptor(
        name=w.req_str(card, "name", path),
        skills=tuple(
            _decode_skill(s, f"{path}.skills[{i}]", schemas) for i, s in enumerate(skills)
        ),
        description=w.opt_str(card, "description", path),
        version=w.opt_str(card, "version", path),
        url=url,
        streaming=streaming,
        input_modes=w.str_list(card, "defaultInputModes", path),
        output_modes=w.str_list(card, "defaultOutputModes", path),
        metadata=meta or EMPTY,
    )


def encode_agent(agent: AgentDescriptor, *, url: str | None = None) -> dict[str, Any]:
    """The agent card; ``url`` (this gateway's A2A endpoint for the agent) replaces the
    agent's own interfaces, which a caller of the gateway must not see."""
    card: dict[str, Any] = {
        "name": agent.name,
        "description": agent.description or "",
        "version": agent.version or "",
    }
    for key in _CARD_EXTRAS:
        if f"a2a.{key}" in agent.metadata:
            card[key] = agent.metadata[f"a2a.{key}"]
    if url is not None:
        card["supportedInterfaces"] = [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ]
    caps: dict[str, Any] = dict(agent.metadata.get("a2a.capabilities", {}))
    if agent.streaming:
        caps["streaming"] = True
    elif caps.get("streaming"):
        caps["streaming"] = False
    schemas = {
        s.name: {
            k: v
            for k, v in (("inputSchema", s.input_schema), ("outputSchema", s.output_schema))
            if v is not None
        }
        for s in agent.skills
        if s.input_schema is not None or s.output_schema is not None
    }
    if schemas:
        caps["extensions"] = [*caps.get("extensions", []), {"uri": SCHEMAS_URI, "params": schemas}]
    card["capabilities"] = caps
    card["defaultInputModes"] = list(agent.input_modes) or ["text/plain", "application/json"]
    card["defaultOutputModes"] = list(agent.output_modes) or ["text/plain", "application/json"]
    card["skills"] = [_encode_skill(s) for s in agent.skills]
    return card
