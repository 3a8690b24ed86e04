"""Checked field access on decoded JSON, shared by the protocol adapters.

Each getter raises :class:`InvalidParams` naming the JSON path of the offending field, so a
wrong message becomes the protocol's invalid-params error and never a KeyError or TypeError.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from adapters.errors import InvalidParams

_MISSING: Any = object()


def obj(value: Any, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise InvalidParams("must be an object", path=path)
    return value


def arr(value: Any, path: str) -> list[Any]:
    if type(value) is not list:
        raise InvalidParams("must be an array", path=path)
    return value


def req_str(d: Mapping[str, Any], key: str, path: str) -> str:
    value = d.get(key, _MISSING)
    if value is _MISSING:
        raise InvalidParams("is required", path=f"{path}.{key}")
    if type(value) is not str:
        raise InvalidParams("must be a string", path=f"{path}.{key}")
    return value


def opt_str(d: Mapping[str, Any], key: str, path: str) -> str | None:
    value = d.get(key)
    if value is None or type(value) is str:
        return value
    raise InvalidParams("must be a string", path=f"{path}.{key}")


def opt_bool(d: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
    value = d.get(key)
    if value is None:
        return default
    if type(value) is not bool:
        raise InvalidParams("must be a boolean", path=f"{path}.{key}")
    return value


def opt_int(d: Mapping[str, Any], key: str, path: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) is not int:
        raise InvalidParams("must be an integer", path=f"{path}.{key}")
    return value


def opt_number(d: Mapping[str, Any], key: str, path: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise InvalidParams("must be a number", path=f"{path}.{key}")
    return float(value)


def req_number(d: Mapping[str, Any], key: str, path: str) -> float:
    value = opt_number(d, key, path)
    if value is None:
        raise InvalidParams("is required", path=f"{path}.{key}")
    return value


def opt_obj(d: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = d.get(key)
    if value is None:
        return None
    return obj(value, f"{path}.{key}")


def req_obj(d: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = d.get(key, _MISSING)
    if value is _MISSING:
        raise InvalidParams("is required", path=f"{path}.{key}")
    return obj(value, f"{path}.{key}")


def opt_arr(d: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = d.get(key)
    if value is None:
        return []
    return arr(value, f"{path}.{key}")


def req_arr(d: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = d.get(key, _MISSING)
    if value is _MISSING:
        raise InvalidParams("is required", path=f"{path}.{key}")
    return arr(value, f"{path}.{key}")


def str_list(d: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    items = opt_arr(d, key, path)
    for i, item in enumerate(items):
        if type(item) is not str:
            raise InvalidParams("must be a string", path=f"{path}.{key}[{i}]")
    return tuple(items)


def b64decode(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParams("is not valid base64", path=path) from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def opt_id(d: Mapping[str, Any], key: str, path: str) -> str | int | None:
    """A JSON-RPC id or progress token: a string or an integer (not a boolean)."""
    value = d.get(key)
    if value is None or type(value) is str or type(value) is int:
        return value  # type: ignore[no-any-return,unused-ignore]
    raise InvalidParams("must be a string or an integer", path=f"{path}.{key}")


def req_id(d: Mapping[str, Any], key: str, path: str) -> str | int:
    value = opt_id(d, key, path)
    if value is None:
        raise InvalidParams("is required", path=f"{path}.{key}")
    return value


def put(d: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` only when ``value`` carries something (None and empty containers are omitted)."""
    if value is not None and value not in ((), {}, []):
        d[key] = value
