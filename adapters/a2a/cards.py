"""A2A ``AgentCard`` <-> canonical agent descriptors.

AgentSkill ``id`` is the canonical skill name and its ``name`` the title (a title equal to the
id is not repeated). A2A requires every skill to have tags: a skill without any is tagged with
its agent's name. A2A has no slot for a skill's schemas or metadata, nor for agent
metadata: they travel in two card extensions, so an MCP tool's schema survives a trip
through A2A:

- ``urn:effmesh:skill-schemas``: params map skill id -> {inputSchema, outputSchema, metadata};
- ``urn:effmesh:agent-metadata``: params are the agent's own metadata.

Card fields with no canonical slot ride in the descriptor metadata as ``a2a.<field>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from adapters import _wire as w
from adapters.a2a.numbers import whole_numbers
from adapters.errors import InvalidParams
from adapters.model import EMPTY, AgentDescriptor, Skill

SCHEMAS_URI: Final = "urn:effmesh:skill-schemas"
AGENT_METADATA_URI: Final = "urn:effmesh:agent-metadata"
BINDING: Final = "JSONRPC"
PROTOCOL_VERSION: Final = "1.0"
INTERFACES_KEY: Final = "a2a.supportedInterfaces"
CAPABILITIES_KEY: Final = "a2a.capabilities"
SKILL_SECURITY_KEY: Final = "a2a.securityRequirements"
_ENTRY_FIELDS: Final = frozenset({"inputSchema", "outputSchema", "metadata"})
_OURS_FIELDS: Final = frozenset({"uri", "params"})
_SCHEME_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "apiKeySecurityScheme": ("description", "location", "name"),
    "httpAuthSecurityScheme": ("description", "scheme", "bearerFormat"),
    "oauth2SecurityScheme": ("description", "oauth2MetadataUrl"),
    "openIdConnectSecurityScheme": ("description", "openIdConnectUrl"),
    "mtlsSecurityScheme": ("description",),
}
"""The string fields of each kind of ``SecurityScheme`` (a oneof)."""
_FLOW_FIELDS: Final = ("authorizationUrl", "tokenUrl", "refreshUrl", "deviceAuthorizationUrl")


# --- checks of card fields that pass through untouched ---------------------------------------


def _check_strs(d: dict[str, Any], path: str, *keys: str) -> None:
    for key in keys:
        w.opt_str(d, key, path)


def _check_provider(value: Any, path: str) -> None:
    _check_strs(w.obj(value, path), path, "url", "organization")


def _check_str(value: Any, path: str) -> None:
    if type(value) is not str:
        raise InvalidParams("must be a string", path=path)


def _check_schemes(value: Any, path: str) -> None:
    for name, scheme in w.obj(value, path).items():
        spath = f"{path}.{name}"
        s = w.obj(scheme, spath)
        kinds = [k for k in _SCHEME_FIELDS if s.get(k) is not None]
        if len(kinds) != 1:
            raise InvalidParams("must hold exactly one security scheme", path=spath)
        kpath = f"{spath}.{kinds[0]}"
        body = w.obj(s[kinds[0]], kpath)
        _check_strs(body, kpath, *_SCHEME_FIELDS[kinds[0]])
        for flow_name, flow in (w.opt_obj(body, "flows", kpath) or EMPTY).items():
            fpath = f"{kpath}.flows.{flow_name}"
            f = w.obj(flow, fpath)
            _check_strs(f, fpath, *_FLOW_FIELDS)
            w.opt_bool(f, "pkceRequired", fpath)
            for scope, text in (w.opt_obj(f, "scopes", fpath) or EMPTY).items():
                _check_str(text, f"{fpath}.scopes.{scope}")


def _check_requirements(value: Any, path: str) -> None:
    for i, req in enumerate(w.arr(value, path)):
        rpath = f"{path}[{i}]"
        schemes = w.opt_obj(w.obj(req, rpath), "schemes", rpath) or {}
        for name, scopes in schemes.items():
            w.str_list(w.obj(scopes, f"{rpath}.schemes.{name}"), "list", f"{rpath}.schemes.{name}")


def _check_signatures(value: Any, path: str) -> None:
    for i, sig in enumerate(w.arr(value, path)):
        s = w.obj(sig, f"{path}[{i}]")
        _check_strs(s, f"{path}[{i}]", "protected", "signature")
        w.opt_obj(s, "header", f"{path}[{i}]")


def _check_interfaces(value: Any, path: str) -> list[Any]:
    items = w.arr(value, path)
    for i, itf in enumerate(items):
        ipath = f"{path}[{i}]"
        d = w.obj(itf, ipath)
        w.req_str(d, "url", ipath)
        _check_strs(d, ipath, "protocolBinding", "protocolVersion", "tenant")
    return items


def _check_capabilities(value: Any, path: str) -> dict[str, Any]:
    caps = w.obj(value, path)
    for key in ("streaming", "pushNotifications", "extendedAgentCard"):
        w.opt_bool(caps, key, path)
    for i, ext in enumerate(w.opt_arr(caps, "extensions", path)):
        epath = f"{path}.extensions[{i}]"
        e = w.obj(ext, epath)
        _check_strs(e, epath, "uri", "description")
        w.opt_bool(e, "required", epath)
        w.opt_obj(e, "params", epath)
    return caps


_EXTRAS: Final[tuple[tuple[str, Callable[[Any, str], None]], ...]] = (
    ("provider", _check_provider),
    ("documentationUrl", _check_str),
    ("securitySchemes", _check_schemes),
    ("securityRequirements", _check_requirements),
    ("signatures", _check_signatures),
    ("iconUrl", _check_str),
)
"""Card fields with no canonical slot, kept in descriptor metadata as ``a2a.<field>``."""
_LIFTED: Final = frozenset(
    {INTERFACES_KEY, CAPABILITIES_KEY, *(f"a2a.{key}" for key, _ in _EXTRAS)}
)
"""Descriptor metadata keys that go back to card fields; the rest is agent metadata."""


def _interface(url: str) -> dict[str, Any]:
    return {"url": url, "protocolBinding": BINDING, "protocolVersion": PROTOCOL_VERSION}


# --- the effmesh extensions ------------------------------------------------------------------


def _schema_entries(ext: dict[str, Any], skill_ids: set[str]) -> dict[str, Any] | None:
    """The params of a well-formed skill-schemas extension, or None (then it stays as is)."""
    params = ext.get("params")
    if not ext.keys() <= _OURS_FIELDS or type(params) is not dict:
        return None
    for skill_id, entry in params.items():
        if skill_id not in skill_ids or type(entry) is not dict:
            return None
        if not entry.keys() <= _ENTRY_FIELDS:
            return None
        if any(type(v) is not dict for v in entry.values()):
            return None
        if SKILL_SECURITY_KEY in entry.get("metadata", EMPTY):
            return None
    return params


def _agent_metadata(ext: dict[str, Any]) -> dict[str, Any] | None:
    params = ext.get("params")
    if not ext.keys() <= _OURS_FIELDS or type(params) is not dict or not params:
        return None
    if any(key in _LIFTED for key in params):
        return None
    return params


# --- skills ----------------------------------------------------------------------------------


def _entry(entries: dict[str, Any], skill_id: Any) -> Mapping[str, Any]:
    return entries.get(skill_id, EMPTY) if type(skill_id) is str else EMPTY


def _decode_skill(s: dict[str, Any], path: str, entry: Mapping[str, Any]) -> Skill:
    skill_id = w.req_str(s, "id", path)
    title = w.opt_str(s, "name", path)
    meta: dict[str, Any] = dict(whole_numbers(entry.get("metadata", EMPTY)))
    requirements = s.get("securityRequirements")
    if requirements is not None:
        _check_requirements(requirements, f"{path}.securityRequirements")
        meta[SKILL_SECURITY_KEY] = requirements
    return Skill(
        name=skill_id,
        description=w.opt_str(s, "description", path),
        # A card served through protobuf (a2a-sdk) has every schema number as a double.
        input_schema=whole_numbers(entry.get("inputSchema")),
        output_schema=whole_numbers(entry.get("outputSchema")),
        title=None if title == skill_id else title,
        tags=w.str_list(s, "tags", path),
        examples=w.str_list(s, "examples", path),
        input_modes=w.str_list(s, "inputModes", path),
        output_modes=w.str_list(s, "outputModes", path),
        metadata=meta or EMPTY,
    )


def _encode_skill(skill: Skill, entries: dict[str, Any], agent: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": skill.name, "name": skill.title or skill.name}
    if skill.description is not None:
        out["description"] = skill.description
    # A2A requires at least one tag per skill; MCP tools and ACP agents often have none.
    out["tags"] = list(skill.tags) or [agent]
    if skill.examples:
        out["examples"] = list(skill.examples)
    if skill.input_modes:
        out["inputModes"] = list(skill.input_modes)
    if skill.output_modes:
        out["outputModes"] = list(skill.output_modes)
    entry: dict[str, Any] = {}
    if skill.input_schema is not None:
        entry["inputSchema"] = dict(skill.input_schema)
    if skill.output_schema is not None:
        entry["outputSchema"] = dict(skill.output_schema)
    if skill.metadata:
        rest = dict(skill.metadata)
        if SKILL_SECURITY_KEY in rest:
            requirements = rest.pop(SKILL_SECURITY_KEY)
            _check_requirements(requirements, f"skill.metadata.{SKILL_SECURITY_KEY}")
            out["securityRequirements"] = requirements
        if rest:
            entry["metadata"] = rest
    if entry:
        entries[skill.name] = entry
    return out


# --- cards -----------------------------------------------------------------------------------


def decode_agent(raw: Any) -> AgentDescriptor:
    """The descriptor of an ``AgentCard``; ``url`` is the first interface's.

    Raises:
        InvalidParams: no name, or a field of the wrong shape.
    """
    path = "card"
    card = w.obj(raw, path)
    meta: dict[str, Any] = {}
    interfaces = _check_interfaces(
        card.get("supportedInterfaces") or [], f"{path}.supportedInterfaces"
    )
    url: str | None = None
    if interfaces:
        url = interfaces[0]["url"]
        if len(interfaces) > 1 or interfaces[0] != _interface(interfaces[0]["url"]):
            meta[INTERFACES_KEY] = interfaces
    for key, check in _EXTRAS:
        value = card.get(key)
        if value is not None:
            check(value, f"{path}.{key}")
            meta[f"a2a.{key}"] = value
    skills = [
        w.obj(s, f"{path}.skills[{i}]") for i, s in enumerate(w.opt_arr(card, "skills", path))
    ]
    skill_ids: set[str] = {s["id"] for s in skills if type(s.get("id")) is str}
    caps = _check_capabilities(card.get("capabilities") or {}, f"{path}.capabilities")
    entries: dict[str, Any] | None = None
    agent_meta: dict[str, Any] | None = None
    kept: list[Any] = []
    for ext in caps.get("extensions") or ():
        uri = ext.get("uri")
        if uri == SCHEMAS_URI and entries is None:
            entries = _schema_entries(ext, skill_ids)
            if entries is not None:
                continue
        elif uri == AGENT_METADATA_URI and agent_meta is None:
            agent_meta = _agent_metadata(ext)
            if agent_meta is not None:
                continue
        kept.append(ext)
    streaming = caps.get("streaming") is True
    rest = {k: v for k, v in caps.items() if k != "extensions" and not (k == "streaming" and v)}
    if kept:
        rest["extensions"] = kept
    if rest:
        meta[CAPABILITIES_KEY] = rest
    if agent_meta:
        meta.update(agent_meta)
    entries = entries or {}
    return AgentDescriptor(
        name=w.req_str(card, "name", path),
        skills=tuple(
            [
                _decode_skill(s, f"{path}.skills[{i}]", _entry(entries, s.get("id")))
                for i, s in enumerate(skills)
            ]
        ),
        description=w.opt_str(card, "description", path),
        version=w.opt_str(card, "version", path),
        url=url,
        streaming=streaming,
        input_modes=w.str_list(card, "defaultInputModes", path),
        output_modes=w.str_list(card, "defaultOutputModes", path),
        metadata=meta or EMPTY,
    )


def _interfaces_out(agent: AgentDescriptor, url: str | None) -> list[Any] | None:
    if url is not None:
        return [_interface(url)]
    stored = agent.metadata.get(INTERFACES_KEY)
    if stored is not None:
        items = _check_interfaces(stored, f"metadata.{INTERFACES_KEY}")
        if items and agent.url is not None and items[0]["url"] != agent.url:
            items = [{**items[0], "url": agent.url}, *items[1:]]
        return items
    return [_interface(agent.url)] if agent.url is not None else None


def encode_agent(agent: AgentDescriptor, *, url: str | None = None) -> dict[str, Any]:
    """The ``AgentCard`` of ``agent``.

    ``url`` is this gateway's A2A endpoint for the agent: it replaces the agent's own
    interfaces, which a caller of the gateway must not see, and the card's signatures, which
    signed the original card and would no longer verify, are left out.

    Raises:
        InvalidParams: an ``a2a.*`` metadata key of the wrong shape.
    """
    meta = agent.metadata
    card: dict[str, Any] = {"name": agent.name}
    if agent.description is not None:
        card["description"] = agent.description
    interfaces = _interfaces_out(agent, url)
    if interfaces:
        card["supportedInterfaces"] = interfaces
    if agent.version is not None:
        card["version"] = agent.version
    for key, check in _EXTRAS:
        value = meta.get(f"a2a.{key}")
        if value is not None:
            check(value, f"metadata.a2a.{key}")
            card[key] = value
    if url is not None:
        card.pop("signatures", None)
    stored = meta.get(CAPABILITIES_KEY)
    caps: dict[str, Any] = {}
    if stored is not None:
        caps = dict(_check_capabilities(stored, f"metadata.{CAPABILITIES_KEY}"))
    if agent.streaming:
        caps["streaming"] = True
    elif caps.get("streaming"):
        caps["streaming"] = False
    entries: dict[str, Any] = {}
    skills = [_encode_skill(s, entries, agent.name) for s in agent.skills]
    ours: list[dict[str, Any]] = []
    if entries:
        ours.append({"uri": SCHEMAS_URI, "params": entries})
    agent_meta = {k: v for k, v in meta.items() if k not in _LIFTED}
    if agent_meta:
        ours.append({"uri": AGENT_METADATA_URI, "params": agent_meta})
    if ours:
        caps["extensions"] = [*(caps.get("extensions") or ()), *ours]
    card["capabilities"] = caps
    if agent.input_modes:
        card["defaultInputModes"] = list(agent.input_modes)
    if agent.output_modes:
        card["defaultOutputModes"] = list(agent.output_modes)
    card["skills"] = skills
    return card


def jsonrpc_url(card: Mapping[str, Any]) -> str | None:
    """The URL of the card's first JSON-RPC interface that speaks A2A 1.x, if any."""
    interfaces = card.get("supportedInterfaces")
    if not isinstance(interfaces, list):
        return None
    for entry in interfaces:
        if not isinstance(entry, dict) or entry.get("protocolBinding") != "JSONRPC":
            continue
        version = entry.get("protocolVersion")
        url = entry.get("url")
        if isinstance(url, str) and isinstance(version, str) and version.startswith("1."):
            return url
    return None


def provider_security(
    issuer: str, metadata: Mapping[str, Any] | None, scopes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The ``securitySchemes`` and ``securityRequirements`` of a card whose callers sign in
    with the OpenID provider ``issuer``: OpenID Connect by its discovery URL and, when the
    provider's ``metadata`` is known, OAuth 2 authorization code (PKCE required) by its
    endpoints. Either scheme satisfies the requirements, with ``scopes``."""
    schemes: dict[str, Any] = {
        "oidc": {
            "openIdConnectSecurityScheme": {
                "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration"
            }
        }
    }
    endpoints = metadata or {}
    auth_url, token_url = endpoints.get("authorization_endpoint"), endpoints.get("token_endpoint")
    if isinstance(auth_url, str) and isinstance(token_url, str):
        flow = {
            "authorizationUrl": auth_url,
            "tokenUrl": token_url,
            "refreshUrl": token_url,
            # A2A requires at least one; a provider that asks for none still has openid.
            "scopes": {s: s for s in scopes} or {"openid": "sign in"},
            "pkceRequired": True,
        }
        schemes["oauth2"] = {"oauth2SecurityScheme": {"flows": {"authorizationCode": flow}}}
    requirements = [{"schemes": {name: {"list": list(scopes)}}} for name in schemes]
    return {"securitySchemes": schemes, "securityRequirements": requirements}
