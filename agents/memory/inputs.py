"""The memory agent's input: one message in, one typed request out, per skill.

A message carries exactly one part: a JSON object (``DataPart``; over MCP, the tool's
arguments) with the keys of :data:`SCHEMAS`, or a text (``TextPart``) standing for the
skill's main field: the memory's text for ``store``, the query for ``search`` and ``recall``,
one memory id for ``delete``. Unknown keys, wrong types, empty or over-long texts raise
``InvalidParams`` naming the key and quoting the value. Limits: texts up to
``MAX_TEXT_CHARS`` (8,000) characters, queries up to ``MAX_QUERY_CHARS`` (2,000), labels up
to 128, up to ``MAX_BATCH`` (100) memories per store, ``MAX_IDS`` ids per delete and
``MAX_LIMIT`` (50) hits per search.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from adapters.errors import InvalidParams, quote
from adapters.model import JSON, DataPart, Message, TextPart
from agents.memory.records import (
    KINDS,
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    Draft,
    Filters,
    Kind,
    check_count,
    check_id,
    check_importance,
    check_kind,
    check_label,
    check_text,
    type_name,
)
from agents.memory.service import MAX_BATCH
from agents.memory.shortterm import ROLES, Role, Turn

MAX_IDS: Final = 1000
DEFAULT_LIMIT: Final = 5


@dataclass(frozen=True, slots=True)
class Store:
    drafts: tuple[Draft, ...]


@dataclass(frozen=True, slots=True)
class StoreTurn:
    context: str
    turn: Turn


@dataclass(frozen=True, slots=True)
class Search:
    query: str
    limit: int
    filters: Filters


@dataclass(frozen=True, slots=True)
class Delete:
    ids: tuple[str, ...]
    filters: Filters
    everything: bool


@dataclass(frozen=True, slots=True)
class Recall:
    context: str
    query: str | None
    limit: int


Request: TypeAlias = Store | StoreTurn | Search | Delete | Recall

_LABEL: Final = {"type": "string", "maxLength": 128}
_KIND: Final = {"type": "string", "enum": list(KINDS)}
_FILTERS: Final[dict[str, JSON]] = {
    "kind": {"anyOf": [_KIND, {"type": "array", "items": _KIND}]},
    "agent": _LABEL,
    "task": _LABEL,
    "context": _LABEL,
    "min_importance": {"type": "number", "minimum": 0, "maximum": 1},
    "created_after": {"type": "integer", "minimum": 0, "description": "Unix ms, inclusive"},
    "created_before": {"type": "integer", "minimum": 0, "description": "Unix ms, exclusive"},
}
_MEMORY: Final[dict[str, JSON]] = {
    "text": {"type": "string", "minLength": 1, "maxLength": 8000},
    "kind": _KIND,
    "agent": _LABEL,
    "task": _LABEL,
    "context": _LABEL,
    "importance": {"type": "number", "minimum": 0, "maximum": 1},
}
SCHEMAS: Final[Mapping[str, Mapping[str, JSON]]] = {
    "store": {
        "type": "object",
        "properties": {
            **_MEMORY,
            "memories": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {
                    "type": "object",
                    "properties": _MEMORY,
                    "required": ["text"],
                    "additionalProperties": False,
                },
            },
            "tier": {"type": "string", "enum": ["long", "short"]},
            "role": {"type": "string", "enum": list(ROLES)},
        },
        "additionalProperties": False,
    },
    "search": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            **_FILTERS,
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    "delete": {
        "type": "object",
        "properties": {
            "ids": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "maxItems": MAX_IDS,
            },
            "all": {"type": "boolean"},
            **_FILTERS,
        },
        "additionalProperties": False,
    },
    "recall": {
        "type": "object",
        "properties": {
            "context": _LABEL,
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        },
        "additionalProperties": False,
    },
}


def parse(skill: str, message: Message) -> Request:
    """The request ``message`` makes of ``skill`` (one of :data:`SCHEMAS`).

    Raises:
        InvalidParams: the message does not fit the skill's input.
    """
    body = _body(message)
    context = message.context_id
    match skill:
        case "store":
            if isinstance(body, str):
                body = {"text": body}
            _known(body, skill, "")
            tier = body.get("tier", "long")
            if tier not in ("long", "short") or type(tier) is not str:
                raise InvalidParams(f"{quote(tier)} is not one of long, short", path="tier")
            rest = {k: v for k, v in body.items() if k != "tier"}
            return _turn(rest, context) if tier == "short" else _store(rest, context)
        case "search":
            if isinstance(body, str):
                body = {"query": body}
            _known(body, skill, "")
            query = check_text(_required(body, "query", ""), "query", limit=MAX_QUERY_CHARS)
            return Search(query, _limit(body), _filters(body))
        case "delete":
            if isinstance(body, str):
                return Delete((check_id(body.strip(), "text"),), Filters(), everything=False)
            _known(body, skill, "")
            return _delete(body)
        case "recall":
            if isinstance(body, str):
                body = {"query": body}
            _known(body, skill, "")
            where = body.get("context", context)
            if where is None:
                raise InvalidParams("is required (the message has no context id)", path="context")
            about = body.get("query")
            if about is not None:
                about = check_text(about, "query", limit=MAX_QUERY_CHARS)
            return Recall(check_label(where, "context"), about, _limit(body))
    raise InvalidParams(f"unknown skill {quote(skill)}")


def _body(message: Message) -> dict[str, Any] | str:
    if len(message.parts) != 1:
        raise InvalidParams(f"takes one part, not {len(message.parts)}", path="message.parts")
    part = message.parts[0]
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, DataPart) and type(part.data) is dict:
        return part.data
    if isinstance(part, DataPart):
        raise InvalidParams(
            f"must be a JSON object, not {type_name(part.data)}", path="message.parts[0]"
        )
    raise InvalidParams(f"a {part.kind} part is not accepted", path="message.parts[0]")


def _known(body: Mapping[str, Any], skill: str, path: str) -> None:
    properties: Mapping[str, Any] = SCHEMAS[skill]["properties"]
    for key in body:
        if key not in properties:
            raise InvalidParams(f"unknown key {quote(key)}", path=path or skill)


def _required(body: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in body:
        raise InvalidParams("is required", path=f"{path}{key}")
    return body[key]


def _limit(body: Mapping[str, Any]) -> int:
    return check_count(body.get("limit", DEFAULT_LIMIT), "limit", low=1, high=MAX_LIMIT)


def _draft(item: Mapping[str, Any], path: str, context: str | None) -> Draft:
    prefix = f"{path}." if path else ""
    text = check_text(_required(item, "text", prefix), f"{prefix}text")
    return Draft(
        text=text,
        kind=check_kind(item.get("kind", "fact"), f"{prefix}kind"),
        agent=check_label(item.get("agent", ""), f"{prefix}agent"),
        task=check_label(item.get("task", ""), f"{prefix}task"),
        context=check_label(item.get("context", context or ""), f"{prefix}context"),
        importance=check_importance(item.get("importance", 0.5), f"{prefix}importance"),
    )


def _store(body: Mapping[str, Any], context: str | None) -> Store:
    if "memories" not in body:
        if "role" in body:
            raise InvalidParams("is only for tier 'short'", path="role")
        return Store((_draft(body, "", context),))
    if len(body) != 1:
        others = sorted(k for k in body if k != "memories")
        raise InvalidParams(f"unknown key {quote(others[0])} beside 'memories'", path="store")
    items = body["memories"]
    if type(items) is not list:
        raise InvalidParams(f"must be an array, not {type_name(items)}", path="memories")
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidParams(
            f"holds {len(items)} items; 1 to {MAX_BATCH} are allowed", path="memories"
        )
    drafts = []
    for i, item in enumerate(items):
        path = f"memories[{i}]"
        if type(item) is not dict:
            raise InvalidParams(f"must be an object, not {type_name(item)}", path=path)
        for key in item:
            if key not in _MEMORY:
                raise InvalidParams(f"unknown key {quote(key)}", path=path)
        drafts.append(_draft(item, path, context))
    return Store(tuple(drafts))


def _turn(body: Mapping[str, Any], context: str | None) -> StoreTurn:
    for key in ("memories", "kind", "task", "importance"):
        if key in body:
            raise InvalidParams("is only for tier 'long'", path=key)
    where = body.get("context", context)
    if where is None:
        raise InvalidParams("is required for tier 'short' (no context id)", path="context")
    raw_role = body.get("role", "user")
    role: Role | None = next((r for r in ROLES if type(raw_role) is str and r == raw_role), None)
    if role is None:
        raise InvalidParams(f"{quote(raw_role)} is not one of {', '.join(ROLES)}", path="role")
    text = check_text(_required(body, "text", ""), "text")
    agent = check_label(body.get("agent", ""), "agent")
    return StoreTurn(check_label(where, "context"), Turn(role, text, agent))


def _kinds(value: object) -> tuple[Kind, ...]:
    if type(value) is list:
        if not value:
            raise InvalidParams("must not be an empty array", path="kind")
        return tuple(check_kind(v, f"kind[{i}]") for i, v in enumerate(value))
    return (check_kind(value, "kind"),)


def _moment(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    return None if value is None else check_count(value, key, low=0, high=2**62)


def _filters(body: Mapping[str, Any]) -> Filters:
    def label(key: str) -> str | None:
        value = body.get(key)
        return None if value is None else check_label(value, key)

    floor = body.get("min_importance")
    return Filters(
        kinds=_kinds(body["kind"]) if "kind" in body else (),
        agent=label("agent"),
        task=label("task"),
        context=label("context"),
        min_importance=None if floor is None else check_importance(floor, "min_importance"),
        created_after_ms=_moment(body, "created_after"),
        created_before_ms=_moment(body, "created_before"),
    )


def _delete(body: Mapping[str, Any]) -> Delete:
    everything = body.get("all", False)
    if type(everything) is not bool:
        raise InvalidParams(f"must be a boolean, not {type_name(everything)}", path="all")
    raw_ids = body.get("ids", [])
    if type(raw_ids) is not list:
        raise InvalidParams(f"must be an array, not {type_name(raw_ids)}", path="ids")
    if len(raw_ids) > MAX_IDS:
        raise InvalidParams(f"holds {len(raw_ids)} ids; the limit is {MAX_IDS}", path="ids")
    ids = tuple(check_id(v, f"ids[{i}]") for i, v in enumerate(raw_ids))
    filters = _filters(body)
    if everything and (ids or not filters.is_empty()):
        raise InvalidParams("'all' deletes everything: give no ids or filters with it")
    if not (everything or ids or not filters.is_empty()):
        raise InvalidParams("give 'ids', a filter, or 'all': true (nothing selects what to delete)")
    return Delete(ids, filters, everything)
