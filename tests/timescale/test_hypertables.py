"""Hypertables on a real TimescaleDB: the primary-key reconciliation keeps
Piccolo's save/update/delete by id working, policies land as jobs and run,
bad requests fail before any DDL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from piccolo.columns import DoublePrecision, Integer, Text, Timestamptz
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.timescale import (
    Columnstore,
    HashDimension,
    NotAHypertable,
    create,
    hypertable,
    info,
    is_hypertable,
    run_job,
    set_columnstore_policy,
    set_retention,
    setup,
    teardown,
)
from tests.timescale.conftest import run_policy

pytestmark = pytest.mark.timescale


@hypertable(
    "Taken At",
    chunk_interval=timedelta(days=1),
    columnstore=Columnstore(segment_by=["Sensor"], order_by=["Taken At DESC"]),
    retention="90 days",
)
class HtOddNames(Table, tablename="Ht Odd Names"):
    taken_at = Timestamptz(db_column_name="Taken At")
    sensor = Integer(db_column_name="Sensor")
    value = DoublePrecision(null=True)
    label = Text(null=True)


class HtPlain(Table, tablename="ht_plain"):
    ts = Timestamptz()


# Relative to now: a fixed date would fall to the retention policies (90
# days; 30 for a while) that a server with background workers runs.
NOW = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
async def tables(ts: PgextEngine) -> AsyncIterator[PgextEngine]:
    for table in (HtOddNames, HtPlain):
        seam.bind_engine(table, ts)
        await table.alter().drop_table(if_exists=True, cascade=True)
        await table.create_table()
    await setup(HtOddNames)
    yield ts
    await teardown(HtOddNames)
    for table in (HtOddNames, HtPlain):
        await table.alter().drop_table(if_exists=True, cascade=True)


async def test_table_became_a_hypertable_with_a_wider_key(tables: PgextEngine) -> None:
    assert await is_hypertable(HtOddNames)
    assert not await is_hypertable(HtPlain)
    async with tables.connection() as connection:
        key = await connection.fetchval(
            "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint c "
            "CROSS JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
            "WHERE c.conrelid = '\"Ht Odd Names\"'::regclass AND c.contype = 'p'"
        )
        dimension = await connection.fetchrow(
            "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'Ht Odd Names'"
        )
    assert key == ["id", "Taken At"]
    assert dimension["column_name"] == "Taken At"
    assert dimension["time_interval"] == timedelta(days=1)


async def test_save_update_delete_by_id_keep_working(tables: PgextEngine) -> None:
    row = HtOddNames(taken_at=NOW, sensor=1, value=1.5, label="a")
    await row.save()
    assert isinstance(row.id, int)
    row.value = 2.5
    await row.save()  # an UPDATE ... WHERE id = ...
    await HtOddNames.update({HtOddNames.label: "b"}).where(HtOddNames.id == row.id)
    found = await HtOddNames.objects().get(HtOddNames.id == row.id)
    assert found is not None and found.value == 2.5 and found.label == "b"
    await found.remove()
    assert await HtOddNames.count().where(HtOddNames.id == row.id) == 0


async def test_policies_are_jobs_that_run(tables: PgextEngine) -> None:
    jobs = await info.jobs(HtOddNames)
    retention = [j for j in jobs if j.proc_name == "policy_retention"]
    assert len(retention) == 1
    assert retention[0].config["drop_after"] == "90 days"
    # An old row falls to the retention policy when its job runs.
    await HtOddNames.insert(
        HtOddNames(taken_at=NOW - timedelta(days=400), sensor=2, value=0.0),
        HtOddNames(taken_at=datetime.now(timezone.utc), sensor=2, value=1.0),
    )
    await run_job(retention[0].job_id, tables)
    assert await HtOddNames.count().where(HtOddNames.sensor == 2) == 1
    # CALL run_job bypasses the scheduler, which alone records job_stats.
    after = [j for j in await info.jobs(HtOddNames) if j.job_id == retention[0].job_id]
    assert after[0].total_failures == 0 and not after[0].failing


async def test_retention_can_change_on_the_server(tables: PgextEngine) -> None:
    await set_retention(HtOddNames, "30 days")
    configs = [j.config for j in await info.jobs(HtOddNames)]
    assert {"drop_after": "30 days"} in [
        {"drop_after": c.get("drop_after")} for c in configs if "drop_after" in c
    ]
    assert sum("drop_after" in c for c in configs) == 1
    await set_retention(HtOddNames, timedelta(days=90))


async def test_columnstore_policy_and_stats(tables: PgextEngine) -> None:
    # The rows first, then the policy: where a scheduler runs, the policy's
    # first run starts seconds after it is added, and this test waits for
    # that run instead of racing it with run_job.
    await HtOddNames.insert(
        *[
            HtOddNames(taken_at=NOW - timedelta(days=30, hours=i), sensor=3)
            for i in range(5)
        ]
    )
    await set_columnstore_policy(HtOddNames, "7 days")
    jobs = await info.jobs(HtOddNames)
    assert any(j.proc_name == "policy_compression" for j in jobs)
    job = next(j for j in jobs if j.proc_name == "policy_compression")
    await run_policy(job.job_id, tables)
    stats = await info.columnstore_stats(HtOddNames)
    assert stats.compressed_chunks >= 1
    assert stats.total_chunks >= stats.compressed_chunks
    chunks = await info.chunks(HtOddNames)
    assert any(c.is_compressed for c in chunks)
    assert all(c.range_start is not None for c in chunks)
    await set_columnstore_policy(HtOddNames, None)
    assert not any(
        j.proc_name == "policy_compression" for j in await info.jobs(HtOddNames)
    )


async def test_sizes_and_row_estimate(tables: PgextEngine) -> None:
    size = await info.size(HtOddNames)
    assert size.total_bytes >= size.table_bytes + size.index_bytes > 0
    async with tables.connection() as connection:
        await connection.execute('ANALYZE "Ht Odd Names"')
    # An estimate from statistics (compressed chunks count by batches).
    estimate = await info.approximate_row_count(HtOddNames)
    assert estimate >= 1


async def test_policy_on_a_plain_table_is_refused_before_ddl(
    tables: PgextEngine,
) -> None:
    with pytest.raises(NotAHypertable, match="'ht_plain' is not a hypertable"):
        await set_retention(HtPlain, "30 days")
    assert await info.jobs(HtPlain) == []
    with pytest.raises(NotAHypertable, match="not declared as a hypertable"):
        await setup(HtPlain)


@hypertable(
    "ts",
    chunk_interval="1 day",
    space=HashDimension("device_id", 2),
    columnstore=Columnstore(segment_by=["device_id"], after="3 days"),
    retention="60 days",
)
class HtCreated(Table, tablename="ht_created"):
    ts = Timestamptz()
    device_id = Integer(index=True)
    value = DoublePrecision(null=True)


async def test_create_new_table_as_declared(ts: PgextEngine) -> None:
    seam.bind_engine(HtCreated, ts)
    await HtCreated.alter().drop_table(if_exists=True)
    caps = await ts.capabilities()
    try:
        statements = await create(HtCreated)
        uses_with = caps.at_least("timescaledb", 2, 20)
        assert any("WITH (tsdb.hypertable" in s.sql for s in statements) == uses_with
        assert await is_hypertable(HtCreated)
        jobs = {j.proc_name: j.config for j in await info.jobs(HtCreated)}
        assert jobs["policy_compression"]["compress_after"] == "3 days"
        assert jobs["policy_retention"]["drop_after"] == "60 days"
        assert len(await info.jobs(HtCreated)) == 2
        row = HtCreated(ts=NOW, device_id=4, value=1.0)
        await row.save()
        row.value = 3.0
        await row.save()
        assert await HtCreated.count().where(HtCreated.value == 3.0) == 1
        async with ts.connection() as connection:
            key = await connection.fetchval(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'ht_created'::regclass AND contype = 'p'"
            )
            indexed = await connection.fetchval(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'ht_created' "
                "AND indexdef LIKE '%(device_id)%'"
            )
        assert key == "PRIMARY KEY (id, ts, device_id)"
        assert indexed >= 1
    finally:
        await teardown(HtCreated)
        await HtCreated.alter().drop_table(if_exists=True)
