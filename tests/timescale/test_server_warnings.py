"""The SQL pgext sends gives TimescaleDB no reason to warn: columnstore
settings that order by every key column, Text rather than Varchar."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from piccolo.columns import DoublePrecision, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.timescale import Columnstore, HashDimension, hypertable
from pgext.timescale.plan import collect_state, empty_state, plan
from pgext.timescale.sql import create_table_with, supports_create_table_with

pytestmark = pytest.mark.timescale


@hypertable(
    "ts",
    chunk_interval="1 day",
    space=HashDimension("device_id", 2),
    columnstore=Columnstore(segment_by=["device_id"], order_by=["ts DESC"]),
)
class WarnSegmented(Table, tablename="warn_segmented"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision()
    note = Text(null=True)


@hypertable("ts", chunk_interval="1 day", columnstore=Columnstore(after="7 days"))
class WarnDefaults(Table, tablename="warn_defaults"):
    ts = Timestamptz()
    value = DoublePrecision()


@hypertable("ts", chunk_interval="1 day")
class WarnVarchar(Table, tablename="warn_varchar"):
    ts = Timestamptz()
    label = Varchar(length=10)


TABLES = (WarnSegmented, WarnDefaults, WarnVarchar)


@pytest.fixture
async def heard(ts: PgextEngine) -> AsyncIterator[tuple[asyncpg.Connection, list[str]]]:
    """A connection that collects the server's warnings."""
    for table in TABLES:
        seam.bind_engine(table, ts)
        await table.alter().drop_table(if_exists=True, cascade=True)
    connection = await ts.get_new_connection()
    messages: list[str] = []

    def listen(conn: object, message: asyncpg.PostgresLogMessage) -> None:
        if message.severity == "WARNING":
            messages.append(message.message)

    connection.add_log_listener(listen)
    # The listener hears warnings at all (so the assertions below can fail).
    await connection.execute("DO $$ BEGIN RAISE WARNING 'probe'; END $$")
    assert messages == ["probe"]
    messages.clear()
    try:
        yield connection, messages
    finally:
        await connection.close()
        for table in TABLES:
            await table.alter().drop_table(if_exists=True, cascade=True)


async def _convert(connection: asyncpg.Connection, table: type[Table]) -> None:
    """Piccolo's CREATE TABLE, then pgext's conversion (the migration path)."""
    for ddl in table.create_table().ddl:
        await connection.execute(ddl)
    caps = await seam.table_engine(table).capabilities()
    for statement in plan(empty_state(), collect_state([table]), caps):
        await connection.execute(statement.sql, *statement.args)


async def test_columnstore_tables_draw_no_warning(
    heard: tuple[asyncpg.Connection, list[str]],
) -> None:
    connection, messages = heard
    await _convert(connection, WarnSegmented)
    await _convert(connection, WarnDefaults)
    assert messages == []
    caps = await seam.table_engine(WarnDefaults).capabilities()
    if supports_create_table_with(caps):
        # The CREATE TABLE ... WITH (tsdb.*) path of create().
        await connection.execute('DROP TABLE "warn_defaults"')
        state = collect_state([WarnDefaults])["hypertables"]["warn_defaults"]
        ddl = WarnDefaults.create_table().ddl[0]
        key = seam.primary_key(WarnDefaults).ddl
        for statement in create_table_with(state, ddl, key, caps):
            await connection.execute(statement.sql, *statement.args)
        assert messages == []
    orderby = await connection.fetchval(
        "SELECT orderby FROM timescaledb_information.hypertable_columnstore_settings"
        " WHERE hypertable = 'warn_segmented'::regclass"
    )
    assert orderby == "ts DESC,id"


async def test_varchar_draws_timescaledb_advice(
    heard: tuple[asyncpg.Connection, list[str]],
) -> None:
    """What the docs tell users: TimescaleDB advises Text over Varchar."""
    connection, messages = heard
    await _convert(connection, WarnVarchar)
    assert any('"character varying" used for "label"' in m for m in messages), messages
