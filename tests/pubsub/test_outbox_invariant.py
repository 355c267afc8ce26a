"""The stamper's invariant: every id it takes for handed out was drawn by a
transaction older than its round, so no committed message is ever left
unnumbered.  Plus the repair path for outboxes damaged before the fix, and
a hub close that is bounded in time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message

from .conftest import Note, proxied_config
from .proxy import StallingProxy

pytestmark = pytest.mark.postgres

SEQ = "pgext_outbox_id_seq"


async def stamp_until_no_gaps(conn: Any, limit: float = 10) -> None:
    """Stamp rounds until the state holds no gaps: the ids the stamper took
    for handed out and did not find have then been given up for good."""
    give_up = time.monotonic() + limit
    while True:
        await conn.fetch("SELECT * FROM pgext_outbox_stamp(1000)")
        gaps = await conn.fetchval("SELECT gaps FROM pgext_outbox_state")
        if not gaps:
            return
        assert time.monotonic() < give_up, f"gaps never dropped: {gaps}"
        await asyncio.sleep(0.05)


async def test_a_top_ahead_of_the_drawn_ids_loses_nothing(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """The lost-messages defect, made deterministic.  A plain read of the
    sequence could return a value up to 32 ahead of the ids drawn (a torn
    read of the tuple while nextval pre-logs).  Here a relation named like
    the sequence, first on the search path, plays that read: on pgext
    0.1.0 the stamper took its 32 ids for handed out, gave them up, and the
    five messages published next were never delivered."""
    chan = Channel("durable_torn_top", Note, durable=True)
    conn = await ps_engine.get_new_connection()
    try:
        async with hub.subscribe(chan) as sub:
            drawn = await conn.fetchval(f"SELECT pg_sequence_last_value('{SEQ}')")
            await conn.execute("DROP SCHEMA IF EXISTS pgext_torn CASCADE")
            await conn.execute("CREATE SCHEMA pgext_torn")
            await conn.execute(
                f"CREATE TABLE pgext_torn.{SEQ} AS "
                f"SELECT {int(drawn or 0) + 32}::bigint AS last_value, "
                "true AS is_called"
            )
            await conn.execute("SET search_path = pgext_torn, public")
            await stamp_until_no_gaps(conn)
            await conn.execute("RESET search_path")
            for n in range(5):
                await hub.publish(chan, {"n": n})
            got = [await sub.get(timeout=5) for _ in range(5)]
            assert [m.data.n for m in got if isinstance(m, Message)] == list(range(5))
        assert await hub.check_outbox() == 0
    finally:
        await conn.execute("DROP SCHEMA IF EXISTS pgext_torn CASCADE")
        await conn.close()


READERS_SQL = """
DO $$
DECLARE
    plain bigint; locked bigint; after bigint;
    plain_ahead int := 0; drawn_ahead int := 0;
BEGIN
    FOR i IN 1..{reads} LOOP
        SELECT last_value INTO plain FROM pgext_race_seq;
        locked := pgext_outbox_drawn('pgext_race_seq');
        after := pg_sequence_last_value('pgext_race_seq');
        IF plain > after THEN plain_ahead := plain_ahead + 1; END IF;
        IF locked > after THEN drawn_ahead := drawn_ahead + 1; END IF;
    END LOOP;
    RAISE NOTICE 'race % %', plain_ahead, drawn_ahead;
END $$
"""


async def test_the_stampers_sequence_read_never_runs_ahead(
    ps_engine: PgextEngine,
) -> None:
    """Sequence reads raced against nextval with checkpoints forced, as in
    the measurement that found the defect.  The plain read is the control:
    it must be caught ahead at least once, or the race was not exercised.
    The read the stamper uses (under the buffer lock) never is."""
    admin = await ps_engine.get_new_connection()
    await admin.execute("DROP SEQUENCE IF EXISTS pgext_race_seq")
    await admin.execute("CREATE SEQUENCE pgext_race_seq CACHE 1")
    readers = [await ps_engine.get_new_connection() for _ in range(2)]
    writers = [await ps_engine.get_new_connection() for _ in range(2)]
    notices: list[str] = []
    for reader in readers:
        reader.add_log_listener(lambda _c, m: notices.append(m.message))
    plain_ahead = drawn_ahead = 0
    give_up = time.monotonic() + 90
    try:
        spinning = [
            asyncio.create_task(
                w.execute(
                    "DO $$ BEGIN LOOP PERFORM nextval('pgext_race_seq'); "
                    "END LOOP; END $$"
                )
            )
            for w in writers
        ]
        while plain_ahead == 0 and time.monotonic() < give_up:
            notices.clear()
            rounds = [
                asyncio.create_task(r.execute(READERS_SQL.format(reads=200_000)))
                for r in readers
            ]
            while not all(t.done() for t in rounds):
                await admin.execute("CHECKPOINT")
                await asyncio.sleep(0.1)
            for t in rounds:
                t.result()
            for message in notices:
                _, plain, drawn = message.split()
                plain_ahead += int(plain)
                drawn_ahead += int(drawn)
    finally:
        # Closing the client would leave the server-side loops spinning.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
            [w.get_server_pid() for w in writers],
        )
        await asyncio.gather(*spinning, return_exceptions=True)
        for w in writers:
            w.terminate()
        for r in readers:
            await r.close()
        await admin.execute("DROP SEQUENCE IF EXISTS pgext_race_seq")
        await admin.close()
    assert plain_ahead > 0, "the race was not exercised (plain read never ahead)"
    assert drawn_ahead == 0


async def test_unnumbered_rows_are_counted_and_repaired(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """An outbox as the defect left it: a committed row whose id the
    stamper had already given up.  check_outbox() counts it, stats() shows
    it, and repair_outbox() delivers it late rather than never."""
    chan = Channel("durable_repair", Note, durable=True)
    conn = await ps_engine.get_new_connection()
    try:
        async with hub.subscribe(chan) as sub:
            lost_id = await conn.fetchval(f"SELECT nextval('{SEQ}')")
            await stamp_until_no_gaps(conn)
            await conn.execute(
                "INSERT INTO pgext_outbox (id, channel, payload) VALUES ($1, $2, $3)",
                lost_id,
                chan.name,
                '{"n": 7}',
            )
            await hub.publish(chan, {"n": 8})
            first = await sub.get(timeout=5)
            assert isinstance(first, Message) and first.data.n == 8
            assert await hub.check_outbox() == 1
            assert hub.stats()["unnumbered_rows"] == 1
            assert await hub.repair_outbox() == 1
            late = await sub.get(timeout=5)
            assert isinstance(late, Message) and late.data.n == 7
            assert late.id is not None and first.id is not None
            assert late.id > first.id
        assert await hub.check_outbox() == 0
        assert hub.stats()["unnumbered_rows"] == 0
        assert await hub.repair_outbox() == 0
    finally:
        await conn.close()


async def test_a_state_left_ahead_of_the_sequence_is_healed(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """pgext 0.1.0's stamper could leave ``seen`` above every id drawn; ids
    drawn later below it would never be numbered.  The next round moves
    the sequence past ``seen``, so what is published next is delivered."""
    chan = Channel("durable_healed", Note, durable=True)
    conn = await ps_engine.get_new_connection()
    try:
        async with hub.subscribe(chan) as sub:
            await hub.flush()
            drawn = await conn.fetchval(f"SELECT pg_sequence_last_value('{SEQ}')")
            await conn.execute(
                "UPDATE pgext_outbox_state SET seen = $1, gaps = '{}', "
                "gap_until = '{}'",
                drawn + 20,
            )
            await conn.fetch("SELECT * FROM pgext_outbox_stamp(1000)")
            healed = await conn.fetchval(f"SELECT pg_sequence_last_value('{SEQ}')")
            assert healed >= drawn + 20
            await hub.publish(chan, {"n": 1})
            got = await sub.get(timeout=5)
            assert isinstance(got, Message) and got.data.n == 1
        assert await hub.check_outbox() == 0
    finally:
        await conn.close()


async def test_close_is_bounded_on_a_half_open_network(
    proxy: StallingProxy,
    postgres_config: dict[str, Any],
    hub: Hub,
) -> None:
    """A hub whose every connection went silent mid-stream (big durable
    messages read from the table, plain ones, a relay round) still closes
    within its timeout, and its connections are gone."""
    engine = await asyncio.to_thread(
        PgextEngine, config=proxied_config(postgres_config, proxy.port)
    )
    big = Channel("close_bounded_big", Note, durable=True)
    plain = Channel("close_bounded_plain", Note)
    far = Hub(engine, check_interval=30, poll_interval=0.2, query_timeout=60)
    durable_sub = await far.subscribe(big).ready()
    plain_sub = await far.subscribe(plain).ready()
    await far.publish(big, {"n": 1, "text": "x" * 7900})
    got = await durable_sub.get(timeout=5)
    assert isinstance(got, Message) and got.data.n == 1
    proxy.stall()
    for n in range(2, 6):
        await hub.publish(big, {"n": n, "text": "x" * 7900})
    await asyncio.sleep(0.5)  # the far hub's reads now wait on silence
    started = time.monotonic()
    await far.close(timeout=2)
    took = time.monotonic() - started
    assert took < 4, f"close took {took:.1f}s"
    assert plain_sub.closed and durable_sub.closed
    assert not far.listener.connected
