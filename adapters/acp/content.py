"""ACP message parts and messages <-> canonical parts and messages (acp-sdk 1.0 models).

ACP parts are MIME-typed: JSON content becomes a DataPart, base64 content a FileBytesPart, a
``content_url`` a FileUriPart, anything else text. ACP's own part ``metadata`` (citation or
trajectory) and unknown extra fields are kept under ``acp.*`` keys; canonical metadata that
has no ACP field travels in an extra field ``meta`` (MessagePart allows extra fields).
"""

from __future__ import annotations

import json
from typing import Any, Final, assert_never

from adapters import _wire as w
from adapters.errors import InvalidParams
from adapters.model import (
    EMPTY,
    DataPart,
    FileBytesPart,
    FileUriPart,
    Message,
    Metadata,
    Part,
    Role,
    TextPart,
)

PLAIN: Final = "text/plain"
JSON_TYPE: Final = "application/json"
_KNOWN_FIELDS: Final = frozenset(
    {
        "name",
        "content_type",
        "content",
        "content_encoding",
        "content_url",
        "metadata",
        "meta",
    }
)
RESERVED_EXTRAS: Final = frozenset({"artifact"})
"""Extra part fields the run layer reads (artifact boundaries)."""


def is_json_type(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base == JSON_TYPE or base.endswith("+json")


def decode_part(raw: Any, path: str) -> Part:
    p = w.obj(raw, path)
    name = w.opt_str(p, "name", path)
    ctype = p.get("content_type", PLAIN)
    if ctype is not None and type(ctype) is not str:
        raise InvalidParams("must be a string", path=f"{path}.content_type")
    content = w.opt_str(p, "content", path)
    encoding = p.get("content_encoding", "plain")
    if encoding not in ("plain", "base64", None):
        raise InvalidParams("must be plain or base64", path=f"{path}.content_encoding")
    url = w.opt_str(p, "content_url", path)
    if content is not None and url is not None:
        raise InvalidParams("has both content and content_url", path=path)
    meta = dict(w.opt_obj(p, "meta", path) or {})
    if p.get("metadata") is not None:
        meta["acp.metadata"] = w.obj(p["metadata"], f"{path}.metadata")
    extras = {k: v for k, v in p.items() if k not in _KNOWN_FIELDS and k not in RESERVED_EXTRAS}
    if extras:
        meta["acp.extra"] = extras
    if url is not None:
        return FileUriPart(url, ctype, name, meta or EMPTY)
    if encoding == "base64":
        data = w.b64decode(content or "", f"{path}.content")
        return FileBytesPart(data, ctype, name, meta or EMPTY)
    if name is not None:
        meta["acp.name"] = name
    if ctype is not None and ctype != PLAIN:
        meta["acp.content_type"] = ctype
    if content is None:
        meta["acp.no_content"] = True
        return TextPart("", meta)
    if ctype is not None and is_json_type(ctype):
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):
            raise InvalidParams("is not valid JSON", path=f"{path}.content") from None
        return DataPart(data, meta or EMPTY)
    return TextPart(content, meta or EMPTY)


def _meta_out(out: dict[str, Any], metadata: Metadata) -> dict[str, Any]:
    rest: dict[str, Any] = {}
    for key, value in metadata.items():
        if key == "acp.metadata":
            out["metadata"] = value
        elif key == "acp.extra":
            out.update(value)
        elif key not in ("acp.name", "acp.content_type", "acp.no_content"):
            rest[key] = value
    if rest:
        out["meta"] = rest
    return out


def encode_part(part: Part) -> dict[str, Any]:
    match part:
        case TextPart(text=text, metadata=meta):
            out: dict[str, Any] = {"content_type": meta.get("acp.content_type", PLAIN)}
            if not meta.get("acp.no_content"):
                out["content"] = text
            w.put(out, "name", meta.get("acp.name"))
            return _meta_out(out, meta)
        case DataPart(data=data, metadata=meta):
            out = {
                "content_type": meta.get("acp.content_type", JSON_TYPE),
                "content": json.dumps(data),
            }
            w.put(out, "name", meta.get("acp.name"))
            return _meta_out(out, meta)
        case FileBytesPart(data=data, media_type=media, name=name, metadata=meta):
            out = {
                "content_type": media,
                "content": w.b64encode(data),
                "content_encoding": "base64",
            }
            w.put(out, "name", name)
            return _meta_out(out, meta)
        case FileUriPart(uri=uri, media_type=media, name=name, metadata=meta):
            out = {"content_type": media, "content_url": uri}
            w.put(out, "name", name)
            return _meta_out(out, meta)
        case _:
            assert_never(part)


def decode_message(raw: Any, path: str) -> Message:
    m = w.obj(raw, path)
    role_text = m.get("role", "user")
    if type(role_text) is not str:
        raise InvalidParams("must be a string", path=f"{path}.role")
    meta: dict[str, Any] = {}
    role: Role
    if role_text == "user":
        role = "user"
    elif role_text == "agent" or role_text.startswith("agent/"):
        role = "agent"
        if role_text != "agent":
            meta["acp.role"] = role_text
    else:
        raise InvalidParams("must be user, agent or agent/<name>", path=f"{path}.role")
    for key in ("created_at", "completed_at"):
        value = w.opt_str(m, key, path)
        if value is not None:
            meta[f"acp.{key}"] = value
    meta.update(w.opt_obj(m, "metadata", path) or {})
    items = w.req_arr(m, "parts", path)
    parts = tuple(decode_part(p, f"{path}.parts[{i}]") for i, p in enumerate(items))
    return Message(role, parts, metadata=meta or EMPTY)


def encode_message(message: Message) -> dict[str, Any]:
    """An ACP message. Message ids are not carried (ACP messages have none); metadata from
    other protocols goes into an extra ``metadata`` field, which acp-sdk peers ignore."""
    meta = message.metadata
    out: dict[str, Any] = {
        "role": meta.get("acp.role", message.role),
        "parts": [encode_part(p) for p in message.parts],
    }
    for key in ("created_at", "completed_at"):
        if f"acp.{key}" in meta:
            out[key] = meta[f"acp.{key}"]
    foreign = {k: v for k, v in meta.items() if not k.startswith("acp.")}
    if foreign:
        out["metadata"] = foreign
    return out
