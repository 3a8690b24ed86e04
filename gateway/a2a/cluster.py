"""A2A tasks across gateway replicas: a2a-sdk's cross-replica event stream
(``TaskEventStream``) over the runtime's channel (``gateway.runtime.channel``).

With it, the SDK's request handler answers for a task another replica runs: SubscribeToTask
serves the stored snapshot, then the events that replica publishes; CancelTask records the
task canceled in the store and publishes that, and this stream asks the replica that runs
the task to stop it (its bridge ends the call as canceled). Events travel as canonical
stream items, the same log the runtime's other tasks use.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from a2a.server.cluster.event_stream import TaskEventStream, VersionedEvent
from a2a.server.cluster.version import TaskVersion
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format

from adapters import a2a
from adapters.a2a import proto
from gateway.runtime.runner import Runtime


def _stream_response(event: object) -> pb.StreamResponse:
    out = pb.StreamResponse()
    match event:
        case pb.Task():
            out.task.CopyFrom(event)
        case pb.Message():
            out.message.CopyFrom(event)
        case pb.TaskStatusUpdateEvent():
            out.status_update.CopyFrom(event)
        case pb.TaskArtifactUpdateEvent():
            out.artifact_update.CopyFrom(event)
        case _:
            raise TypeError(f"not an A2A event: {type(event).__name__}")
    return out


class ChannelEventStream(TaskEventStream):
    """The SDK's events of each task, published on and followed from the runtime's channel."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def publish(self, task_id: str, event: VersionedEvent) -> None:
        wire = json_format.MessageToDict(_stream_response(event.event))
        item = a2a.decode_stream_item(wire)
        channel = self.runtime.channel
        channel.publish(task_id, item)
        canceled = (
            isinstance(event.event, pb.TaskStatusUpdateEvent)
            and event.event.status.state == pb.TASK_STATE_CANCELED
        )
        if canceled and task_id not in self.runtime.cancellers:
            # Canceled here, running elsewhere: that replica stops the work.
            channel.cancel(task_id)

    async def subscribe(
        self, task_id: str, *, after: TaskVersion
    ) -> AsyncGenerator[VersionedEvent, None]:
        channel = self.runtime.channel
        # The caller was handed the stored snapshot: what follows is what comes next.
        seen = len(channel.log(task_id))
        async for item in channel.follow(task_id, seen):
            yield VersionedEvent(proto.encode_event(item), TaskVersion.MISSING)

    async def destroy(self, task_id: str) -> None:
        """Nothing to release: a task's log goes with the task (retention)."""
