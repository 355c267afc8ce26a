"""The relay and the wake-ups it sends: rows numbered by another process's
relay, a window that widens under a sustained stream, a bad message among
the good ones of a wake-up, and the batch paths of publishing."""

from __future__ import annotations

import asyncio

import pytest

from pgext.engine import PgextEngine
from pgext.pubsub import (
    BadMessage,
    Channel,
    Hub,
    InvalidPayload,
    Message,
    install_schema,
)

from .conftest import Note

pytestmark = pytest.mark.postgres


async def test_rows_numbered_by_another_relay_are_delivered_and_settle(
    ps_engine: PgextEngine,
) -> None:
    """Another hub's relay (another process, in production) numbers the
    rows first: the subscriber still gets them, and the publishing hub's
    relay sees that nothing is left to number instead of looking again
    every few milliseconds until it gives up."""
    chan = Channel("relay_other", Note, durable=True)
    # A long window, so the other relay surely gets there first.
    publisher = Hub(ps_engine, relay_window=0.2, poll_interval=60)
    other = Hub(ps_engine, poll_interval=60)
    async with publisher, other, other.subscribe(chan) as sub:
        for n in range(3):
            await publisher.publish(chan, {"n": n})
        assert await other.relay.stamp_once() >= 3
        got = [await sub.get(timeout=5) for _ in range(3)]
        assert [e.data.n for e in got if isinstance(e, Message)] == [0, 1, 2]
        rounds = publisher.relay.rounds
        await publisher.flush(timeout=2)  # would wait out give_up (5 s)
        assert publisher.relay.rounds - rounds <= 2
        assert publisher.relay.pending == 0


async def test_window_widens_under_a_stream_up_to_its_cap(
    ps_engine: PgextEngine,
) -> None:
    chan = Channel("relay_window", Note, durable=True)
    hub = Hub(ps_engine, relay_window=0.001, relay_max_window=0.006)
    widest = 0.0
    async with hub, hub.subscribe(chan, queue_size=100_000) as sub:
        # Far above the relay's "sustained stream" rate, for a second.
        loop = asyncio.get_running_loop()
        stop = loop.time() + 1.0
        sent = 0
        while loop.time() < stop:
            sent += await hub.publish_many(chan, [{"n": sent + k} for k in range(50)])
            widest = max(widest, hub.relay.current_window)
            await asyncio.sleep(0.002)
        got = [await sub.get(timeout=10) for _ in range(sent)]
        assert [e.data.n for e in got if isinstance(e, Message)] == list(range(sent))
        assert widest == pytest.approx(0.006), "the window grew to its cap"
        # A trickle: the window comes back down.
        for n in range(6):
            await hub.publish(chan, {"n": sent + n})
            await hub.flush()
            await asyncio.sleep(0.05)
        assert hub.relay.current_window == pytest.approx(0.001)


async def test_a_bad_message_in_a_wake_up_spoils_only_itself(
    ps_engine: PgextEngine,
) -> None:
    """The messages of a wake-up are validated in one call; when one of
    them is bad, the others are still delivered, in order, and the bad one
    becomes a BadMessage at its own position."""
    chan = Channel("relay_bad_in_batch", Note, durable=True)
    hub = Hub(ps_engine, poll_interval=60)
    async with hub, hub.subscribe(chan, on_invalid="surface") as sub:
        while hub.follower.outbox_reads == 0:  # the subscription's first read
            await asyncio.sleep(0.01)
        reads = hub.follower.outbox_reads
        async with ps_engine.connection() as conn:
            await conn.execute(
                "INSERT INTO pgext_outbox (channel, payload) "
                "SELECT $1, p FROM unnest($2::text[]) WITH ORDINALITY AS u(p, k) "
                "ORDER BY k",
                chan.name,
                ['{"n": 1}', '{"n": "one"}', "{nope", '{"n": 4}'],
            )
        hub.relay.kick(4)
        got = [await sub.get(timeout=5) for _ in range(4)]
        assert hub.follower.outbox_reads == reads, "taken from the wake-up"
    assert [type(e) for e in got] == [Message, BadMessage, BadMessage, Message]
    ids = [e.id for e in got]  # type: ignore[union-attr]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert got[0].data.n == 1 and got[3].data.n == 4  # type: ignore[union-attr]


def test_publish_many_validates_a_batch_like_one_by_one() -> None:
    notes = Channel("relay_many", Note)
    payloads = [Note(n=1), {"n": 2, "text": "b"}, Note(n=3, text="c")]
    assert notes.encode_many(payloads) == [notes.encode(p) for p in payloads]
    mutated = Note(n=4)
    mutated.n = "x"  # type: ignore[assignment]
    with pytest.raises(InvalidPayload):
        notes.encode_many([Note(n=5), mutated])
    with pytest.raises(InvalidPayload, match="relay_many"):
        notes.encode_many([{"n": 6}, {"n": "six"}])


async def test_relay_keeps_delivering_on_a_schema_from_before_settled(
    ps_engine: PgextEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """pgext upgraded, its schema steps not run again: the stamp function
    has no ``settled`` column.  The relay says so once and keeps numbering
    with the old function, so durable messages still arrive."""
    async with ps_engine.connection() as conn:
        await conn.execute(
            "ALTER FUNCTION pgext_outbox_stamp(integer) RENAME TO pgx_stamp_now"
        )
        await conn.execute(
            """CREATE FUNCTION pgext_outbox_stamp(
                   batch integer, OUT stamped bigint, OUT more boolean)
               LANGUAGE sql AS
               $$ SELECT s.stamped, s.more FROM pgx_stamp_now(batch) AS s $$"""
        )
    chan = Channel("relay_old_schema", Note, durable=True)
    hub = Hub(ps_engine)
    try:
        with caplog.at_level("WARNING", logger="pgext.pubsub.relay"):
            async with hub, hub.subscribe(chan) as sub:
                for n in range(3):
                    await hub.publish(chan, {"n": n})
                got = [await sub.get(timeout=5) for _ in range(3)]
                assert [e.data.n for e in got if isinstance(e, Message)] == [0, 1, 2]
                assert hub.relay.errors == 0
        warnings = [r for r in caplog.records if "predates" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        async with ps_engine.connection() as conn:
            await conn.execute("DROP FUNCTION pgext_outbox_stamp(integer)")
            await conn.execute("DROP FUNCTION pgx_stamp_now(integer)")
        await install_schema(ps_engine)
