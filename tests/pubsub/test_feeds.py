"""Row-change feeds from generated triggers, installed directly and through
Piccolo's MigrationManager."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Integer, Text, Varchar
from piccolo.table import Table

from pgext.engine import PgextEngine
from pgext.pubsub import (
    Channel,
    Feed,
    Hub,
    Message,
    PubSubError,
    RowChange,
    add_feed_steps,
    add_schema_steps,
)
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class Gadget(Table, tablename="pubsub_gadget"):
    name = Varchar(length=50)
    stock = Integer(default=0)
    notes = Text(default="")


async def changes(sub: Any, count: int) -> list[RowChange]:
    out = []
    for _ in range(count):
        event = await sub.get(timeout=5)
        assert isinstance(event, Message), event
        out.append(event.data)
    return out


@pytest.fixture
async def gadgets(ps_engine: PgextEngine) -> type[Gadget]:
    await recreate_tables(ps_engine, Gadget)
    return Gadget


async def test_insert_update_delete(
    hub: Hub, gadgets: type[Gadget], ps_engine: PgextEngine
) -> None:
    feed = Feed(gadgets)
    await feed.install(ps_engine)
    assert feed.channel.name == "pubsub_gadget_changes"
    async with hub.subscribe(feed.channel) as sub:
        row = Gadget(name="bolt", stock=3)
        await row.save()
        await Gadget.update({Gadget.stock: 4}).where(Gadget.id == row.id)
        await Gadget.update({Gadget.stock: 4}).where(Gadget.id == row.id)  # no-op
        await Gadget.delete().where(Gadget.id == row.id)
        ins, upd, dele = await changes(sub, 3)
        with pytest.raises(asyncio.TimeoutError):
            await sub.get(timeout=0.3)
    assert (ins.op, ins.pk, ins.table) == ("insert", row.id, "pubsub_gadget")
    assert ins.changed == ["id", "name", "notes", "stock"]
    assert ins.row is None
    assert (upd.op, upd.pk, upd.changed) == ("update", row.id, ["stock"])
    assert (dele.op, dele.pk, dele.changed) == ("delete", row.id, [])


async def test_options_row_columns_operations(
    hub: Hub, gadgets: type[Gadget], ps_engine: PgextEngine
) -> None:
    feed = Feed(
        gadgets,
        operations=("update",),
        columns=("stock",),
        include_row=True,
        channel_name="gadget_stock",
    )
    await feed.install(ps_engine)
    async with hub.subscribe(feed.channel) as sub:
        row = Gadget(name="nut", stock=1)
        await row.save()  # insert: not reported
        await Gadget.update({Gadget.name: "nut2"}).where(Gadget.id == row.id)
        await Gadget.update({Gadget.stock: 2, Gadget.notes: "x'); DROP"}).where(
            Gadget.id == row.id
        )
        (event,) = await changes(sub, 1)
        with pytest.raises(asyncio.TimeoutError):
            await sub.get(timeout=0.3)
    assert event.changed == ["notes", "stock"]
    assert event.row is not None
    assert event.row["notes"] == "x'); DROP" and event.row["name"] == "nut2"
    await feed.uninstall(ps_engine)


async def test_big_rows_are_spilled(
    hub: Hub, gadgets: type[Gadget], ps_engine: PgextEngine
) -> None:
    feed = Feed(gadgets, include_row=True)
    await feed.install(ps_engine)
    async with hub.subscribe(feed.channel) as sub:
        await Gadget(name="big", notes="n" * 65536).save()
        (event,) = await changes(sub, 1)
    assert event.row is not None and len(event.row["notes"]) == 65536


async def test_durable_feed(
    hub: Hub, gadgets: type[Gadget], ps_engine: PgextEngine
) -> None:
    feed = Feed(gadgets, durable=True, channel_name="gadget_durable")
    await feed.install(ps_engine)
    async with hub.subscribe(feed.channel) as sub:
        async with ps_engine.transaction():
            for i in range(5):
                await Gadget(name=f"g{i}").save()
        with pytest.raises(RuntimeError):
            async with ps_engine.transaction():
                await Gadget(name="rolled back").save()
                raise RuntimeError
        # The trigger writes outbox rows but no wake-up; the relay polls.
        hub.relay.kick()
        got = await changes(sub, 5)
    assert [c.op for c in got] == ["insert"] * 5
    assert [c.pk for c in got] == sorted(c.pk for c in got)


def test_feed_declaration_errors() -> None:
    with pytest.raises(PubSubError, match="unknown columns"):
        Feed(Gadget, columns=("nope",))
    with pytest.raises(PubSubError, match="subset"):
        Feed(Gadget, operations=("truncate",))  # type: ignore[arg-type]
    with pytest.raises(PubSubError, match="update"):
        Feed(Gadget, operations=("insert",), columns=("stock",))
    with pytest.raises(PubSubError):
        Feed(Gadget, channel_name="bad name")


def test_feed_sql_quotes_identifiers_and_has_no_values() -> None:
    sql = Feed(Gadget, columns=("stock",), operations=("update", "delete")).create_sql()
    assert sql[1] == (
        'CREATE TRIGGER "pgext_feed_pubsub_gadget_changes" AFTER UPDATE OF "stock" '
        'OR DELETE ON "pubsub_gadget" FOR EACH ROW EXECUTE FUNCTION '
        "pgext_feed_notify('pubsub_gadget_changes', 'id', '0', '0')"
    )


async def test_migration_steps(
    piccolo_conf: str, ps_engine: PgextEngine, hub: Hub
) -> None:
    """Schema and feed through MigrationManager raw steps, forwards and back,
    on the engine piccolo_conf names."""
    from piccolo.engine.finder import engine_finder

    engine = engine_finder()
    await recreate_tables(engine, Gadget)
    feed = Feed(Gadget, channel_name="gadget_migrated")

    schema = MigrationManager(migration_id="2026-01-01T00:00:00", app_name="pubsub")
    add_schema_steps(schema)
    await schema.run()
    feeds = MigrationManager(migration_id="2026-01-01T00:00:01", app_name="shop")
    add_feed_steps(feeds, feed)
    await feeds.run()

    async with hub.subscribe(feed.channel) as sub:
        await Gadget(name="migrated").save()
        (event,) = await changes(sub, 1)
        assert event.op == "insert"
        await feeds.run(backwards=True)
        await Gadget(name="after backwards").save()
        with pytest.raises(asyncio.TimeoutError):
            await sub.get(timeout=0.3)
    async with ps_engine.connection() as conn:
        assert await conn.fetchval("SELECT to_regclass('pgext_outbox') IS NOT NULL")


def test_channel_of_feed_is_typed() -> None:
    feed = Feed(Gadget)
    assert isinstance(feed.channel, Channel) and feed.channel.model is RowChange
