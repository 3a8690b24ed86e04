"""Calls paused for their caller's answer, kept in the task store so that any replica, or
the gateway restarted, can carry one on: the MCP 2026-07-28 ``input_required`` round trip,
whose retry a load balancer may send to another replica than the one that asked.

The paused call is its own stored task, waiting in input-required: its history is the
exchange so far (the message the agent answered with its question last), and its metadata
holds a digest of a random secret. The token handed to the client is ``<task id>.<secret>``:
only its holder can continue the call, once, within ``ttl`` seconds, only as the owner the
task was stored for (another owner's token names a task it cannot see), and only for the tool
it paused in. A call whose agent holds it open in one process (a handshake-era MCP server's
request) names that replica: a retry that reaches another is sent there
(``gateway.mcp.handover``), and one that outlived that process is refused as expired.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from typing import Final

from adapters.errors import EffmeshError
from adapters.model import Invocation, Message, Metadata, Task, TaskState
from gateway.registry import Registry, Route
from gateway.runtime import conversations
from gateway.runtime.store import StoredTask, TaskStore

SECRET_KEY: Final = "effmesh.paused"
"""Task metadata key: the digest of the secret of a paused call's token."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Paused:
    """What a retry needs to carry a paused call on."""

    route: Route
    invocation: Invocation
    """The invocation that paused (its message is the one the question answers)."""
    question: Message
    task: Task
    """The paused task, which the continued call carries on (same id)."""


class StoredPauses:
    """Paused calls in ``store``, their routes found again in ``registry``."""

    def __init__(self, store: TaskStore, registry: Registry, *, ttl: float = 600.0) -> None:
        self.store = store
        self.registry = registry
        self.ttl = ttl

    def hold(
        self, task: Task, route: Route, invocation: Invocation, who: str | None, endpoint: str
    ) -> str:
        """Store ``task`` (settled in input-required) as paused for ``who``; its token."""
        secret = secrets.token_urlsafe(24)
        paused = replace(
            task,
            history=(*invocation.history, invocation.message),
            metadata={**task.metadata, SECRET_KEY: _digest(secret)},
        )
        # With what its agent keeps for it: the retry may reach another replica. A call its
        # agent holds open here names this replica, where the retry is carried on.
        paused = conversations.kept(paused, conversations.waiting(route.agent, task.task_id))
        paused = conversations.held(paused, route.agent, self.store.replica)
        self.store.save(paused, agent=route.tool_name, owner=who, endpoint=endpoint)
        return f"{task.task_id}.{secret}"

    def _read(self, token: str, who: str | None) -> StoredTask | None:
        """The paused task ``token`` names for ``who``, as stored (None: unknown, spent,
        expired, or not ``who``'s)."""
        task_id, _, secret = token.partition(".")
        stored = self.store.load(task_id, owner=who) if secret else None
        if stored is None or stored.task.state is not TaskState.INPUT_REQUIRED:
            return None
        task = stored.task
        digest = task.metadata.get(SECRET_KEY)
        fresh = stored.updated >= time.time_ns() - int(self.ttl * 1e9)
        if not (isinstance(digest, str) and hmac.compare_digest(digest, _digest(secret))):
            return None
        if not fresh or not task.history or task.status_message is None:
            return None
        return stored

    def elsewhere(self, token: str, who: str | None) -> str | None:
        """The replica whose process holds open the call ``token`` names for ``who``, when
        that is another replica (None: carried on here, if at all)."""
        stored = self._read(token, who)
        held = None if stored is None else conversations.holder(stored.task)
        return held if held != self.store.replica else None

    def take(
        self, token: str, who: str | None, metadata: Metadata, *, tool: str | None = None
    ) -> Paused | None:
        """The paused call ``token`` names for ``who``, now no longer paused; None when the
        token is unknown, spent, expired, not ``who``'s, not for ``tool`` (the tool the
        retry names, when given), or for a call held open by another process. ``metadata``:
        the retry's own, which the continued invocation carries."""
        stored = self._read(token, who)
        if stored is None or (tool is not None and stored.agent != tool):
            return None
        task = stored.task
        if conversations.holder(task) not in (None, self.store.replica):
            return None  # that process alone can carry it on (or it is gone)
        assert task.status_message is not None  # checked by _read
        try:
            route = self.registry.route(stored.agent, who)
        except EffmeshError:
            return None
        spent = replace(task, metadata={k: v for k, v in task.metadata.items() if k != SECRET_KEY})
        spent = conversations.shown(spent)
        # Spent by a compare-and-set: of two retries with one token at once (on two
        # replicas), one carries the call on and the other finds the token spent.
        if not self.store.swap(spent, was=stored.updated):
            return None
        conversations.carry_on(route.agent, task)
        invocation = Invocation(
            route.skill.name,
            task.history[-1],
            history=task.history[:-1],
            metadata={k: v for k, v in metadata.items() if not k.startswith("mcp.")},
        )
        return Paused(route, invocation, task.status_message, spent)
