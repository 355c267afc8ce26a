"""The engine's overhead on trivial queries (a select of one row, an insert
of one row, an update of one row): raw asyncpg vs Piccolo's PostgresEngine vs
PgextEngine, each through a one-connection pool.

PgextEngine runs as users run it: ``pgext.postgis`` imported (its codecs and
result hooks registered), ``extensions=("postgis",)`` (codecs installed on
the pool's connection) and capabilities detected.  Goal: >= 0.97x Piccolo's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
from piccolo.columns import Integer, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

import pgext.postgis  # noqa: F401  (registers the codecs and hooks)
from bench.runner import JobResult, compare
from pgext import seam
from pgext.engine import PgextEngine

if TYPE_CHECKING:
    from bench.run import BenchContext

Job = Callable[[], Awaitable[Any]]


class BenchCoreProbe(Table):
    name = Varchar(length=20)
    value = Integer()


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    queries = ctx.size(2000, 50)
    server = await ctx.describe(config)
    pool = await asyncpg.create_pool(**config, min_size=1, max_size=1)
    plain = PostgresEngine(config=config)
    pgext = PgextEngine(config=config, extensions=("postgis",))
    await plain.start_connection_pool(min_size=1, max_size=1)
    await pgext.start_connection_pool(min_size=1, max_size=1)
    await pgext.capabilities()
    seam.bind_engine(BenchCoreProbe, pgext)
    await BenchCoreProbe.alter().drop_table(if_exists=True)
    await BenchCoreProbe.create_table()
    await BenchCoreProbe.insert(BenchCoreProbe(name="seed", value=0))
    table = seam.table_name(BenchCoreProbe)

    def raw(sql: str, *args: Any) -> Job:
        async def job() -> None:
            async with pool.acquire() as connection:
                for _ in range(queries):
                    await connection.fetch(sql, *args)

        return job

    cpu: dict[str, list[float]] = {}

    def client_cpu(name: str, job: Job) -> Job:
        """``job``, also recording this process's CPU time: the engine's
        cost without the server's share and less of the machine's noise."""

        async def timed() -> None:
            started = time.process_time()
            await job()
            cpu.setdefault(name, []).append(time.process_time() - started)

        return timed

    def through(engine: PostgresEngine, query: Callable[[], Any]) -> Job:
        async def job() -> None:
            seam.bind_engine(BenchCoreProbe, engine)
            for _ in range(queries):
                await query()

        return job

    def piccolo_select() -> Any:
        return BenchCoreProbe.select(BenchCoreProbe.name).where(BenchCoreProbe.id == 1)

    def piccolo_insert() -> Any:
        return BenchCoreProbe.insert(BenchCoreProbe(name="x", value=1))

    def piccolo_update() -> Any:
        return BenchCoreProbe.update(
            {BenchCoreProbe.value: BenchCoreProbe.value + 1}
        ).where(BenchCoreProbe.id == 1)

    jobs = [
        (
            "select of one row",
            raw(f'SELECT "name" FROM "{table}" WHERE "id" = $1', 1),
            piccolo_select,
        ),
        (
            "insert of one row",
            raw(
                f'INSERT INTO "{table}" ("name", "value") '
                'VALUES ($1, $2) RETURNING "id"',
                "x",
                1,
            ),
            piccolo_insert,
        ),
        (
            "update of one row",
            raw(f'UPDATE "{table}" SET "value" = "value" + 1 WHERE "id" = $1', 1),
            piccolo_update,
        ),
    ]
    results: list[JobResult] = []
    try:
        for label, raw_job, query in jobs:
            cpu.clear()
            result = await compare(
                f"{queries} trivial queries through a pool: {label}",
                {
                    "raw asyncpg": client_cpu("raw asyncpg", raw_job),
                    "piccolo PostgresEngine": client_cpu(
                        "piccolo PostgresEngine", through(plain, query)
                    ),
                    "pgext PgextEngine": client_cpu(
                        "pgext PgextEngine", through(pgext, query)
                    ),
                },
                baseline="raw asyncpg",
                anchors=["piccolo PostgresEngine"],
                units=queries,
                unit_name="query",
                server=server,
                repeat=ctx.size(15, 2),
                rotate=True,
            )
            # The warm-up round's CPU times are dropped like its wall times.
            medians = {
                name: statistics.median(values[-len(result.timings[0].seconds) :])
                for name, values in cpu.items()
            }
            piccolo = medians["piccolo PostgresEngine"]
            result.notes = (
                "PgextEngine with pgext.postgis imported, extensions=('postgis',), "
                "capabilities detected. Client CPU per query (median): "
                + ", ".join(
                    f"{name} {seconds / queries * 1e6:.0f} us "
                    f"({piccolo / seconds:.2f}x Piccolo's)"
                    for name, seconds in medians.items()
                )
                + "."
            )
            results.append(result)
    finally:
        seam.bind_engine(BenchCoreProbe, pgext)
        await BenchCoreProbe.alter().drop_table(if_exists=True)
        await pool.close()
        await plain.close_connection_pool()
        await pgext.close_connection_pool()
    return results
