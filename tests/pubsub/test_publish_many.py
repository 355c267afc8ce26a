"""publish_many: one statement for a batch, in order, all or nothing, on
plain and durable channels."""

from __future__ import annotations

import asyncio

import pytest

from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, InvalidPayload, Message

from .conftest import Note

pytestmark = pytest.mark.postgres


async def received(sub: object, count: int) -> list[Message[Note]]:
    out: list[Message[Note]] = []
    while len(out) < count:
        event = await sub.get(timeout=10)  # type: ignore[attr-defined]
        assert isinstance(event, Message), event
        out.append(event)
    return out


async def test_plain_batch_in_order_with_equal_payloads(hub: Hub) -> None:
    """Equal payloads are delivered once each: PostgreSQL folds identical
    notifications of one transaction, so each envelope must differ."""
    notes = Channel("many_plain", Note)
    batch = [Note(n=n % 3) for n in range(30)]
    async with hub.subscribe(notes) as sub:
        assert await hub.publish_many(notes, batch) == 30
        got = await received(sub, 30)
        with pytest.raises(asyncio.TimeoutError):
            await sub.get(timeout=0.3)
    assert [m.data.n for m in got] == [n % 3 for n in range(30)]


async def test_plain_batch_with_a_spilled_payload(hub: Hub) -> None:
    notes = Channel("many_spill", Note)
    batch = [Note(n=0), Note(n=1, text="x" * 9000), Note(n=2)]
    async with hub.subscribe(notes) as sub:
        await hub.publish_many(notes, batch)
        got = await received(sub, 3)
    assert [(m.data.n, len(m.data.text)) for m in got] == [(0, 0), (1, 9000), (2, 0)]


async def test_durable_batch_numbered_in_order(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    notes = Channel("many_durable", Note, durable=True)
    async with hub.subscribe(notes) as sub:
        await hub.publish(notes, Note(n=-1))
        async with ps_engine.transaction():
            await hub.publish_many(notes, [{"n": n} for n in range(200)])
        await hub.publish(notes, Note(n=200))
        got = await received(sub, 202)
    assert [m.data.n for m in got] == list(range(-1, 201))
    ids = [m.id for m in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_all_or_nothing(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("many_invalid", Note, durable=True)
    async with hub.subscribe(notes) as sub:
        with pytest.raises(InvalidPayload):
            await hub.publish_many(notes, [{"n": 1}, {"n": "not a number"}])
        try:
            async with ps_engine.transaction():
                await hub.publish_many(notes, [{"n": 2}, {"n": 3}])
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert await hub.publish_many(notes, []) == 0
        await hub.publish_many(notes, [{"n": 4}])
        got = await received(sub, 1)
        assert [m.data.n for m in got] == [4]


async def test_a_publish_outside_a_transaction_costs_one_statement(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """Its connection goes back to the hub's pool without asyncpg's reset
    (a second round trip): the last statement its backend ran is the
    publish itself."""
    notes = Channel("many_one_statement", Note)
    await hub.publish(notes, Note(n=1))
    async with hub.sends.connection() as conn:
        pid = conn.get_server_pid()
    async with ps_engine.connection() as conn:
        last = await conn.fetchval(
            "SELECT query FROM pg_stat_activity WHERE pid = $1", pid
        )
    assert last == "SELECT pg_notify($1, $2)"
