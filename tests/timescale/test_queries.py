"""time_bucket and friends in Piccolo selects, on TimescaleDB and (through
date_bin) on plain PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.query.functions.aggregate import Avg, Count, Max
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.errors import ExtensionError
from pgext.timescale import (
    First,
    Interpolate,
    Last,
    Locf,
    TimeBucket,
    TimeBucketGapfill,
    TimescaleNotInstalled,
    hypertable,
    info,
    set_retention,
    setup,
)
from pgext.timescale.errors import InvalidInterval

START = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)
# Two devices, a reading every 10 minutes for 6 hours; device 2 is silent
# from 02:00 to 04:00 (a gap for gap filling).
ROWS = [
    (START + timedelta(minutes=10 * i), device, float(i * device))
    for i in range(36)
    for device in (1, 2)
    if not (device == 2 and 12 <= i < 24)
]


@hypertable("ts", chunk_interval="1 day")
class QReading(Table, tablename="q_reading"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision()


@hypertable("ts", chunk_interval="1 day", retention="30 days")
class QPlainHyper(Table, tablename="q_plain_hyper"):
    ts = Timestamptz()


class QPlainReading(Table, tablename="q_plain_reading"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision()


async def _fill(table: type[Table], engine: PgextEngine) -> None:
    seam.bind_engine(table, engine)
    await table.alter().drop_table(if_exists=True)
    await table.create_table()
    await table.insert(*[table(ts=t, device_id=d, value=v) for t, d, v in ROWS])


@pytest.fixture(scope="module")
async def ts_table(ts: PgextEngine) -> AsyncIterator[type[QReading]]:
    seam.bind_engine(QReading, ts)
    await QReading.alter().drop_table(if_exists=True)
    await QReading.create_table()
    await setup(QReading)
    await QReading.insert(*[QReading(ts=t, device_id=d, value=v) for t, d, v in ROWS])
    yield QReading
    await QReading.alter().drop_table(if_exists=True)


@pytest.fixture(scope="module")
async def pg_table(plain_engine: PgextEngine) -> AsyncIterator[type[QPlainReading]]:
    await _fill(QPlainReading, plain_engine)
    yield QPlainReading
    await QPlainReading.alter().drop_table(if_exists=True)


def expected_hourly(width: timedelta, shift: timedelta = timedelta()) -> dict[Any, Any]:
    groups: dict[tuple[datetime, int], list[float]] = defaultdict(list)
    origin = datetime(2000, 1, 3, tzinfo=timezone.utc) + shift
    for ts, device, value in ROWS:
        bucket = origin + ((ts - origin) // width) * width
        groups[(bucket, device)].append(value)
    return {key: (sum(v) / len(v), len(v)) for key, v in groups.items()}


def _rows_to_dict(rows: list[dict[str, Any]]) -> dict[Any, Any]:
    return {(r["bucket"], r["device_id"]): (r["avg"], r["count"]) for r in rows}


async def _hourly(table: type[Table], **options: Any) -> list[dict[str, Any]]:
    bucket = TimeBucket("1 hour", table.ts, **options)  # type: ignore[attr-defined]
    return await (
        table.select(bucket, table.device_id, Avg(table.value), Count())  # type: ignore[attr-defined]
        .group_by(bucket, table.device_id)  # type: ignore[attr-defined]
        .order_by(bucket, table.device_id)  # type: ignore[attr-defined]
    )


@pytest.mark.timescale
async def test_group_by_the_selected_bucket(ts_table: type[QReading]) -> None:
    rows = await _hourly(ts_table)
    assert _rows_to_dict(rows) == expected_hourly(timedelta(hours=1))
    assert [r["bucket"] for r in rows] == sorted(r["bucket"] for r in rows)


@pytest.mark.timescale
async def test_bucket_in_where_and_having(ts_table: type[QReading]) -> None:
    bucket = TimeBucket("2 hours", QReading.ts)
    rows = await (
        QReading.select(bucket, Max(QReading.value, alias="top"))
        .where(bucket >= START + timedelta(hours=2))
        .group_by(bucket)
        .order_by(bucket, ascending=False)
    )
    assert [r["bucket"] for r in rows] == [
        START + timedelta(hours=4),
        START + timedelta(hours=2),
    ]
    assert rows[0]["top"] == 35 * 2.0


@pytest.mark.timescale
async def test_offset_origin_and_timezone(ts_table: type[QReading]) -> None:
    shifted = await _hourly(ts_table, offset="30 minutes")
    assert _rows_to_dict(shifted) == expected_hourly(
        timedelta(hours=1), timedelta(minutes=30)
    )
    origin = await _hourly(ts_table, origin=START + timedelta(minutes=20))
    assert min(r["bucket"] for r in origin) == START - timedelta(minutes=40)
    bucket = TimeBucket("1 day", QReading.ts, timezone="America/New_York")
    days = await QReading.select(bucket, Count()).group_by(bucket).order_by(bucket)
    # Midnight in New York is 05:00 UTC in January.
    assert [r["bucket"] for r in days] == [
        datetime(2026, 1, 4, 5, tzinfo=timezone.utc),
        datetime(2026, 1, 5, 5, tzinfo=timezone.utc),
    ]
    assert sum(r["count"] for r in days) == len(ROWS)


@pytest.mark.timescale
async def test_gapfill_with_locf_and_interpolate(ts_table: type[QReading]) -> None:
    bucket = TimeBucketGapfill(
        "1 hour", QReading.ts, start=START, finish=START + timedelta(hours=6)
    )
    rows = await (
        QReading.select(
            bucket,
            Avg(QReading.value, alias="raw"),
            Locf(Avg(QReading.value), alias="carried"),
            Interpolate(Avg(QReading.value), alias="line"),
        )
        .where(QReading.device_id == 2)
        .where(QReading.ts >= START)
        .where(QReading.ts < START + timedelta(hours=6))
        .group_by(bucket)
        .order_by(bucket)
    )
    assert len(rows) == 6
    gap = [r for r in rows if r["raw"] is None]
    assert [r["bucket"] for r in gap] == [
        START + timedelta(hours=2),
        START + timedelta(hours=3),
    ]
    before, after = rows[1]["raw"], rows[4]["raw"]
    assert all(r["carried"] == before for r in gap)
    assert gap[0]["line"] == pytest.approx(before + (after - before) / 3)
    assert gap[1]["line"] == pytest.approx(before + 2 * (after - before) / 3)


@pytest.mark.timescale
async def test_first_and_last(ts_table: type[QReading]) -> None:
    rows = await (
        QReading.select(
            QReading.device_id,
            First(QReading.value, QReading.ts),
            Last(QReading.value, QReading.ts),
        )
        .group_by(QReading.device_id)
        .order_by(QReading.device_id)
    )
    assert rows == [
        {"device_id": 1, "first": 0.0, "last": 35.0},
        {"device_id": 2, "first": 0.0, "last": 70.0},
    ]


def test_bad_bucket_arguments() -> None:
    with pytest.raises(InvalidInterval):
        TimeBucket("1 hour; drop", QReading.ts)
    with pytest.raises(InvalidInterval, match="timezone"):
        TimeBucket("1 day", QReading.ts, timezone="UTC'; --")
    with pytest.raises(InvalidInterval, match="either offset or origin"):
        TimeBucket("1 day", QReading.ts, offset="1 hour", origin=START)


@pytest.mark.postgres
async def test_date_bin_fallback_on_plain_postgres(
    pg_table: type[QPlainReading],
) -> None:
    rows = await _hourly(pg_table)
    assert _rows_to_dict(rows) == expected_hourly(timedelta(hours=1))
    shifted = await _hourly(pg_table, offset="30 minutes")
    assert _rows_to_dict(shifted) == expected_hourly(
        timedelta(hours=1), timedelta(minutes=30)
    )
    bucket = TimeBucket("1 day", pg_table.ts, timezone="America/New_York")
    days = await pg_table.select(bucket, Count()).group_by(bucket).order_by(bucket)
    assert [r["bucket"] for r in days] == [
        datetime(2026, 1, 4, 5, tzinfo=timezone.utc),
        datetime(2026, 1, 5, 5, tzinfo=timezone.utc),
    ]
    weeks = TimeBucket("7 days", pg_table.ts)
    week = await pg_table.select(weeks).group_by(weeks)
    assert week == [{"bucket": datetime(2026, 1, 5, tzinfo=timezone.utc)}]  # a Monday


@pytest.mark.postgres
async def test_timescale_only_features_name_the_extension(
    pg_table: type[QPlainReading],
) -> None:
    months = TimeBucket("1 month", pg_table.ts)
    with pytest.raises(TimescaleNotInstalled, match="timescaledb"):
        await pg_table.select(months).group_by(months)
    gapfill = TimeBucketGapfill("1 hour", pg_table.ts, start=START, finish=START)
    with pytest.raises(
        TimescaleNotInstalled, match="time_bucket_gapfill needs the timescaledb"
    ):
        await pg_table.select(gapfill, Count()).group_by(gapfill)
    with pytest.raises(TimescaleNotInstalled, match="last needs"):
        await pg_table.select(Last(pg_table.value, pg_table.ts))


@pytest.mark.postgres
async def test_hypertable_features_on_plain_postgres_name_the_extension(
    plain_engine: PgextEngine,
) -> None:
    seam.bind_engine(QPlainHyper, plain_engine)
    await QPlainHyper.alter().drop_table(if_exists=True)
    await QPlainHyper.create_table()
    try:
        with pytest.raises(ExtensionError, match="timescaledb"):
            await setup(QPlainHyper)
        with pytest.raises(ExtensionError, match="timescaledb"):
            await info.chunks(QPlainHyper)
        with pytest.raises(ExtensionError, match="timescaledb"):
            await set_retention(QPlainHyper, "1 day")
        # Nothing was changed on the way to the error: Piccolo's key is intact.
        rows = await plain_engine.execute_in_new_connection(
            "SELECT count(*) AS n FROM pg_constraint "
            "WHERE conrelid = 'q_plain_hyper'::regclass AND contype = 'p' "
            "AND array_length(conkey, 1) = 1"
        )
        assert rows[0]["n"] == 1
    finally:
        await QPlainHyper.alter().drop_table(if_exists=True)
