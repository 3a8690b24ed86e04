"""A2A ``Part`` <-> canonical parts.

An A2A part holds exactly one of ``text``, ``raw`` (base64 bytes), ``url`` or ``data`` (any
JSON value, null included: ``data`` is a ``google.protobuf.Value``), plus ``mediaType``,
``filename`` and ``metadata``. File parts have canonical slots for the media type and file
name; text and data parts keep them in part metadata under ``a2a.mediaType`` and
``a2a.filename`` so that they survive a round trip.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final, assert_never

from adapters import _wire as w
from adapters.a2a.numbers import whole_numbers
from adapters.errors import InvalidParams
from adapters.model import EMPTY, DataPart, FileBytesPart, FileUriPart, Part, TextPart

MEDIA_KEY: Final = "a2a.mediaType"
FILENAME_KEY: Final = "a2a.filename"
_EXTRA_KEYS: Final = frozenset({MEDIA_KEY, FILENAME_KEY})

# protobuf's JSON mapping accepts standard or URL-safe base64, with or without padding.
_LOOSE_B64: Final = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def _raw_bytes(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    if _LOOSE_B64.fullmatch(text):
        body = text.rstrip("=").replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise InvalidParams("is not valid base64", path=path)


def _with_extras(meta: dict[str, Any] | None, media: str | None, filename: str | None) -> Any:
    if media is None and filename is None:
        return meta or EMPTY
    out = dict(meta) if meta else {}
    if media is not None:
        out[MEDIA_KEY] = media
    if filename is not None:
        out[FILENAME_KEY] = filename
    return out


def decode_part(raw: Any, path: str) -> Part:
    """Raises InvalidParams unless ``raw`` is an object with exactly one content field."""
    p = w.obj(raw, path)
    kind = ""
    count = 0
    # A null text/raw/url is an absent field in protobuf JSON; a null data is JSON null.
    for key in ("text", "raw", "url"):
        if p.get(key) is not None:
            kind = key
            count += 1
    if "data" in p:
        kind = "data"
        count += 1
    if count != 1:
        raise InvalidParams("must hold exactly one of text, raw, url, data", path=path)
    media = w.opt_str(p, "mediaType", path)
    filename = w.opt_str(p, "filename", path)
    meta = w.opt_obj(p, "metadata", path)
    if kind == "text":
        return TextPart(w.req_str(p, "text", path), _with_extras(meta, media, filename))
    if kind == "data":
        return DataPart(whole_numbers(p["data"]), _with_extras(meta, media, filename))
    if kind == "raw":
        data = _raw_bytes(w.req_str(p, "raw", path), f"{path}.raw")
        return FileBytesPart(data, media, filename, meta or EMPTY)
    return FileUriPart(w.req_str(p, "url", path), media, filename, meta or EMPTY)


def _lift_extras(out: dict[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Move ``a2a.mediaType`` / ``a2a.filename`` back into their fields."""
    if MEDIA_KEY not in meta and FILENAME_KEY not in meta:
        out["metadata"] = meta if type(meta) is dict else dict(meta)
        return out
    rest: dict[str, Any] = {}
    for key, value in meta.items():
        if key in _EXTRA_KEYS:
            if type(value) is not str:
                raise InvalidParams("must be a string", path=f"part.metadata.{key}")
            out["mediaType" if key == MEDIA_KEY else "filename"] = value
        else:
            rest[key] = value
    if rest:
        out["metadata"] = rest
    return out


def encode_part(part: Part) -> dict[str, Any]:
    """Raises InvalidParams when ``a2a.mediaType`` / ``a2a.filename`` metadata is not a string."""
    match part:
        case TextPart(text=text, metadata=meta):
            out: dict[str, Any] = {"text": text}
            return _lift_extras(out, meta) if meta else out
        case DataPart(data=data, metadata=meta):
            out = {"data": data}
            return _lift_extras(out, meta) if meta else out
        case FileBytesPart(data=data, media_type=media, name=name, metadata=meta):
            out = {"raw": base64.b64encode(data).decode("ascii")}
        case FileUriPart(uri=uri, media_type=media, name=name, metadata=meta):
            out = {"url": uri}
        case _:
            assert_never(part)
    if media is not None:
        out["mediaType"] = media
    if name is not None:
        out["filename"] = name
    if meta:
        out["metadata"] = meta if type(meta) is dict else dict(meta)
    return out


def decode_parts(raw: Any, path: str) -> tuple[Part, ...]:
    if raw is None:
        return ()
    items = w.arr(raw, path)
    return tuple([decode_part(p, f"{path}[{i}]") for i, p in enumerate(items)])


def encode_parts(parts: tuple[Part, ...]) -> list[dict[str, Any]]:
    return [encode_part(p) for p in parts]
