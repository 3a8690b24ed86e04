"""One remote ACP run's event stream, read as what the run means for its caller (sans-I/O).

``decode_stream_item`` maps each ACP event on its own, which is what a round trip needs. A
caller of a remote ACP agent needs more: acp-sdk's server opens every streamed answer with an
empty ``message.created`` and then sends its parts one by one, so a message event is not an
answer, and the parts are chunks of one output message. :class:`RunReader` keeps the little
state that reading needs:

- ``message.part`` -> an artifact chunk of output message *i* (``output-<i>``, the id the
  run's own output gets from ``decode_outcome``), appending after the message's first part;
- ``message.created`` / ``message.completed`` -> nothing (the parts carry the content, the
  final run carries the whole output);
- ``run.in-progress`` -> a working status; ``run.awaiting`` -> input-required, its question an
  agent's message with a fresh id that names the run to resume (``question_id``);
- ``run.created`` -> a submitted snapshot, unless the stream is a resumed run's;
- ``run.completed`` / ``run.failed`` / ``run.cancelled`` -> the final snapshot;
- ``generic`` and ``error`` as ``decode_stream_item`` reads them.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from adapters import _wire as w
from adapters.acp.runs import decode_outcome, decode_stream_item
from adapters.model import Artifact, ArtifactEvent, StatusEvent, StreamItem, TaskState


class RunReader:
    """Reads the events of run ``run_id`` (``resumed``: a stream that continues it after
    its caller answered). Not thread-safe; one per stream."""

    def __init__(self, run_id: str, *, resumed: bool = False) -> None:
        self.run_id = run_id
        self.resumed = resumed
        self.state: TaskState | None = None
        """The run's last state seen (None before its first run event)."""
        self.question_id: str | None = None
        """The id given to the question of a run that awaits its caller."""
        self._messages = 0
        self._parts = 0

    @property
    def open(self) -> bool:
        """Whether the run may still work upstream: neither seen to finish nor to wait."""
        return self.state is None or self.state in (TaskState.SUBMITTED, TaskState.WORKING)

    def feed(self, raw: Any) -> list[StreamItem]:
        """The canonical items of one event (none for an event that carries nothing new).

        Raises:
            EffmeshError: a malformed event, or an ``error`` event (the peer's error).
        """
        event = w.obj(raw, "event")
        kind = w.req_str(event, "type", "event")
        if kind == "message.created":
            self._messages += 1
            self._parts = 0
            return []
        if kind == "message.completed":
            return []
        if kind == "message.part":
            item = decode_stream_item(event, run_id=self.run_id)
            assert isinstance(item, ArtifactEvent)
            index = max(self._messages - 1, 0)
            chunk = Artifact(f"output-{index}", item.artifact.parts)
            self._parts += 1
            return [ArtifactEvent(self.run_id, chunk, append=self._parts > 1)]
        if not kind.startswith("run."):
            return [decode_stream_item(event, run_id=self.run_id)]
        task = decode_outcome(event.get("run"))
        self.state = task.state
        if kind == "run.created":
            return [] if self.resumed else [task]
        if task.state is TaskState.WORKING:
            return [StatusEvent(self.run_id, TaskState.WORKING, task.context_id)]
        if task.state is TaskState.INPUT_REQUIRED:
            self.question_id = str(uuid.uuid4())
            asked = task.status_message
            # The agent asks, whatever role acp-sdk's default gave the message (user).
            question = replace(asked, role="agent", message_id=self.question_id) if asked else None
            return [StatusEvent(self.run_id, task.state, task.context_id, question)]
        return [task]
