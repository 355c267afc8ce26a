"""Time series on a distributed table: pgext's ``TimeBucket`` (``date_bin``
where TimescaleDB is absent, as on a Citus coordinator) grouped by bucket
and device gives the same rows as on a plain table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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
