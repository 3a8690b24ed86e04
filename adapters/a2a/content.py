"""A2A parts, messages and artifacts <-> canonical ones (A2A 1.0 JSON, camelCase)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Final, assert_never

from adapters import _wire as w
from adapters.errors import InvalidParams
from adapters.model import (
    EMPTY,
    Artifact,
    DataPart,
    FileBytesPart,
    FileUriPart,
    Message,
    Metadata,
    Part,
    Role,
    TextPart,
)

IdFactory = Callable[[], str]
MEDIA_KEY: Final = "a2a.mediaType"
FILENAME_KEY: Final = "a2a.filename"
_ONEOF: Final = ("text", "raw", "url", "data")
ROLES: Final[dict[str, Role]] = {"ROLE_USER": "user", "ROLE_AGENT": "agent"}
ROLE_NAMES: Final[dict[Role, str]] = {v: k for k, v in ROLES.items()}
_MESSAGE_EXTRAS: Final = (
    ("extensions", "a2a.extensions"),
    ("referenceTaskIds", "a2a.referenceTaskIds"),
)


def new_id() -> str:
    return uuid.uuid4().hex


def decode_part(raw: Any, path: str) -> Part:
    p = w.obj(raw, path)
    present = [k for k in _ONEOF if k in p]
    if len(present) != 1:
        raise InvalidParams("must hold exactly one of text, raw, url, data", path=path)
    kind = present[0]
    media = w.opt_str(p, "mediaType", path)
    filename = w.opt_str(p, "filename", path)
    meta = dict(w.opt_obj(p, "metadata", path) or {})
    if kind == "raw":
        data = w.b64decode(w.req_str(p, "raw", path), f"{path}.raw")
        return FileBytesPart(data, media, filename, meta or EMPTY)
    if kind == "url":
        return FileUriPart(w.req_str(p, "url", path), media, filename, meta or EMPTY)
    if media is not None:
        meta[MEDIA_KEY] = media
    if filename is not None:
        meta[FILENAME_KEY] = filename
    if kind == "text":
        return TextPart(w.req_str(p, "text", path), meta or EMPTY)
    return DataPart(p["data"], meta or EMPTY)


def _meta_out(out: dict[str, Any], metadata: Metadata) -> dict[str, Any]:
    if metadata:
        rest = {}
        for key, value in metadata.items():
            if key == MEDIA_KEY:
                out["mediaType"] = value
            elif key == FILENAME_KEY:
                out["filename"] = value
            else:
                rest[key] = value
        if rest:
            out["metadata"] = rest
    return out


def encode_part(part: Part) -> dict[str, Any]:
    match part:
        case TextPart(text=text, metadata=meta):
            return _meta_out({"text": text}, meta)
        case DataPart(data=data, metadata=meta):
            return _meta_out({"data": data}, meta)
        case FileBytesPart(data=data, media_type=media, name=name, metadata=meta):
            out: dict[str, Any] = {"raw": w.b64encode(data)}
            w.put(out, "mediaType", media)
            w.put(out, "filename", name)
            w.put(out, "metadata", dict(meta) or None)
            return out
        case FileUriPart(uri=uri, media_type=media, name=name, metadata=meta):
            out = {"url": uri}
            w.put(out, "mediaType", media)
            w.put(out, "filename", name)
            w.put(out, "metadata", dict(meta) or None)
            return out
        case _:
            assert_never(part)


def decode_parts(raw: Any, path: str) -> tuple[Part, ...]:
    items = w.arr(raw, path)
    return tuple(decode_part(p, f"{path}[{i}]") for i, p in enumerate(items))


def _extras_in(
    d: dict[str, Any], path: str, meta: dict[str, Any], pairs: tuple[tuple[str, str], ...]
) -> None:
    for field, key in pairs:
        if field in d:
            meta[key] = list(w.str_list(d, field, path))


def _extras_out(
    out: dict[str, Any], meta: Metadata, pairs: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    keys = {key for _, key in pairs}
    for field, key in pairs:
        if key in meta:
            out[field] = meta[key]
    rest = {k: v for k, v in meta.items() if k not in keys}
    if rest:
        out["metadata"] = rest
    return out


def decode_message(raw: Any, path: str) -> Message:
    m = w.obj(raw, path)
    role_name = w.req_str(m, "role", path)
    role = ROLES.get(role_name)
    if role is None:
        raise InvalidParams("must be ROLE_USER or ROLE_AGENT", path=f"{path}.role")
    meta = dict(w.opt_obj(m, "metadata", path) or {})
    _extras_in(m, path, meta, _MESSAGE_EXTRAS)
    return Message(
        role,
        decode_parts(m.get("parts", []), f"{path}.parts"),
        w.req_str(m, "messageId", path),
        w.opt_str(m, "contextId", path),
        w.opt_str(m, "taskId", path),
        meta or EMPTY,
    )


def encode_message(message: Message, new_id: IdFactory = new_id) -> dict[str, Any]:
    out: dict[str, Any] = {
        "messageId": message.message_id or new_id(),
        "role": ROLE_NAMES[message.role],
        "parts": [encode_part(p) for p in message.parts],
    }
    w.put(out, "contextId", message.context_id)
    w.put(out, "taskId", message.task_id)
    return _extras_out(out, message.metadata, _MESSAGE_EXTRAS)


_ARTIFACT_EXTRAS: Final = (("extensions", "a2a.extensions"),)


def decode_artifact(raw: Any, path: str) -> Artifact:
    a = w.obj(raw, path)
    meta = dict(w.opt_obj(a, "metadata", path) or {})
    _extras_in(a, path, meta, _ARTIFACT_EXTRAS)
    return Artifact(
        w.req_str(a, "artifactId", path),
        decode_parts(a.get("parts", []), f"{path}.parts"),
        w.opt_str(a, "name", path),
        w.opt_str(a, "description", path),
        meta or EMPTY,
    )


def encode_artifact(artifact: Artifact) -> dict[str, Any]:
    out: dict[str, Any] = {
        "artifactId": artifact.artifact_id,
        "parts": [encode_part(p) for p in artifact.parts],
    }
    w.put(out, "name", artifact.name)
    w.put(out, "description", artifact.description)
    return _extras_out(out, artifact.metadata, _ARTIFACT_EXTRAS)
