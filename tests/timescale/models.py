"""Tables shared by the TimescaleDB tests (unique names: the PGlite server
has one session shared by every test module)."""

from __future__ import annotations

from piccolo.columns import DoublePrecision, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.query.functions.aggregate import Avg, Count, Max, Sum
from piccolo.table import Table

from pgext.timescale import (
    Columnstore,
    ContinuousAggregate,
    HashDimension,
    RefreshPolicy,
    TimeBucket,
    continuous_aggregate,
    hypertable,
)


@hypertable(
    "ts",
    chunk_interval="1 day",
    space=HashDimension("device_id", 2),
    columnstore=Columnstore(
        segment_by=["device_id"], order_by=["ts DESC"], after="7 days"
    ),
    retention="90 days",
)
class TsReading(Table):
    ts = Timestamptz(default=TimestamptzNow())
    device_id = Integer()
    value = DoublePrecision(null=True)
    # Text, not Varchar: TimescaleDB warns about varchar in hypertables.
    note = Text(null=True)


def _hourly_query():  # type: ignore[no-untyped-def]
    bucket = TimeBucket("1 hour", TsReading.ts)
    return TsReading.select(
        bucket,
        TsReading.device_id,
        Avg(TsReading.value, alias="avg_value"),
        Max(TsReading.value, alias="max_value"),
        Count(alias="n"),
    ).group_by(bucket, TsReading.device_id)


@continuous_aggregate(
    query=_hourly_query,
    refresh=RefreshPolicy(
        start_offset="30 days", end_offset="1 hour", schedule_interval="1 hour"
    ),
    materialized_only=True,
)
class TsReadingHourly(ContinuousAggregate):
    bucket = Timestamptz()
    device_id = Integer()
    avg_value = DoublePrecision()
    max_value = DoublePrecision()
    n = Integer()


def _daily_query():  # type: ignore[no-untyped-def]
    bucket = TimeBucket("1 day", TsReadingHourly.bucket)
    return TsReadingHourly.select(
        bucket,
        TsReadingHourly.device_id,
        Sum(TsReadingHourly.n, alias="n"),
        Max(TsReadingHourly.max_value, alias="max_value"),
    ).group_by(bucket, TsReadingHourly.device_id)


@continuous_aggregate(query=_daily_query, materialized_only=False)
class TsReadingDaily(ContinuousAggregate):
    bucket = Timestamptz()
    device_id = Integer()
    n = Integer()
    max_value = DoublePrecision()
