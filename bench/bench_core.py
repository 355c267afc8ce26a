"""The engine's overhead on trivial queries (a select of one row, an insert
of one row, an update of one row): raw asyncpg vs Piccolo's PostgresEngine vs
PgextEngine, each through a one-connection pool; and a select with a
connection per query (Piccolo without a pool), where per-connection set-up
shows.

Beside wall time (noise on a shared machine) each result notes the client's
CPU per query: user-mode CPU (``getrusage``: the Python work an engine adds
shows here, the kernel's socket work does not) and process CPU (user +
system).  On a shared 2-core machine both still move by several percent
from run to run (the server shares the cores); ``bench/callgrind_core.py``
counts instructions instead, which load does not move.

PgextEngine runs as users run it: ``pgext.postgis`` imported (its codecs and
result hooks registered), ``extensions=("postgis",)`` (codecs installed on
the pool's connection) and capabilities detected.  Goal: >= 0.97x Piccolo's.

A fourth contender, ``PgextEngine before #13``, is PgextEngine as it was
before issue 13's fix (every result through the column hooks), so the run
shows before and after side by side.  Both engines send the same statements
per query (one execute, plus asyncpg's reset when the pool gets the
connection back): counted with ``log_statement=all``, and held by
``tests/test_engine.py``.
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
from piccolo.columns import Integer, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

import pgext.postgis  # noqa: F401  (registers the codecs and hooks)
from bench.runner import JobResult, compare
from pgext import seam
from pgext.engine import PgextEngine, _apply_hooks

if TYPE_CHECKING:
    from bench.run import BenchContext

Job = Callable[[], Awaitable[Any]]


class EngineBefore13(PgextEngine):
    """PgextEngine's result handling before issue 13: every result went
    through the column hooks (transposed, scanned, rebuilt)."""

    def transform_response_to_dicts(self, results: Any) -> list[dict[str, Any]]:
        if not results:
            return []
        keys = list(results[0].keys())
        return _apply_hooks(keys, list(zip(*results, strict=True)))


class BenchCoreProbe(Table):
    name = Varchar(length=20)
    value = Integer()


def _user_cpu_of(job: Job, runs: list[float]) -> Job:
    """``job``, appending the user-mode CPU of each run to ``runs``."""

    async def timed() -> None:
        started = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        await job()
        runs.append(resource.getrusage(resource.RUSAGE_SELF).ru_utime - started)

    return timed


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    queries = ctx.size(2000, 50)
    connects = ctx.size(300, 20)  # a connection per query: fewer, slower
    server = await ctx.describe(config)
    pool = await asyncpg.create_pool(**config, min_size=1, max_size=1)
    plain = PostgresEngine(config=config)
    pgext = PgextEngine(config=config, extensions=("postgis",))
    before = EngineBefore13(config=config, extensions=("postgis",))
    await plain.start_connection_pool(min_size=1, max_size=1)
    await pgext.start_connection_pool(min_size=1, max_size=1)
    await before.start_connection_pool(min_size=1, max_size=1)
    await pgext.capabilities()
    await before.capabilities()
    # Without a pool Piccolo opens a connection per query: the engine's
    # per-connection set-up is then paid on every query.
    plain_unpooled = PostgresEngine(config=config)
    pgext_unpooled = PgextEngine(config=config, extensions=("postgis",))
    before_unpooled = EngineBefore13(config=config, extensions=("postgis",))
    await pgext_unpooled.capabilities()
    await before_unpooled.capabilities()
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

    def raw_unpooled(sql: str, *args: Any) -> Job:
        async def job() -> None:
            for _ in range(connects):
                connection = await asyncpg.connect(**config)
                await connection.fetch(sql, *args)
                await connection.close()

        return job

    def through(
        engine: PostgresEngine, query: Callable[[], Any], count: int = queries
    ) -> Job:
        async def job() -> None:
            seam.bind_engine(BenchCoreProbe, engine)
            for _ in range(count):
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

    select_sql = f'SELECT "name" FROM "{table}" WHERE "id" = $1'
    pooled = f"{queries} trivial queries through a pool"
    jobs: list[tuple[str, int, Job, Job, Job, Job]] = [
        (
            f"{pooled}: select of one row",
            queries,
            raw(select_sql, 1),
            through(plain, piccolo_select),
            through(pgext, piccolo_select),
            through(before, piccolo_select),
        ),
        (
            f"{pooled}: insert of one row",
            queries,
            raw(
                f'INSERT INTO "{table}" ("name", "value") '
                'VALUES ($1, $2) RETURNING "id"',
                "x",
                1,
            ),
            through(plain, piccolo_insert),
            through(pgext, piccolo_insert),
            through(before, piccolo_insert),
        ),
        (
            f"{pooled}: update of one row",
            queries,
            raw(f'UPDATE "{table}" SET "value" = "value" + 1 WHERE "id" = $1', 1),
            through(plain, piccolo_update),
            through(pgext, piccolo_update),
            through(before, piccolo_update),
        ),
        (
            f"{connects} trivial queries without a pool (a connection each): "
            "select of one row",
            connects,
            raw_unpooled(select_sql, 1),
            through(plain_unpooled, piccolo_select, connects),
            through(pgext_unpooled, piccolo_select, connects),
            through(before_unpooled, piccolo_select, connects),
        ),
    ]
    results: list[JobResult] = []
    try:
        for title, count, raw_job, plain_job, pgext_job, before_job in jobs:
            user_cpu: dict[str, list[float]] = {}
            contenders = {
                "raw asyncpg": raw_job,
                "piccolo PostgresEngine": plain_job,
                "pgext PgextEngine": pgext_job,
                "pgext PgextEngine before #13": before_job,
            }
            result = await compare(
                title,
                {
                    name: _user_cpu_of(job, user_cpu.setdefault(name, []))
                    for name, job in contenders.items()
                },
                baseline="raw asyncpg",
                anchors=["piccolo PostgresEngine"],
                units=count,
                unit_name="query",
                server=server,
                repeat=ctx.size(15, 2),
                rotate=True,
            )
            piccolo = result.timings[1].cpu_median or 0.0
            # The first run of each is the runner's warm-up, which it leaves out.
            user = {
                name: statistics.median(runs[1:] or runs)
                for name, runs in user_cpu.items()
            }
            piccolo_user = user["piccolo PostgresEngine"]
            result.notes = (
                "PgextEngine with pgext.postgis imported, extensions=('postgis',), "
                "capabilities detected. Client user-mode CPU per query (median): "
                + ", ".join(
                    f"{name} {seconds / count * 1e6:.0f} us "
                    f"({piccolo_user / (seconds or 1):.2f}x Piccolo's)"
                    for name, seconds in user.items()
                )
                + ". Client process CPU (user + system) per query (median): "
                + ", ".join(
                    f"{timing.name} {(timing.cpu_median or 0) / count * 1e6:.0f} us "
                    f"({piccolo / (timing.cpu_median or 1):.2f}x Piccolo's)"
                    for timing in result.timings
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
        await before.close_connection_pool()
    return results
