"""Durable channels: outbox in the writer's transaction, commit-ordered ids,
resume from an id, no NOTIFY on the writers' commit path, pruning."""

from __future__ import annotations

import asyncio
import datetime
import random

import pytest
from pydantic import BaseModel

from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message
from pgext.pubsub.schema import WAKE_CHANNEL

from .conftest import Note

pytestmark = pytest.mark.postgres


class Tagged(BaseModel):
    writer: int
    seq: int


async def collect(
    sub: object, count: int, timeout: float = 20
) -> list[Message[Tagged]]:
    out: list[Message[Tagged]] = []

    async def run() -> None:
        while len(out) < count:
            event = await sub.get()  # type: ignore[attr-defined]
            assert isinstance(event, Message), event
            out.append(event)

    await asyncio.wait_for(run(), timeout)
    return out


def check_complete_and_ordered(
    got: list[Message[Tagged]], writers: int, per_writer: int
) -> None:
    ids = [m.id for m in got]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids), "ids must arrive in increasing order"
    unique = {(m.data.writer, m.data.seq) for m in got}
    assert unique == {(w, s) for w in range(writers) for s in range(per_writer)}
    for w in range(writers):
        seqs = [m.data.seq for m in got if m.data.writer == w]
        # At-least-once: duplicates allowed, but never out of order.
        assert seqs == sorted(seqs)


async def test_resume_from_last_id(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("durable_resume", Note, durable=True)
    async with hub.subscribe(notes) as sub:
        for n in range(10):
            await hub.publish(notes, {"n": n})
        first = [await sub.get(timeout=5) for _ in range(4)]
    assert [e.data.n for e in first] == [0, 1, 2, 3]  # type: ignore[union-attr]
    last = first[-1].id  # type: ignore[union-attr]
    for n in range(10, 15):
        await hub.publish(notes, {"n": n})
    async with hub.subscribe(notes, from_id=last) as again:
        rest = [await again.get(timeout=5) for _ in range(11)]
    assert [e.data.n for e in rest] == list(range(4, 15))  # type: ignore[union-attr]


async def test_late_commit_with_smaller_sequence_id_is_not_missed(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """The hazard of numbering before commit, made deterministic: A takes a
    sequence id first but commits after B; a reader that had moved past B's
    id would never see A."""
    chan = Channel("durable_late", Note, durable=True)
    async with hub.subscribe(chan) as sub:
        a = await ps_engine.get_new_connection()
        b = await ps_engine.get_new_connection()
        try:
            tx_a = a.transaction()
            await tx_a.start()
            await hub.publish(chan, {"n": 1, "text": "A"}, connection=a)
            await hub.publish(chan, {"n": 2, "text": "B"}, connection=b)
            got_b = await sub.get(timeout=5)
            assert isinstance(got_b, Message) and got_b.data.text == "B"
            await tx_a.commit()
            got_a = await sub.get(timeout=5)
            assert isinstance(got_a, Message) and got_a.data.text == "A"
            assert got_a.id is not None and got_b.id is not None
            assert got_a.id > got_b.id
            rows = await a.fetch(
                "SELECT o.id, b.first_pos + t.k - 1 AS pos "
                "FROM pgext_outbox_batch b, unnest(b.ids) WITH ORDINALITY t(id, k) "
                "JOIN pgext_outbox o ON o.id = t.id "
                "WHERE o.channel = $1 ORDER BY o.id",
                chan.name,
            )
            # A's sequence id is the smaller one; its position the larger.
            assert [r["pos"] for r in rows] == [got_a.id, got_b.id]
        finally:
            await a.close()
            await b.close()


async def test_concurrent_writers_lose_nothing_and_keep_order(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    chan = Channel("durable_concurrent", Tagged, durable=True)
    writers, per_writer = 8, 40

    async def writer(w: int) -> None:
        rng = random.Random(w)
        conn = await ps_engine.get_new_connection()
        try:
            for seq in range(per_writer):
                async with conn.transaction():
                    await hub.publish(chan, {"writer": w, "seq": seq}, connection=conn)
                    # Hold some transactions open so commits overtake
                    # sequence order.
                    if rng.random() < 0.3:
                        await asyncio.sleep(rng.random() * 0.01)
        finally:
            await conn.close()

    async with hub.subscribe(chan, queue_size=50) as sub:
        await asyncio.gather(*(writer(w) for w in range(writers)))
        got = await collect(sub, writers * per_writer)
    check_complete_and_ordered(got, writers, per_writer)


async def test_rolled_back_transactions_deliver_nothing(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    chan = Channel("durable_rollback", Note, durable=True)
    async with hub.subscribe(chan) as sub:
        for n in range(5):
            with pytest.raises(ZeroDivisionError):
                async with ps_engine.transaction():
                    await hub.publish(chan, {"n": n})
                    1 / 0  # noqa: B018
        await hub.publish(chan, {"n": 99})
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 99
        with pytest.raises(asyncio.TimeoutError):
            await sub.get(timeout=0.5)


async def test_writers_do_not_notify(hub: Hub, ps_engine: PgextEngine) -> None:
    """Wake-ups come from the relay, once per burst, never from a writer."""
    chan = Channel("durable_no_notify", Tagged, durable=True)
    senders: list[int] = []
    spy = await ps_engine.get_new_connection()
    await spy.add_listener(WAKE_CHANNEL, lambda c, pid, ch, p: senders.append(pid))
    writer_pids: set[int] = set()

    async def writer(w: int) -> None:
        conn = await ps_engine.get_new_connection()
        writer_pids.add(conn.get_server_pid())
        try:
            for seq in range(25):
                async with conn.transaction():
                    await hub.publish(chan, {"writer": w, "seq": seq}, connection=conn)
        finally:
            await conn.close()

    try:
        async with hub.subscribe(chan, queue_size=500) as sub:
            await asyncio.gather(*(writer(w) for w in range(8)))
            got = await collect(sub, 200)
        check_complete_and_ordered(got, 8, 25)
        assert senders, "the relay sends wake-ups"
        assert not writer_pids & set(senders)
        assert len(senders) < 200, "wake-ups are coalesced"
    finally:
        await spy.close()


async def test_foreign_garbage_in_outbox_is_skipped(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    chan = Channel("durable_garbage", Note, durable=True)
    async with hub.subscribe(chan, on_invalid="surface") as sub:
        async with ps_engine.connection() as conn:
            await conn.execute(
                "INSERT INTO pgext_outbox (channel, payload) VALUES ($1, $2), ($1, $3)",
                chan.name,
                "{nope",
                '{"n": 4}',
            )
        hub.relay.kick(2)
        bad = await sub.get(timeout=5)
        good = await sub.get(timeout=5)
    assert bad.__class__.__name__ == "BadMessage" and bad.id is not None  # type: ignore[union-attr]
    assert isinstance(good, Message) and good.data.n == 4


async def test_prune_by_age(hub: Hub, ps_engine: PgextEngine) -> None:
    chan = Channel("durable_prune", Note, durable=True)
    await hub.publish(chan, {"n": 1})
    await hub.flush()
    await hub.prune(datetime.timedelta(hours=1))
    async with ps_engine.connection() as conn:
        before = await conn.fetchval(
            "SELECT count(*) FROM pgext_outbox WHERE channel = $1", chan.name
        )
        assert before == 1
        deleted, _ = await hub.prune(datetime.timedelta(0))
        assert deleted >= 1
        after = await conn.fetchval(
            "SELECT count(*) FROM pgext_outbox WHERE channel = $1", chan.name
        )
        assert after == 0
    with pytest.raises(ValueError):
        await hub.prune(datetime.timedelta(seconds=-1))


async def test_open_transaction_does_not_hold_up_later_messages(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """A transaction that published and stays open keeps only its own ids
    pending; messages committed after it are delivered meanwhile, and once
    it rolls back its ids are forgotten."""
    chan = Channel("durable_open_tx", Note, durable=True)
    async with hub.subscribe(chan) as sub:
        holder = await ps_engine.get_new_connection()
        try:
            tx = holder.transaction()
            await tx.start()
            await hub.publish(chan, {"n": -1}, connection=holder)
            for n in range(3):
                await hub.publish(chan, {"n": n})
            got = [await sub.get(timeout=5) for _ in range(3)]
            assert [e.data.n for e in got] == [0, 1, 2]  # type: ignore[union-attr]
            async with ps_engine.connection() as conn:
                gaps = await conn.fetchval("SELECT gaps FROM pgext_outbox_state")
            assert len(gaps) >= 1, "the open transaction's id is still watched"
            await tx.rollback()
        finally:
            await holder.close()
        await hub.relay.stamp_once()
        async with ps_engine.connection() as conn:
            gaps = await conn.fetchval("SELECT gaps FROM pgext_outbox_state")
        assert gaps == [], "a rolled-back id is dropped once its writer ended"
        await hub.publish(chan, {"n": 3})
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 3


async def test_rare_channel_reader_moves_past_busy_channels(
    ps_engine: PgextEngine,
) -> None:
    """A reader reads a window of positions at a time; positions of other
    channels still move it on, so a rare channel's message is found behind
    many windows of others."""
    busy = Channel("durable_busy", Note, durable=True)
    rare = Channel("durable_rare", Note, durable=True)
    async with Hub(ps_engine, batch=10, poll_interval=0.5) as small:
        async with small.subscribe(rare) as sub:
            start = sub.last_id or 0
            async with ps_engine.transaction():
                for n in range(35):
                    await small.publish(busy, {"n": n})
            await small.flush()  # the busy round is numbered on its own
            await small.publish(rare, {"n": 1})
            event = await sub.get(timeout=5)
            assert isinstance(event, Message) and event.data.n == 1
        rows, reached = await small.read_outbox(start, [rare.name], window=10)
        assert rows == [] and reached >= start + 10, "moves on without matches"


async def test_resume_from_zero_after_pruning(hub: Hub, ps_engine: PgextEngine) -> None:
    chan = Channel("durable_pruned_start", Note, durable=True)
    await hub.publish(chan, {"n": 0})
    await hub.flush()
    await hub.prune(datetime.timedelta(0))
    oldest = await hub.oldest_position()
    for n in (1, 2):
        await hub.publish(chan, {"n": n})
    await hub.flush()
    assert oldest is None or oldest > 1
    async with hub.subscribe(chan, from_id=0) as sub:
        got = [await sub.get(timeout=5) for _ in range(2)]
    assert [e.data.n for e in got] == [1, 2]  # type: ignore[union-attr]


async def test_stamp_refuses_a_transaction_that_already_wrote(
    ps_engine: PgextEngine,
) -> None:
    """Its no-loss argument needs the round's own xid to come after the ids
    it looks at, so it must not run inside a transaction that wrote."""
    import asyncpg

    async with ps_engine.connection() as conn:
        with pytest.raises(asyncpg.RaiseError, match="transaction of its own"):
            async with conn.transaction():
                await conn.execute("SELECT pg_current_xact_id()")
                await conn.fetchrow("SELECT * FROM pgext_outbox_stamp(10)")


async def test_wake_ups_carry_small_messages_and_big_ones_are_read(
    ps_engine: PgextEngine,
) -> None:
    """An up-to-date subscriber takes a round's messages from the relay's
    wake-ups, a round too big for one notification cut into several; a
    message too big for any notification is read from the outbox.  Either
    way every message arrives once, in order."""
    chan = Channel("durable_pushed", Note, durable=True)
    # No polling during the test: every outbox read is one pgext chose.
    hub = Hub(ps_engine, poll_interval=60)
    async with hub, hub.subscribe(chan) as sub:
        while hub.follower.outbox_reads == 0:  # the subscription's first read
            await asyncio.sleep(0.01)
        reads = hub.follower.outbox_reads
        for n in range(5):
            await hub.publish(chan, {"n": n})
            await hub.flush()
        small = [await sub.get(timeout=5) for _ in range(5)]
        assert hub.follower.pushed_rounds >= 5
        assert hub.follower.outbox_reads == reads, "no outbox read while up to date"
        pushed = hub.follower.pushed_rounds
        big = "x" * 3000
        async with hub.engine.transaction():
            for n in range(5, 8):
                await hub.publish(chan, {"n": n, "text": big})
        large = [await sub.get(timeout=5) for _ in range(3)]
        assert hub.follower.outbox_reads == reads, "a 9 kB round came in parts"
        assert hub.follower.pushed_rounds >= pushed + 2
        await hub.publish(chan, {"n": 8, "text": "y" * 9000})
        huge = [await sub.get(timeout=5)]
        assert hub.follower.outbox_reads > reads
    got = small + large + huge
    assert [e.data.n for e in got] == list(range(9))  # type: ignore[union-attr]
    ids = [e.id for e in got]  # type: ignore[union-attr]
    assert ids == sorted(ids) and len(set(ids)) == 9
