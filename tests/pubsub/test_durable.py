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
                "SELECT id, pos FROM pgext_outbox WHERE channel = $1 ORDER BY id",
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
