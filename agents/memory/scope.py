"""Scopes: whose memories a call may read, write and delete.

Every memory belongs to one scope, a tenant string. Every read and every delete of the service
is filtered by the caller's scope, so no scope ever sees another's rows.

Where the scope of an agent call comes from (the gateway's part of the contract):

- The caller's scope travels in ``Invocation.metadata[SCOPE_KEY]``. Callers' own metadata (MCP
  ``_meta``, A2A ``metadata``) arrives in the same mapping, so the gateway **must overwrite**
  that key on every invocation it hands to the memory agent, with :func:`bind_scope` and the
  principal the guard authenticated (``gateway.security.guard.principal_of``). Then whatever a
  caller puts under the key is replaced, and a caller cannot name another's scope.
- :func:`scope_for` maps a principal to its scope: the token name itself when it matches
  :data:`SCOPE_PATTERN`, a hash of it otherwise; no principal (no tokens configured, loopback
  only) maps to :data:`ANONYMOUS`.
- The agent fails closed: with no scope under the key it refuses the call (``Forbidden``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Final

from adapters.errors import Forbidden, InvalidParams, quote
from adapters.model import Invocation

SCOPE_KEY: Final = "effmesh.memory.scope"
"""The invocation metadata key the gateway sets to the caller's scope."""
SCOPE_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
"""Scopes are plain tokens: they reach filter expressions, so nothing needs escaping in them."""
ANONYMOUS: Final = "anonymous"
"""The scope of callers when the gateway has no tokens configured (one shared scope)."""


def check_scope(scope: object) -> str:
    """``scope`` if it is a string matching :data:`SCOPE_PATTERN`.

    Raises:
        InvalidParams: anything else.
    """
    if type(scope) is not str or not SCOPE_PATTERN.fullmatch(scope):
        raise InvalidParams(f"scope {quote(scope)} must match {SCOPE_PATTERN.pattern}")
    return scope


def scope_for(principal: str | None) -> str:
    """The scope of an authenticated principal (a token name), or :data:`ANONYMOUS`."""
    if principal is None:
        return ANONYMOUS
    if SCOPE_PATTERN.fullmatch(principal):
        return principal
    # A name with other characters still gets its own, stable scope.
    return "h-" + hashlib.sha256(principal.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def bind_scope(invocation: Invocation, principal: str | None) -> Invocation:
    """``invocation`` with :data:`SCOPE_KEY` set to ``principal``'s scope, replacing any value
    the caller sent. The gateway calls this for every invocation of the memory agent."""
    metadata = {**invocation.metadata, SCOPE_KEY: scope_for(principal)}
    return replace(invocation, metadata=metadata)


def scope_of(invocation: Invocation) -> str:
    """The caller's scope, as the gateway bound it.

    Raises:
        Forbidden: no valid scope is bound (the gateway did not call :func:`bind_scope`).
    """
    scope = invocation.metadata.get(SCOPE_KEY)
    if type(scope) is not str or not SCOPE_PATTERN.fullmatch(scope):
        raise Forbidden("the caller's memory scope is unknown")
    return scope
