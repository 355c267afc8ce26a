"""A slow subscriber costs bounded memory and never holds up others."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message, Overflow, SubscriberTooSlow
from pgext.pubsub.mailbox import Mailbox

from .conftest import Note

pytestmark = pytest.mark.postgres


async def flood(
    ps_engine: PgextEngine, channel: Channel[Note], count: int, key_mod: int = 0
) -> None:
    """Publish ``count`` notes in one transaction per 500 (fast), with
    ``text`` set to n % key_mod as a coalescing key."""
    async with ps_engine.connection() as conn:
        for start in range(0, count, 500):
            async with conn.transaction():
                for n in range(start, min(count, start + 500)):
                    text = str(n % key_mod) if key_mod else ""
                    await conn.execute(
                        "SELECT pg_notify($1, $2)",
                        channel.name,
                        Note(n=n, text=text).model_dump_json(),
                    )
    # Notifications reach the listener shortly after the commits.
    await asyncio.sleep(0.5)


async def drain(sub: object) -> list[Message[Note]]:
    out = []
    while True:
        try:
            event = await sub.get(timeout=0.3)  # type: ignore[attr-defined]
        except asyncio.TimeoutError:
            return out
        assert isinstance(event, Message)
        out.append(event)


async def test_drop_oldest_keeps_the_newest(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("bp_drop", Note)
    async with (
        hub.subscribe(notes, queue_size=50) as slow,
        hub.subscribe(notes, queue_size=5000) as fast,
    ):
        await flood(ps_engine, notes, 2000)
        got_fast = await drain(fast)
        got_slow = await drain(slow)
        assert [e.data.n for e in got_fast] == list(range(2000))
        assert [e.data.n for e in got_slow] == list(range(1950, 2000))
        assert slow.stats()["dropped"] == 1950
        assert fast.stats()["dropped"] == 0


async def test_keep_latest_per_key(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("bp_latest", Note)
    async with hub.subscribe(
        notes,
        queue_size=100,
        overflow=Overflow.KEEP_LATEST,
        key=lambda m: m.data.text,
    ) as sub:
        await flood(ps_engine, notes, 1000, key_mod=10)
        got = await drain(sub)
    # One (the newest) message per key, in order of their last update.
    assert [e.data.n for e in got] == list(range(990, 1000))
    assert sub.stats()["coalesced"] == 990


async def test_disconnect_policy(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("bp_disconnect", Note)
    sub = await hub.subscribe(
        notes, queue_size=10, overflow=Overflow.DISCONNECT
    ).ready()
    other = await hub.subscribe(notes).ready()
    await flood(ps_engine, notes, 50)
    with pytest.raises(SubscriberTooSlow):
        async for _ in sub:
            pass
    # The other subscriber is unaffected.
    assert len(await drain(other)) == 50
    await sub.close()
    await other.close()


async def test_slow_consumer_memory_is_bounded(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    notes = Channel("bp_memory", Note)
    async with hub.subscribe(notes, queue_size=100) as sub:
        await flood(ps_engine, notes, 500)
        await asyncio.sleep(0.3)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        await flood(ps_engine, notes, 5000)
        await asyncio.sleep(0.5)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(
            stat.size_diff
            for stat in after.compare_to(before, "filename")
            if "pgext/pubsub" in stat.traceback[0].filename
        )
        assert len(sub.mailbox) == 100
        assert sub.stats()["dropped"] == 5400
        # 5000 more messages must not mean 50x the memory of 100 queued ones.
        assert grown < 200_000


async def test_put_wait_applies_back_pressure() -> None:
    box: Mailbox[int] = Mailbox(2, Overflow.DROP_OLDEST)
    await box.put_wait(1)
    await box.put_wait(2)
    blocked = asyncio.create_task(box.put_wait(3))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert await box.get() == 1
    await asyncio.wait_for(blocked, 1)
    assert [await box.get(), await box.get()] == [2, 3]
