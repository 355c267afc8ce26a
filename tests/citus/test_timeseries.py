"""Time series on a distributed table: pgext's ``TimeBucket`` (``date_bin``
where TimescaleDB is absent, as on a Citus coordinator) grouped by bucket
and device gives the same rows as on a plain table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.query.functions.aggregate import Avg, Count
from piccolo.table import Table

from pgext import citus as pgcitus
from pgext.engine import PgextEngine
from pgext.timescale import TimeBucket
from tests.helpers import recreate_tables

pytestmark = [pytest.mark.citus, pytest.mark.postgres]

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pgcitus.distributed("device")
class CtReading(Table):
    device = Integer(null=False)
    ts = Timestamptz()
    value = DoublePrecision()


class PlainReading(Table):
    device = Integer(null=False)
    ts = Timestamptz()
    value = DoublePrecision()


async def test_time_buckets_match_one_node(
    citus: PgextEngine, pg_engine: PgextEngine
) -> None:
    await recreate_tables(citus, CtReading)
    await pgcitus.setup(CtReading, engine=citus)
    await recreate_tables(pg_engine, PlainReading)
    rows = [
        {"device": i % 9, "ts": START + timedelta(minutes=7 * i), "value": i % 23}
        for i in range(1200)
    ]
    await CtReading.insert(*[CtReading(**row) for row in rows])
    await PlainReading.insert(*[PlainReading(**row) for row in rows])
    await citus.capabilities(refresh=True)

    results = []
    for table in (CtReading, PlainReading):
        bucket = TimeBucket("6 hours", table.ts)
        results.append(
            await table.select(
                bucket, table.device, Avg(table.value, alias="avg"), Count()
            )
            .where(table.ts < START + timedelta(days=3))
            .group_by(bucket, table.device)
            .order_by(bucket)
            .order_by(table.device)
        )
    assert results[0] == results[1]
    assert len(results[1]) > 50


@pgcitus.time_partitioned(
    "ts",
    interval="1 day",
    premake="3 days",
    columnar_after="10 days",
    retention="60 days",
)
@pgcitus.distributed("device")
class CtMetric(Table):
    device = Integer(null=False)
    ts = Timestamptz(index=True)
    value = DoublePrecision()


async def _partitions(engine: PgextEngine) -> list[dict[str, Any]]:
    return await engine.execute_in_new_connection(
        "SELECT partition::text AS name, access_method::text AS am "
        "FROM time_partitions WHERE parent_table = 'ct_metric'::regclass "
        "ORDER BY from_value::timestamptz"
    )


async def test_time_partitioned_distributed_table(
    citus: PgextEngine, pg_engine: PgextEngine
) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    await recreate_tables(citus, CtMetric)
    # Rows that were there before: moved into the partitions.
    old = [
        CtMetric(device=i % 4, ts=now - timedelta(days=20, hours=i), value=i)
        for i in range(24)
    ]
    await CtMetric.insert(*old)
    await pgcitus.setup(CtMetric, engine=citus)
    assert await pgcitus.is_citus_table(CtMetric)
    keys = await citus.execute_in_new_connection(
        "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint "
        "WHERE conrelid = 'ct_metric'::regclass AND contype = 'p'"
    )
    assert keys[0]["d"] == "PRIMARY KEY (device, id, ts)"
    parts = await _partitions(citus)
    assert len(parts) >= 20
    assert await CtMetric.count() == 24
    # The ORM keeps working: serial ids continue, multi-row ids are right.
    new = [
        CtMetric(device=d, ts=now - timedelta(hours=d), value=100 + d) for d in range(8)
    ]
    await CtMetric.insert(*new)
    stored = {
        r["id"]: r["value"] for r in await CtMetric.select(CtMetric.id, CtMetric.value)
    }
    assert all(stored[o.id] == o.value for o in new) and len(stored) == 32
    bucket = TimeBucket("1 day", CtMetric.ts)
    per_day = await CtMetric.select(bucket, Count()).group_by(bucket)
    assert sum(r["count"] for r in per_day) == 32

    await pgcitus.maintain(CtMetric, engine=citus)
    parts = await _partitions(citus)
    assert any(p["am"] == "columnar" for p in parts)  # older than 10 days
    assert parts[-1]["am"] == "heap"
    assert await CtMetric.count() == 32

    # Backwards: a plain local table again, rows and key restored.
    await pgcitus.teardown(CtMetric, engine=citus)
    assert not await pgcitus.is_citus_table(CtMetric)
    kind = await citus.execute_in_new_connection(
        "SELECT relkind::text AS k FROM pg_class WHERE oid = 'ct_metric'::regclass"
    )
    assert kind[0]["k"] == "r"
    assert await CtMetric.count() == 32
    await CtMetric.insert(CtMetric(device=1, ts=now, value=1.0))
    assert await CtMetric.count() == 33
