"""TimescaleDB under the Apache-only licence (a native cluster started with
``timescaledb.license = 'apache'``): community features are refused with
``LicenseError`` before any SQL is sent; the Apache-2 core keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.query.functions.aggregate import Avg, Count
from piccolo.table import Table

from pgext import seam
from pgext.capabilities import Capabilities, ExtensionInfo
from pgext.engine import PgextEngine
from pgext.errors import LicenseError
from pgext.timescale import (
    ContinuousAggregate,
    First,
    Interpolate,
    Last,
    Locf,
    TimeBucket,
    TimeBucketGapfill,
    continuous_aggregate,
    hypertable,
    is_hypertable,
    refresh,
    set_retention,
    setup,
)

pytestmark = pytest.mark.timescale

NOW = datetime.now(timezone.utc).replace(microsecond=0)
START = NOW - timedelta(hours=6)


@hypertable("ts", chunk_interval="1 day")
class LicReading(Table, tablename="lic_reading"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision()


@hypertable("ts", chunk_interval="1 day", retention="30 days")
class LicRetained(Table, tablename="lic_retained"):
    ts = Timestamptz()
    value = DoublePrecision()


class LicNowhere(Table, tablename="lic_nowhere"):
    """Never created: a query that reached the server would fail with
    UndefinedTableError instead of LicenseError."""

    ts = Timestamptz()
    value = DoublePrecision()


def _hourly():  # type: ignore[no-untyped-def]
    bucket = TimeBucket("1 hour", LicReading.ts)
    return LicReading.select(bucket, Count()).group_by(bucket)


@continuous_aggregate(query=_hourly, materialized_only=True)
class LicHourly(ContinuousAggregate, tablename="lic_hourly"):
    bucket = Timestamptz()
    count = Integer()


@pytest.fixture(scope="module")
async def apache(apache_engine: PgextEngine) -> AsyncIterator[PgextEngine]:
    for table in (LicReading, LicRetained, LicNowhere, LicHourly):
        seam.bind_engine(table, apache_engine)
    for table in (LicReading, LicRetained):
        await table.alter().drop_table(if_exists=True, cascade=True)
        await table.create_table()
    await setup(LicReading)  # a plain hypertable is Apache-2 core
    await LicReading.insert(
        *[
            LicReading(ts=START + timedelta(minutes=30 * i), device_id=1, value=i)
            for i in range(12)
            if not 4 <= i < 8  # a two-hour gap
        ]
    )
    yield apache_engine
    for table in (LicReading, LicRetained):
        await table.alter().drop_table(if_exists=True, cascade=True)


async def test_the_server_runs_the_apache_licence(apache: PgextEngine) -> None:
    caps = await apache.capabilities()
    assert caps.timescaledb_license == "apache"
    assert not caps.timescaledb_community
    assert await is_hypertable(LicReading)


async def test_apache_core_works(apache: PgextEngine) -> None:
    bucket = TimeBucket("1 hour", LicReading.ts)
    rows = await LicReading.select(bucket, Count()).group_by(bucket)
    assert sum(r["count"] for r in rows) == 8
    edges = await LicReading.select(
        First(LicReading.value, LicReading.ts), Last(LicReading.value, LicReading.ts)
    )
    assert edges == [{"first": 0.0, "last": 11.0}]


async def test_the_server_itself_refuses_gap_filling(apache: PgextEngine) -> None:
    """What users got before pgext checked: the driver's error with rows,
    and a silently empty answer on an empty table."""
    query = (
        "SELECT time_bucket_gapfill('1 hour', ts, $1::timestamptz, $2::timestamptz)"
        " AS b, count(*) FROM {} WHERE ts >= $1 AND ts < $2 GROUP BY b"
    )
    connection = await apache.get_new_connection()
    try:
        with pytest.raises(asyncpg.FeatureNotSupportedError, match="apache"):
            await connection.fetch(query.format("lic_reading"), START, NOW)
        assert await connection.fetch(query.format("lic_retained"), START, NOW) == []
    finally:
        await connection.close()


@pytest.mark.parametrize("table", [LicReading, LicRetained, LicNowhere])
async def test_gap_filling_raises_license_error_before_sql(
    apache: PgextEngine, table: type[LicReading]
) -> None:
    """Rows, an empty table, no table at all: always LicenseError, so no
    statement reached the server."""
    gapfill = TimeBucketGapfill("1 hour", table.ts, start=START, finish=NOW)
    plain = TimeBucket("1 hour", table.ts)
    queries = [
        table.select(gapfill, Count()).group_by(gapfill),
        table.select(plain, Locf(Avg(table.value), alias="v")).group_by(plain),
        table.select(plain, Interpolate(Avg(table.value), alias="v")).group_by(plain),
    ]
    for query in queries:
        with pytest.raises(LicenseError, match=r"community licence.*'apache'"):
            await query


async def test_policies_and_aggregates_raise_before_ddl(apache: PgextEngine) -> None:
    with pytest.raises(LicenseError, match="retention policy"):
        await setup(LicRetained)
    # Nothing ran on the way to the error: still a plain table with its key.
    assert not await is_hypertable(LicRetained)
    keys = await apache.execute_in_new_connection(
        "SELECT array_length(conkey, 1) AS n FROM pg_constraint "
        "WHERE conrelid = 'lic_retained'::regclass AND contype = 'p'"
    )
    assert [k["n"] for k in keys] == [1]
    with pytest.raises(LicenseError, match="continuous aggregates"):
        await setup(LicHourly)
    with pytest.raises(LicenseError, match="continuous aggregates"):
        await refresh(LicHourly)
    with pytest.raises(LicenseError, match="retention policy"):
        await set_retention(LicReading, "30 days")
    views = await apache.execute_in_new_connection(
        "SELECT count(*) AS n FROM timescaledb_information.continuous_aggregates"
    )
    jobs = await apache.execute_in_new_connection(
        "SELECT count(*) AS n FROM timescaledb_information.jobs WHERE job_id >= 1000"
    )
    assert views[0]["n"] == 0 and jobs[0]["n"] == 0


class LicOffline(Table, tablename="lic_offline"):
    ts = Timestamptz()
    value = DoublePrecision()


def _caps(version: str, license: str | None) -> Capabilities:
    return Capabilities(
        server_version_num=150018,
        server_version="15.18",
        extensions={"timescaledb": ExtensionInfo("timescaledb", version, version)},
        preload_libraries=("timescaledb",),
        timescaledb_license=license,
    )


# The engine below never connects; Piccolo warns that it could not ask
# the server for its version.
@pytest.mark.filterwarnings("ignore:.*Unable to connect to database")
@pytest.mark.parametrize("version", ["2.11.2", "2.13.0", "2.18.1", "2.23.0", "2.28.3"])
@pytest.mark.parametrize("license", ["apache", "timescale", None])
def test_community_expressions_follow_the_capabilities(
    version: str, license: str | None
) -> None:
    """Rendering reads the capabilities the engine knows (no server)."""
    engine = PgextEngine(config={"dsn": "postgres://nobody@127.0.0.1:1/none"})
    engine._capabilities = _caps(version, license)  # what detection would set
    seam.bind_engine(LicOffline, engine)
    community = license == "timescale"
    expressions = {
        "time_bucket_gapfill": TimeBucketGapfill("1 hour", LicOffline.ts),
        "locf": Locf(Avg(LicOffline.value)),
        "interpolate": Interpolate(Avg(LicOffline.value)),
    }
    for name, expression in expressions.items():
        if community:
            assert expression.template.startswith(f"{name}(")
        else:
            with pytest.raises(LicenseError, match=name):
                expression.template  # noqa: B018 (rendering is the check)
    # The Apache-2 core renders under every licence.
    assert First(LicOffline.value, LicOffline.ts).template.startswith("first(")
    assert TimeBucket("1 hour", LicOffline.ts).template.startswith("time_bucket(")
