"""Following a task's log on another replica (``PostgresChannel.follow``), on a real
PostgreSQL: a follower that finds the task settled in the store before the item saying so is in
the log waits for that item (the live account), and ends with the stored snapshot only when
none comes (the task's replica died and a survivor failed it)."""

from __future__ import annotations

import asyncio

import pytest

from adapters.model import StatusEvent, StreamItem, Task, TaskState
from gateway.runtime.channel import SETTLING_SECONDS, PostgresChannel
from gateway.runtime.postgres import PostgresTaskStore

pytestmark = pytest.mark.anyio


async def _followed(channel: PostgresChannel, task_id: str) -> list[StreamItem]:
    return [item async for item in channel.follow(task_id)]


async def test_a_follower_waits_for_the_last_items_of_a_task_the_store_says_settled(
    postgres_url: str,
) -> None:
    store = PostgresTaskStore(postgres_url, replica="one")
    channel = PostgresChannel(store)
    await channel.start(lambda _: None)
    try:
        working = Task("t-1", TaskState.WORKING, "c-1")
        done = Task("t-1", TaskState.COMPLETED, "c-1")
        store.save(working, agent="echo", owner=None, endpoint="a2a")
        follower = asyncio.get_running_loop().create_task(_followed(channel, "t-1"))
        await asyncio.sleep(0.3)  # following: it has read the empty log once
        # As a runner does: the settled state is saved, then its items are published. The
        # follower reads between the two: its poll comes due (woken here at that moment).
        store.save(done, agent="echo", owner=None, endpoint="a2a")
        channel._wake("t-1")
        await asyncio.sleep(SETTLING_SECONDS / 4)
        channel.publish("t-1", StatusEvent("t-1", TaskState.WORKING, "c-1"))
        channel.publish("t-1", StatusEvent("t-1", TaskState.COMPLETED, "c-1"))
        channel.publish("t-1", done)
        items = await asyncio.wait_for(follower, 30)
    finally:
        await channel.close()
    assert [type(i).__name__ for i in items] == ["StatusEvent", "StatusEvent", "Task"]
    assert [getattr(i, "state", None) for i in items] == [
        TaskState.WORKING,
        TaskState.COMPLETED,
        TaskState.COMPLETED,
    ]


async def test_a_task_settled_with_nothing_in_its_log_ends_the_follow_with_its_snapshot(
    postgres_url: str,
) -> None:
    store = PostgresTaskStore(postgres_url, replica="one")
    channel = PostgresChannel(store)
    await channel.start(lambda _: None)
    try:
        store.save(Task("t-2", TaskState.WORKING, "c-2"), agent="echo", owner=None, endpoint="a2a")
        follower = asyncio.get_running_loop().create_task(_followed(channel, "t-2"))
        await asyncio.sleep(0.3)
        # Failed by a survivor: no item will ever say so.
        store.save(Task("t-2", TaskState.FAILED, "c-2"), agent="echo", owner=None, endpoint="a2a")
        items = await asyncio.wait_for(follower, 30)
    finally:
        await channel.close()
    assert items == [Task("t-2", TaskState.FAILED, "c-2")]
