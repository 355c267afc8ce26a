"""TimescaleDB benchmarks.

1. Ingest: pgext ``bulk_insert`` (binary COPY in batches) vs raw asyncpg
   ``copy_records_to_table`` (the limit) vs Piccolo ``insert`` in batches of
   1,000 rows (instances built before timing; all in one transaction).  Run
   on the native harness PostgreSQL 15 (plain table: it has no TimescaleDB)
   and on the PGlite TimescaleDB (a hypertable; one WebAssembly session, so
   its absolute numbers say little).
2. A day-by-device dashboard query on the raw hypertable vs on a continuous
   aggregate (PGlite TimescaleDB).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import asyncpg
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.query.functions.aggregate import Avg, Count, Max
from piccolo.table import Table

from bench.runner import JobResult, compare, progress
from pgext import seam
from pgext.engine import PgextEngine
from pgext.timescale import (
    ContinuousAggregate,
    TimeBucket,
    bulk_insert,
    continuous_aggregate,
    hypertable,
    setup,
    teardown,
)

if TYPE_CHECKING:
    from bench.run import BenchContext

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
COLUMNS = ["ts", "device_id", "value"]
DEVICES = 50


@hypertable("ts", chunk_interval="7 days")
class BenchReading(Table, tablename="bench_ts_reading"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision()


def _daily() -> Any:
    bucket = TimeBucket("1 day", BenchReading.ts)
    return BenchReading.select(
        bucket,
        BenchReading.device_id,
        Avg(BenchReading.value, alias="avg_value"),
        Max(BenchReading.value, alias="max_value"),
        Count(alias="n"),
    ).group_by(bucket, BenchReading.device_id)


@continuous_aggregate(query=_daily, materialized_only=True)
class BenchDaily(ContinuousAggregate, tablename="bench_ts_daily"):
    bucket = Timestamptz()
    device_id = Integer()
    avg_value = DoublePrecision()
    max_value = DoublePrecision()
    n = Integer()


def make_rows(count: int) -> list[tuple[datetime, int, float]]:
    # One reading per device every few seconds, spread over about 60 days.
    step = timedelta(seconds=max(1, 60 * 86400 * DEVICES // count))
    return [
        (START + step * (i // DEVICES), i % DEVICES, float(i % 997))
        for i in range(count)
    ]


async def _fresh(engine: PgextEngine, hyper: bool) -> None:
    seam.bind_engine(BenchReading, engine)
    seam.bind_engine(BenchDaily, engine)
    if hyper:
        await teardown(BenchDaily, engine=engine)
    await BenchReading.alter().drop_table(if_exists=True, cascade=True)
    await BenchReading.create_table()
    if hyper:
        await setup(BenchReading, engine=engine)


async def ingest_job(
    config: dict[str, Any],
    rows_count: int,
    server: str,
    hyper: bool,
    repeat: int,
    with_piccolo: bool,
) -> JobResult:
    engine = PgextEngine(config=config, extensions=("timescaledb",) if hyper else ())
    # A one-connection pool: pgext and Piccolo reuse a connection, as raw
    # asyncpg does, instead of paying for a new connection per call.
    await engine.start_connection_pool(min_size=1, max_size=1)
    await _fresh(engine, hyper)
    rows = make_rows(rows_count)
    progress(f"ingest: {rows_count:,} rows prepared ({server})")
    instances = (
        [BenchReading(ts=t, device_id=d, value=v) for t, d, v in rows]
        if with_piccolo
        else []
    )
    connection = await asyncpg.connect(**config)

    async def truncate() -> None:
        await connection.execute('TRUNCATE "bench_ts_reading"')

    async def raw_copy() -> None:
        await connection.copy_records_to_table(
            "bench_ts_reading", records=rows, columns=COLUMNS
        )

    async def pgext_bulk() -> None:
        written = await bulk_insert(
            BenchReading, rows, columns=COLUMNS, batch_size=100_000, engine=engine
        )
        assert written == rows_count

    async def piccolo_insert() -> None:
        async with engine.transaction():
            for i in range(0, len(instances), 1000):
                await BenchReading.insert(*instances[i : i + 1000])

    implementations: dict[str, Callable[[], Awaitable[Any]]] = {
        "raw asyncpg COPY": raw_copy,
        "pgext bulk_insert": pgext_bulk,
    }
    if with_piccolo:
        implementations["piccolo insert (1000/batch)"] = piccolo_insert
    try:
        return await compare(
            f"ingest {rows_count:,} rows into "
            + ("a hypertable" if hyper else "a plain table"),
            implementations,
            baseline="raw asyncpg COPY",
            anchors=["piccolo insert (1000/batch)"] if with_piccolo else [],
            units=rows_count,
            unit_name="row",
            server=server,
            repeat=repeat,
            before_each=truncate,
            notes="Piccolo gets prebuilt Table instances and runs in one "
            "transaction; pgext and Piccolo use a one-connection pool, raw asyncpg "
            "one connection; pgext batches of 100,000 rows.",
        )
    finally:
        await connection.close()
        await BenchReading.alter().drop_table(if_exists=True, cascade=True)
        await engine.close_connection_pool()


async def dashboard_job(
    config: dict[str, Any], rows_count: int, repeat: int, server: str
) -> JobResult:
    engine = PgextEngine(config=config, extensions=("timescaledb",))
    await _fresh(engine, hyper=True)
    await bulk_insert(
        BenchReading, make_rows(rows_count), columns=COLUMNS, engine=engine
    )
    progress(f"dashboard: {rows_count:,} rows loaded; creating the aggregate")
    await setup(BenchDaily, engine=engine)
    since = START + timedelta(days=30)

    async def raw_hypertable() -> None:
        bucket = TimeBucket("1 day", BenchReading.ts)
        rows = await (
            BenchReading.select(
                bucket,
                BenchReading.device_id,
                Avg(BenchReading.value, alias="avg_value"),
                Max(BenchReading.value, alias="max_value"),
            )
            .where(BenchReading.ts >= since)
            .group_by(bucket, BenchReading.device_id)
            .order_by(bucket, BenchReading.device_id)
        )
        assert rows

    async def aggregate() -> None:
        rows = await (
            BenchDaily.select(
                BenchDaily.bucket,
                BenchDaily.device_id,
                BenchDaily.avg_value,
                BenchDaily.max_value,
            )
            .where(BenchDaily.bucket >= since)
            .order_by(BenchDaily.bucket, BenchDaily.device_id)
        )
        assert rows

    try:
        return await compare(
            f"day-by-device dashboard over {rows_count:,} rows (last ~30 days)",
            {"raw hypertable": raw_hypertable, "continuous aggregate": aggregate},
            baseline="raw hypertable",
            units=1,
            unit_name="query",
            server=server,
            repeat=repeat,
        )
    finally:
        await teardown(BenchDaily, engine=engine)
        await BenchReading.alter().drop_table(if_exists=True, cascade=True)


async def run(ctx: BenchContext) -> list[JobResult]:
    # Piccolo's insert is ~20-50x slower than COPY, so it runs in a smaller
    # job of its own; the large job gives the COPY ratio enough rounds.
    results: list[JobResult] = []
    if ctx.postgres_config is not None:
        native = await ctx.describe(ctx.postgres_config) + ", plain table"
        results.append(
            await ingest_job(
                ctx.postgres_config,
                ctx.size(1_000_000, 20_000),
                native,
                hyper=False,
                repeat=ctx.size(7, 2),
                with_piccolo=False,
            )
        )
        results.append(
            await ingest_job(
                ctx.postgres_config,
                ctx.size(200_000, 5_000),
                native,
                hyper=False,
                repeat=ctx.size(3, 1),
                with_piccolo=True,
            )
        )
    if ctx.timescale_config is not None:
        results.append(
            await ingest_job(
                ctx.timescale_config,
                ctx.size(200_000, 5_000),
                await ctx.describe(ctx.timescale_config) + ", hypertable",
                hyper=True,
                repeat=ctx.size(5, 1),
                with_piccolo=False,
            )
        )
        results.append(
            await ingest_job(
                ctx.timescale_config,
                ctx.size(50_000, 2_000),
                await ctx.describe(ctx.timescale_config) + ", hypertable",
                hyper=True,
                repeat=ctx.size(3, 1),
                with_piccolo=True,
            )
        )
        results.append(
            await dashboard_job(
                ctx.timescale_config,
                ctx.size(200_000, 10_000),
                repeat=ctx.size(10, 3),
                server=await ctx.describe(ctx.timescale_config),
            )
        )
    return results
