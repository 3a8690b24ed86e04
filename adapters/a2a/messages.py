"""A2A ``Message`` and ``Artifact`` <-> canonical ones.

``extensions`` and ``referenceTaskIds`` have no canonical field: they ride in the metadata
under ``a2a.extensions`` / ``a2a.referenceTaskIds`` and go back to their fields on encode.
A2A requires a ``messageId``; a canonical message without one gets a fresh id from the
injectable ``new_id`` factory (the adapter's only impurity).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from adapters import _wire as w
from adapters.a2a.parts import decode_parts, encode_parts
from adapters.errors import InvalidParams
from adapters.model import EMPTY, Artifact, Message, Metadata, Role

IdFactory = Callable[[], str]

ROLES: Final[dict[str, Role]] = {"ROLE_USER": "user", "ROLE_AGENT": "agent"}
ROLE_NAMES: Final[dict[Role, str]] = {v: k for k, v in ROLES.items()}
EXTENSIONS_KEY: Final = "a2a.extensions"
REFERENCES_KEY: Final = "a2a.referenceTaskIds"
_MESSAGE_LISTS: Final = (("extensions", EXTENSIONS_KEY), ("referenceTaskIds", REFERENCES_KEY))
_ARTIFACT_LISTS: Final = (("extensions", EXTENSIONS_KEY),)


def new_id() -> str:
    """The default message id factory: a random (version 4) UUID in hex.

    Built from ``os.urandom`` directly: ``uuid.uuid4().hex`` costs three times as much, which
    shows on a hop whose budget is 25 us.
    """
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    return b.hex()


def _lists_in(
    d: dict[str, Any], path: str, meta: dict[str, Any] | None, pairs: tuple[tuple[str, str], ...]
) -> Metadata:
    extra: dict[str, Any] | None = None
    for field, key in pairs:
        if d.get(field) is not None:
            if extra is None:
                extra = dict(meta) if meta else {}
            extra[key] = list(w.str_list(d, field, path))
    if extra is not None:
        return extra
    return meta or EMPTY


def _lists_out(
    out: dict[str, Any], meta: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    if not meta:
        return out
    if not any(key in meta for _, key in pairs):
        out["metadata"] = meta if type(meta) is dict else dict(meta)
        return out
    rest = dict(meta)
    for field, key in pairs:
        if key in rest:
            w.str_list(rest, key, "metadata")
            out[field] = rest.pop(key)
    if rest:
        out["metadata"] = rest
    return out


def decode_message(raw: Any, path: str = "message") -> Message:
    """Raises InvalidParams for a missing messageId or role, or a bad part."""
    m = w.obj(raw, path)
    name = m.get("role")
    role = ROLES.get(name) if type(name) is str else None
    if role is None:
        w.req_str(m, "role", path)
        raise InvalidParams("must be ROLE_USER or ROLE_AGENT", path=f"{path}.role")
    return Message(
        role,
        decode_parts(m.get("parts"), f"{path}.parts"),
        w.req_str(m, "messageId", path),
        w.opt_str(m, "contextId", path),
        w.opt_str(m, "taskId", path),
        _lists_in(m, path, w.opt_obj(m, "metadata", path), _MESSAGE_LISTS),
    )


def encode_message(message: Message, *, new_id: IdFactory = new_id) -> dict[str, Any]:
    out: dict[str, Any] = {
        "messageId": message.message_id if message.message_id is not None else new_id(),
        "role": ROLE_NAMES[message.role],
        "parts": encode_parts(message.parts),
    }
    if message.context_id is not None:
        out["contextId"] = message.context_id
    if message.task_id is not None:
        out["taskId"] = message.task_id
    return _lists_out(out, message.metadata, _MESSAGE_LISTS)


def decode_artifact(raw: Any, path: str = "artifact") -> Artifact:
    a = w.obj(raw, path)
    return Artifact(
        w.req_str(a, "artifactId", path),
        decode_parts(a.get("parts"), f"{path}.parts"),
        w.opt_str(a, "name", path),
        w.opt_str(a, "description", path),
        _lists_in(a, path, w.opt_obj(a, "metadata", path), _ARTIFACT_LISTS),
    )


def encode_artifact(artifact: Artifact) -> dict[str, Any]:
    out: dict[str, Any] = {
        "artifactId": artifact.artifact_id,
        "parts": encode_parts(artifact.parts),
    }
    if artifact.name is not None:
        out["name"] = artifact.name
    if artifact.description is not None:
        out["description"] = artifact.description
    return _lists_out(out, artifact.metadata, _ARTIFACT_LISTS)
