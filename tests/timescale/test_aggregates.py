"""Continuous aggregates: created in dependency order, refreshed, read like
tables, real-time or not, and read-only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from piccolo.query.functions.aggregate import Sum

from pgext.engine import PgextEngine
from pgext.timescale import (
    ReadOnlyError,
    TimescaleError,
    info,
    refresh,
    setup,
    teardown,
)
from tests.timescale.models import TsReading, TsReadingDaily, TsReadingHourly

pytestmark = pytest.mark.timescale

# Relative to now, on a day boundary, where a server that runs jobs cannot
# race the assertions: older than the refresh policy's window (30 days, so
# its runs never materialize these rows behind the test's back), younger
# than the 90-day retention (so they are never dropped).
DAY = datetime.now(timezone.utc).replace(
    hour=0, minute=0, second=0, microsecond=0
) - timedelta(days=60)


async def _drop(engine: PgextEngine) -> None:
    await teardown(TsReading, TsReadingHourly, TsReadingDaily, engine=engine)
    await TsReading.alter().drop_table(if_exists=True, cascade=True)


@pytest.fixture(scope="module")
async def aggregates(ts: PgextEngine) -> AsyncIterator[PgextEngine]:
    await _drop(ts)
    await TsReading.create_table()
    # Rows before the aggregates exist: creation refreshes them in.
    await TsReading.insert(
        *[
            TsReading(
                ts=DAY + timedelta(minutes=30 * i), device_id=i % 2, value=float(i)
            )
            for i in range(96)
        ]
    )
    await setup(TsReading, TsReadingHourly, TsReadingDaily)
    yield ts
    await _drop(ts)


async def test_hierarchy_is_materialized(aggregates: PgextEngine) -> None:
    hourly = await TsReadingHourly.select().order_by(TsReadingHourly.bucket)
    assert len(hourly) == 96  # 48 hours x 2 devices
    assert sum(r["n"] for r in hourly) == 96
    first = next(r for r in hourly if r["device_id"] == 0)
    assert first["bucket"] == DAY and first["avg_value"] == 0.0 and first["n"] == 1
    daily = await TsReadingDaily.select().order_by(TsReadingDaily.bucket)
    assert {(r["bucket"], r["device_id"]): r["n"] for r in daily} == {
        (DAY, 0): 24,
        (DAY, 1): 24,
        (DAY + timedelta(days=1), 0): 24,
        (DAY + timedelta(days=1), 1): 24,
    }
    assert max(r["max_value"] for r in daily) == 95.0


async def test_materialized_only_versus_real_time(aggregates: PgextEngine) -> None:
    later = DAY + timedelta(days=3)
    await TsReading.insert(TsReading(ts=later, device_id=0, value=500.0))
    # Hourly is materialized only: the new row is not there until a refresh.
    hourly = await TsReadingHourly.count().where(TsReadingHourly.bucket == later)
    assert hourly == 0
    await refresh(TsReadingHourly, DAY, later + timedelta(hours=1))
    assert await TsReadingHourly.count().where(TsReadingHourly.bucket == later) == 1
    # Daily is real-time: its unmaterialized range is read from hourly.
    daily = await TsReadingDaily.select(Sum(TsReadingDaily.n)).where(
        TsReadingDaily.bucket == later
    )
    assert daily == [{"sum": 1}]


async def test_aggregates_refuse_writes(aggregates: PgextEngine) -> None:
    with pytest.raises(ReadOnlyError):
        TsReadingHourly.insert(TsReadingHourly(bucket=DAY, device_id=1))
    with pytest.raises(ReadOnlyError):
        TsReadingHourly.update({TsReadingHourly.n: 1})
    with pytest.raises(ReadOnlyError):
        TsReadingHourly.delete(force=True)
    with pytest.raises(ReadOnlyError):
        TsReadingHourly(bucket=DAY, device_id=1).save()
    with pytest.raises(ReadOnlyError):
        TsReadingHourly.create_table()


async def test_refresh_policy_is_a_job(aggregates: PgextEngine) -> None:
    jobs = await info.jobs(TsReadingHourly)
    assert [j.proc_name for j in jobs] == ["policy_refresh_continuous_aggregate"]
    assert jobs[0].config["start_offset"] == "30 days"
    assert jobs[0].relation == "ts_reading_hourly"
    assert await info.jobs(TsReadingDaily) == []


async def test_refresh_inside_a_transaction_is_refused(aggregates: PgextEngine) -> None:
    async with aggregates.transaction():
        with pytest.raises(TimescaleError, match="transaction"):
            await refresh(TsReadingHourly)
