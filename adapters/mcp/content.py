"""MCP content blocks <-> canonical parts.

Encoding picks the MCP block from the part (bytes with an image/* or audio/* media type and no
name become image/audio blocks; other bytes become embedded resources named by their URI).
Decoding records ``mcp.type`` in the part metadata only when that default would pick another
block, so MCP -> canonical -> MCP is exact without marking every part.
"""

from __future__ import annotations

from typing import Any, assert_never

from adapters import _wire as w
from adapters.errors import CannotCarry, InvalidParams, quote
from adapters.model import EMPTY, DataPart, FileBytesPart, FileUriPart, Metadata, Part, TextPart

TYPE_KEY = "mcp.type"
ANNOTATIONS_KEY = "mcp.annotations"
TEXT_RESOURCE_KEY = "mcp.textResource"
LINK_KEYS = ("title", "description", "size", "icons")
"""ResourceLink fields with no canonical slot, kept in part metadata as ``mcp.<field>``."""


ESCAPE = "mcp._meta."
"""A peer's own ``_meta`` key in the ``mcp.`` namespace is kept under this prefix, so it
cannot be mistaken for one of the adapter's keys."""


def _meta_in(block: dict[str, Any], path: str) -> dict[str, Any]:
    meta = w.opt_obj(block, "_meta", path)
    out = {(ESCAPE + k if k.startswith("mcp.") else k): v for k, v in meta.items()} if meta else {}
    annotations = w.opt_obj(block, "annotations", path)
    if annotations is not None:
        out[ANNOTATIONS_KEY] = annotations
    return out


def _meta_out(block: dict[str, Any], metadata: Metadata, *skip: str) -> dict[str, Any]:
    if not metadata:
        return block
    meta = {}
    for key, value in metadata.items():
        if key == ANNOTATIONS_KEY:
            block["annotations"] = value
        elif key == TYPE_KEY or key in skip:
            continue
        elif key.startswith(ESCAPE):
            meta[key[len(ESCAPE) :]] = value
        else:
            meta[key] = value
    if meta:
        block["_meta"] = meta
    return block


def _default_bytes_type(media_type: str | None, name: str | None) -> str:
    if name is None and media_type is not None:
        if media_type.startswith("image/"):
            return "image"
        if media_type.startswith("audio/"):
            return "audio"
    return "resource"


def decode_block(block: Any, path: str) -> Part:
    b = w.obj(block, path)
    kind = b.get("type")
    if kind == "text":
        return TextPart(w.req_str(b, "text", path), _meta_in(b, path) or EMPTY)
    if kind in ("image", "audio"):
        data = w.b64decode(w.req_str(b, "data", path), f"{path}.data")
        media = w.req_str(b, "mimeType", path)
        meta = _meta_in(b, path)
        if _default_bytes_type(media, None) != kind:
            meta[TYPE_KEY] = kind
        return FileBytesPart(data, media, None, meta or EMPTY)
    if kind == "resource":
        res = w.req_obj(b, "resource", path)
        rpath = f"{path}.resource"
        uri = w.req_str(res, "uri", rpath)
        mime = w.opt_str(res, "mimeType", rpath)
        meta = _meta_in(b, path)
        if "text" in res:
            data = w.req_str(res, "text", rpath).encode()
            meta[TEXT_RESOURCE_KEY] = True
        else:
            data = w.b64decode(w.req_str(res, "blob", rpath), f"{rpath}.blob")
        if "_meta" in res:
            meta["mcp.resourceMeta"] = w.req_obj(res, "_meta", rpath)
        return FileBytesPart(data, mime, uri, meta or EMPTY)
    if kind == "resource_link":
        uri = w.req_str(b, "uri", path)
        name = w.req_str(b, "name", path)
        mime = w.opt_str(b, "mimeType", path)
        meta = _meta_in(b, path)
        for key in LINK_KEYS:
            if key in b:
                meta[f"mcp.{key}"] = b[key]
        return FileUriPart(uri, mime, name, meta or EMPTY)
    raise InvalidParams(f"unknown content type {quote(kind)}", path=f"{path}.type")


def encode_part(part: Part, target: str) -> dict[str, Any]:
    match part:
        case TextPart(text=text, metadata=meta):
            return _meta_out({"type": "text", "text": text}, meta)
        case FileBytesPart(data=data, media_type=mime, name=name, metadata=meta):
            kind = meta.get(TYPE_KEY) or _default_bytes_type(mime, name)
            if kind in ("image", "audio"):
                if mime is None:
                    raise CannotCarry(f"{kind} bytes without a media type", target)
                block = {"type": kind, "data": w.b64encode(data), "mimeType": mime}
                return _meta_out(block, meta)
            res: dict[str, Any] = {"uri": name if name is not None else "effmesh:attachment"}
            if mime is not None:
                res["mimeType"] = mime
            if meta.get(TEXT_RESOURCE_KEY) is True:
                try:
                    res["text"] = data.decode()
                except UnicodeDecodeError:
                    raise CannotCarry("a text resource that is not UTF-8", target) from None
            else:
                res["blob"] = w.b64encode(data)
            if "mcp.resourceMeta" in meta:
                res["_meta"] = meta["mcp.resourceMeta"]
            return _meta_out(
                {"type": "resource", "resource": res}, meta, TEXT_RESOURCE_KEY, "mcp.resourceMeta"
            )
        case FileUriPart(uri=uri, media_type=mime, name=name, metadata=meta):
            link: dict[str, Any] = {"type": "resource_link", "uri": uri, "name": name or uri}
            if mime is not None:
                link["mimeType"] = mime
            for key in LINK_KEYS:
                if f"mcp.{key}" in meta:
                    link[key] = meta[f"mcp.{key}"]
            return _meta_out(link, meta, *(f"mcp.{key}" for key in LINK_KEYS))
        case DataPart():
            raise CannotCarry("a structured data part inside content", target)
        case _:
            assert_never(part)
