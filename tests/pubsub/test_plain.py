"""Plain (NOTIFY) channels: typed delivery, transactions, big payloads,
bad input from other writers, callback style, one shared connection."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from pgext.engine import PgextEngine
from pgext.pubsub import BadMessage, Channel, Hub, Message

from .conftest import Note

pytestmark = pytest.mark.postgres


class Blob(BaseModel):
    n: int
    body: str


async def expect_nothing(sub: object, seconds: float = 0.3) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await sub.get(timeout=seconds)  # type: ignore[attr-defined]


async def test_typed_message_fields(hub: Hub) -> None:
    notes = Channel("plain_typed", Note)
    async with hub.subscribe(notes) as sub:
        await hub.publish(notes, Note(n=7, text="seven"))
        event = await sub.get(timeout=5)
    assert isinstance(event, Message)
    assert event.channel == "plain_typed"
    assert isinstance(event.data, Note) and event.data.text == "seven"
    assert event.id is None
    assert event.published_at is not None and event.sender_pid is not None


async def test_commit_delivers_rollback_does_not(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    notes = Channel("plain_tx", Note)
    async with hub.subscribe(notes) as sub:
        async with ps_engine.transaction():
            await hub.publish(notes, {"n": 1})
            await expect_nothing(sub)  # not before commit
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 1

        class Abort(Exception):
            pass

        with pytest.raises(Abort):
            async with ps_engine.transaction():
                await hub.publish(notes, {"n": 2})
                raise Abort
        await hub.publish(notes, {"n": 3})
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 3
        await expect_nothing(sub)


async def test_64kb_payload_arrives_in_order(hub: Hub, ps_engine: PgextEngine) -> None:
    blobs = Channel("plain_big", Blob)
    big = "x" * 65536
    async with hub.subscribe(blobs) as sub:
        await hub.publish(blobs, {"n": 1, "body": "small"})
        await hub.publish(blobs, {"n": 2, "body": big})
        await hub.publish(blobs, {"n": 3, "body": "small again"})
        got = [await sub.get(timeout=5) for _ in range(3)]
    assert [e.data.n for e in got] == [1, 2, 3]  # type: ignore[union-attr]
    assert got[1].data.body == big  # type: ignore[union-attr]
    # Multibyte text counts in bytes: 7000 characters of 2 bytes must spill.
    async with hub.subscribe(blobs) as sub:
        await hub.publish(blobs, {"n": 4, "body": "é" * 7000})
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.body == "é" * 7000


async def test_big_payload_in_rolled_back_transaction(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    blobs = Channel("plain_big_tx", Blob)
    async with hub.subscribe(blobs) as sub:
        with pytest.raises(RuntimeError):
            async with ps_engine.transaction():
                await hub.publish(blobs, {"n": 1, "body": "y" * 20000})
                raise RuntimeError
        await expect_nothing(sub)


async def test_malformed_payloads_are_skipped(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("plain_bad", Note)
    async with hub.subscribe(notes) as sub:
        async with ps_engine.connection() as conn:
            for junk in ("{not json", '{"n": "x"}', "[1, 2]", '{"pgext":1}'):
                await conn.execute("SELECT pg_notify($1, $2)", notes.name, junk)
            # Another writer's bare JSON that fits the model is accepted.
            await conn.execute("SELECT pg_notify($1, $2)", notes.name, '{"n": 5}')
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 5
        assert sub.stats()["invalid"] == 4


async def test_malformed_payloads_surface_by_option(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    notes = Channel("plain_bad_surface", Note)
    async with hub.subscribe(notes, on_invalid="surface") as sub:
        async with ps_engine.connection() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", notes.name, "{oops")
            await conn.execute("SELECT pg_notify($1, $2)", notes.name, '{"n": "x"}')
        await hub.publish(notes, {"n": 1})
        first, second, third = [await sub.get(timeout=5) for _ in range(3)]
    assert isinstance(first, BadMessage) and first.raw == "{oops"
    assert "JSON" in first.error
    assert isinstance(second, BadMessage) and "model" in second.error
    assert isinstance(third, Message) and third.data.n == 1


async def test_callback_style(hub: Hub) -> None:
    notes = Channel("plain_callback", Note)
    seen: list[int] = []
    done = asyncio.Event()

    async def handler(event: object) -> None:
        assert isinstance(event, Message)
        if event.data.n == 2:
            raise ValueError("a failing callback must not stop the feed")
        seen.append(event.data.n)
        if len(seen) == 2:
            done.set()

    sub = await hub.on(notes, handler)
    for n in (1, 2, 3):
        await hub.publish(notes, {"n": n})
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [1, 3]
    await sub.close()


async def test_many_channels_share_one_listener_connection(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    channels = [Channel(f"plain_share_{i}", Note) for i in range(5)]
    subs = [await hub.subscribe(c).ready() for c in channels]
    also = await hub.subscribe(*channels).ready()
    async with ps_engine.connection() as conn:
        listening = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE pid = $1", hub.listener.backend_pid
        )
        assert len(listening) == 1
        assert conn.get_server_pid() != hub.listener.backend_pid
    for i, channel in enumerate(channels):
        await hub.publish(channel, {"n": i})
    for i, sub in enumerate(subs):
        event = await sub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == i
    got = []
    for _ in channels:
        event = await also.get(timeout=5)
        assert isinstance(event, Message)
        got.append(event.data.n)
    got.sort()
    assert got == list(range(5))
    assert hub.listener.reconnects == 0
    for sub in [*subs, also]:
        await sub.close()
    assert hub.stats()["channels"] == []


async def test_closing_ends_iteration(hub: Hub) -> None:
    notes = Channel("plain_close", Note)
    sub = await hub.subscribe(notes).ready()
    received: list[object] = []

    async def consume() -> None:
        async for event in sub:
            received.append(event)

    task = asyncio.create_task(consume())
    await hub.publish(notes, {"n": 1})
    while not received:
        await asyncio.sleep(0.01)
    await sub.close()
    await asyncio.wait_for(task, 5)
    assert len(received) == 1


async def test_raw_notification_bytes_are_json(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    """The wire format is documented JSON that other clients can read."""
    notes = Channel("plain_wire", Note)
    got: asyncio.Queue[str] = asyncio.Queue()
    conn = await ps_engine.get_new_connection()
    try:
        await conn.add_listener(notes.name, lambda *a: got.put_nowait(a[3]))
        await hub.publish(notes, {"n": 9})
        text = await asyncio.wait_for(got.get(), 5)
    finally:
        await conn.close()
    value = json.loads(text)
    assert value["pgext"] == 1 and value["d"] == {"n": 9, "text": ""}


async def test_publish_along_a_write(hub: Hub, ps_engine: PgextEngine) -> None:
    """``along=`` runs the application's write and the publish as one
    statement: both happen or neither."""
    from piccolo.columns import Integer
    from piccolo.table import Table

    from tests.helpers import recreate_tables

    class AlongRow(Table, tablename="pubsub_along_row"):
        n = Integer()

    await recreate_tables(ps_engine, AlongRow)
    plain = Channel("plain_along", Blob)
    durable = Channel("durable_along", Note, durable=True)
    async with hub.subscribe(plain) as sub, hub.subscribe(durable) as dsub:
        await hub.publish(
            plain, {"n": 1, "body": "a"}, along=AlongRow.insert(AlongRow(n=1))
        )
        await hub.publish(
            plain,
            {"n": 2, "body": "z" * 9000},  # spilled, still one statement
            along=('INSERT INTO pubsub_along_row ("n") VALUES ($1)', [2]),
        )
        await hub.publish(durable, {"n": 3}, along=AlongRow.insert(AlongRow(n=3)))
        got = [await sub.get(timeout=5) for _ in range(2)]
        assert [e.data.n for e in got] == [1, 2]  # type: ignore[union-attr]
        event = await dsub.get(timeout=5)
        assert isinstance(event, Message) and event.data.n == 3
        # A failing write publishes nothing.
        with pytest.raises(Exception, match="pubsub_along_missing"):
            await hub.publish(
                plain,
                {"n": 4, "body": "b"},
                along=("INSERT INTO pubsub_along_missing VALUES ($1)", [4]),
            )
        await expect_nothing(sub)
    assert sorted(r["n"] for r in await AlongRow.select(AlongRow.n)) == [1, 2, 3]
    from pgext.pubsub import InvalidChannel

    with pytest.raises(InvalidChannel, match="INSERT, UPDATE or DELETE"):
        await hub.publish(plain, {"n": 5, "body": ""}, along=("SELECT 1", []))
