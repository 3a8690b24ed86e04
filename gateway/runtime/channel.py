"""How gateway replicas tell each other about tasks: the items a running task streams, and
requests to cancel a task running on another replica.

One process alone needs none of it: :class:`LocalChannel` publishes nothing and follows
nothing (every task's runner and subscribers are in this process). Replicas that share a
PostgreSQL store share :class:`PostgresChannel`:

- the runner of a task appends each item it streams to the ``task_events`` table and
  signals ``NOTIFY effmesh_events, '<task id>'``; a subscriber on any replica reads the items
  of that task it has not seen yet (so a late subscriber replays from the start), and waits
  for the next signal. A task's log ends with its settled snapshot (a ``Task``);
- ``NOTIFY effmesh_cancel, '<task id>'`` asks whichever replica runs the task to cancel it;
- a client's message for an MCP session that another replica waits for (the answer to a
  request the server sent it, or its cancel of a call running there), and a server's
  notification for the session's GET stream held by another replica, are put in the
  ``mcp_messages`` table and signalled on ``effmesh_mcp``; the replica that waits for it
  (holds the stream) takes it out (one replica alone can: a delete), and rows nobody took
  are dropped after :data:`FORWARD_SECONDS`. A session closed on one replica is signalled
  the same way, so that every replica holding it closes it too.

Each replica listens on one connection of its own. A signal may be lost (that connection
breaks and comes back): a follower reads again every ``POLL_SECONDS`` anyway, and a task that
settled without a final item in the log (its replica died, and a survivor failed it) ends the
follow with its stored snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from adapters import _json, a2a, lifecycle
from adapters.model import StreamItem, Task
from gateway.runtime.store import TaskStore

if TYPE_CHECKING:
    from gateway.runtime.postgres import PostgresTaskStore

POLL_SECONDS: Final = 1.0
"""How often a follower reads the log without a signal."""
SETTLING_SECONDS: Final = 1.0
"""How long a follower that finds a task settled in the store, with no final item in the log,
waits for that item before it ends with the stored snapshot: a runner saves a task's state
before it publishes the item that says so (the A2A SDK does), so the two are seldom seen
together."""
EVENTS: Final = "effmesh_events"
CANCELS: Final = "effmesh_cancel"
FORWARDS: Final = "effmesh_mcp"
FORWARD_SECONDS: Final = 60.0
"""How long a forwarded MCP message waits for a replica to take it."""

log = logging.getLogger(__name__)

Canceller = Callable[[str], None]
"""Cancels the task of this id if it runs in this process (else does nothing)."""


Direction = Literal["in", "out", "closed", "call", "reply", "resume", "resumed"]
"""What a forwarded MCP message is: a client's (``in``), one for a client's GET stream
(``out``), or word that the session was closed (``closed``, no message); or a retry of a
paused call for the replica that holds the call (``call``, the replica's name in place of a
session) and its answer for the replica that sent it (``reply``): ``gateway.mcp.handover``;
or a task's answer for the replica that holds its call (``resume``) and what the call
streams back (``resumed``): ``gateway.runtime.held``."""


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A message for an MCP session, forwarded by another replica."""

    message_id: int
    """What :meth:`Channel.take` takes it by (0: a closed session, nothing to take)."""
    session: str
    direction: Direction
    key: str | int | None = None
    """The id of the request a client's message answers or cancels."""


Hearer = Callable[[Forwarded], None]


def settled(task: Task) -> bool:
    return lifecycle.is_terminal(task.state) or task.state in lifecycle.INTERRUPTED


class Channel(Protocol):
    shared: bool
    """Whether other replicas hear what is published here."""

    async def start(self, cancel: Canceller) -> None:
        """Start listening; ``cancel`` is called with each task id another replica asks to
        cancel."""
        ...

    async def close(self) -> None: ...

    def publish(self, task_id: str, item: StreamItem) -> None:
        """Append ``item`` to the task's log and tell the other replicas."""
        ...

    def cancel(self, task_id: str) -> None:
        """Ask the replica that runs ``task_id`` to cancel it."""
        ...

    def hear(self, hearer: Hearer) -> None:
        """Call ``hearer`` with each MCP message another replica forwards."""
        ...

    def forward(
        self, session: str, direction: Direction, body: bytes, key: str | int | None = None
    ) -> None:
        """Hand ``body``, a message for MCP ``session``, to the replica that waits for it:
        a client's answer or cancel of the request ``key`` (``in``), a notification for the
        session's GET stream (``out``); ``closed`` (no body) tells every replica that the
        session was closed."""
        ...

    def take(self, message_id: int) -> bytes | None:
        """The forwarded message ``message_id``, for this replica alone (None: another
        replica took it, or it was dropped)."""
        ...

    def log(self, task_id: str) -> list[StreamItem]:
        """The task's items published so far."""
        ...

    def follow(self, task_id: str, after: int = 0) -> AsyncIterator[StreamItem]:
        """The task's items past the first ``after``, then new ones as they come, until its
        settled snapshot (the log's last item, or the stored task when the log has none)."""
        ...


class LocalChannel:
    """One process: nothing to tell anyone."""

    shared = False

    async def start(self, cancel: Canceller) -> None:
        pass

    async def close(self) -> None:
        pass

    def publish(self, task_id: str, item: StreamItem) -> None:
        pass

    def cancel(self, task_id: str) -> None:
        pass

    def hear(self, hearer: Hearer) -> None:
        pass

    def forward(
        self, session: str, direction: Direction, body: bytes, key: str | int | None = None
    ) -> None:
        pass

    def take(self, message_id: int) -> bytes | None:
        return None

    def log(self, task_id: str) -> list[StreamItem]:
        return []

    async def follow(self, task_id: str, after: int = 0) -> AsyncIterator[StreamItem]:
        return
        yield  # an async generator that yields nothing


def _encode(item: StreamItem) -> str:
    return _json.dumps(a2a.encode_stream_item(item)).decode()


def _decode(body: str) -> StreamItem:
    return a2a.decode_stream_item(_json.loads(body))


class PostgresChannel:
    """Replicas of one PostgreSQL store: the ``task_events`` log, LISTEN and NOTIFY."""

    shared = True

    def __init__(self, store: PostgresTaskStore) -> None:
        self.store = store
        self._wakers: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._cancel: Canceller = lambda _: None
        self._hearers: list[Hearer] = []

    async def start(self, cancel: Canceller) -> None:
        self._cancel = cancel
        ready = asyncio.Event()
        self._listener = asyncio.get_running_loop().create_task(self._listen(ready))
        # Listening before any request is answered: no signal of this replica's life is missed.
        await asyncio.wait_for(ready.wait(), 30)

    async def _listen(self, ready: asyncio.Event) -> None:
        import psycopg  # noqa: PLC0415 - only replicas on PostgreSQL load it

        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.store.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {EVENTS}")
                    await conn.execute(f"LISTEN {CANCELS}")
                    await conn.execute(f"LISTEN {FORWARDS}")
                    ready.set()
                    self._wake_all()  # whatever was signalled while not listening
                    async for note in conn.notifies():
                        if note.channel == EVENTS:
                            self._wake(note.payload)
                        elif note.channel == CANCELS:
                            self._cancel(note.payload)
                        else:
                            self._heard(note.payload)
            except psycopg.Error as exc:
                log.warning("task channel: listening again after %s", type(exc).__name__)
                await asyncio.sleep(POLL_SECONDS)

    def _heard(self, payload: str) -> None:
        note = _json.loads(payload)
        if not isinstance(note, dict) or note.get("from") == self.store.replica:
            return  # its own: the replica that forwards a message does not wait for it
        key = note.get("key")
        direction = note.get("direction")
        if direction not in ("in", "out", "closed", "call", "reply", "resume", "resumed"):
            return
        heard = Forwarded(
            int(note.get("id") or 0),
            str(note.get("session")),
            direction,
            key if isinstance(key, str | int) and not isinstance(key, bool) else None,
        )
        for hearer in self._hearers:
            hearer(heard)

    def _wake(self, task_id: str) -> None:
        for waker in self._wakers.get(task_id, ()):
            waker.set()

    def _wake_all(self) -> None:
        for wakers in self._wakers.values():
            for waker in wakers:
                waker.set()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def publish(self, task_id: str, item: StreamItem) -> None:
        with self.store.pool.connection() as conn:
            conn.execute(
                "WITH e AS (INSERT INTO task_events (task_id, body) VALUES (%s, %s) RETURNING id)"
                " SELECT pg_notify(%s, %s) FROM e",
                (task_id, _encode(item), EVENTS, task_id),
            )

    def cancel(self, task_id: str) -> None:
        with self.store.pool.connection() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (CANCELS, task_id))

    def hear(self, hearer: Hearer) -> None:
        self._hearers.append(hearer)

    def forward(
        self, session: str, direction: Direction, body: bytes, key: str | int | None = None
    ) -> None:
        note = {"session": session, "direction": direction, "key": key}
        note["from"] = self.store.replica
        now = time.time_ns()
        with self.store.pool.connection() as conn:
            if direction == "closed":
                conn.execute("SELECT pg_notify(%s, %s)", (FORWARDS, _json.dumps(note).decode()))
                return
            old = now - int(FORWARD_SECONDS * 1e9)
            conn.execute("DELETE FROM mcp_messages WHERE at < %s", (old,))
            row = conn.execute(
                "INSERT INTO mcp_messages (session, body, at) VALUES (%s, %s, %s) RETURNING id",
                (session, body, now),
            ).fetchone()
            assert row is not None  # an INSERT ... RETURNING returns its row
            note["id"] = int(str(row[0]))
            conn.execute("SELECT pg_notify(%s, %s)", (FORWARDS, _json.dumps(note).decode()))

    def take(self, message_id: int) -> bytes | None:
        with self.store.pool.connection() as conn:
            row = conn.execute(
                "DELETE FROM mcp_messages WHERE id = %s RETURNING body", (message_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def _read(self, task_id: str, after: int) -> list[tuple[int, StreamItem]]:
        with self.store.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, body FROM task_events WHERE task_id = %s AND id > %s ORDER BY id",
                (task_id, after),
            ).fetchall()
        return [(int(row[0]), _decode(str(row[1]))) for row in rows]

    def log(self, task_id: str) -> list[StreamItem]:
        return [item for _, item in self._read(task_id, 0)]

    async def follow(self, task_id: str, after: int = 0) -> AsyncIterator[StreamItem]:
        waker = asyncio.Event()
        self._wakers.setdefault(task_id, set()).add(waker)
        position, skip = 0, after
        settling: float | None = None  # when the store was first found settled, log quiet
        try:
            while True:
                waker.clear()
                fresh = self._read(task_id, position)
                for n, (at, item) in enumerate(fresh):
                    position = at
                    if skip:
                        skip -= 1
                        continue
                    yield item
                    # A settled snapshot ends the follow, unless the task was resumed since.
                    if isinstance(item, Task) and settled(item) and n == len(fresh) - 1:
                        return
                wait = POLL_SECONDS
                if fresh:
                    settling = None
                else:
                    stored = self.store.load(task_id)
                    if stored is None:
                        return
                    # Ended with no word in the log (failed by a survivor): its snapshot,
                    # once its runner had time to publish its last items (they are the
                    # live account). One waiting for input may yet be resumed: followed on.
                    if lifecycle.is_terminal(stored.task.state):
                        now = time.monotonic()
                        settling = now if settling is None else settling
                        wait = settling + SETTLING_SECONDS - now
                        if wait <= 0 and not self._read(task_id, position):
                            yield stored.task
                            return
                        wait = max(wait, 0.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker.wait(), wait)
        finally:
            wakers = self._wakers.get(task_id)
            if wakers is not None:
                wakers.discard(waker)
                if not wakers:
                    del self._wakers[task_id]


def channel_for(store: TaskStore) -> Channel:
    """The channel of the replicas that share ``store`` (none but this process: local)."""
    if not store.shared:
        return LocalChannel()
    from gateway.runtime.postgres import PostgresTaskStore  # noqa: PLC0415 - optional

    if not isinstance(store, PostgresTaskStore):
        raise TypeError(f"no channel for a shared {type(store).__name__}")
    return PostgresChannel(store)
