"""The engine's overhead on a trivial query: raw asyncpg vs Piccolo's
PostgresEngine vs PgextEngine, all through a pool."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from bench.runner import JobResult, compare
from pgext import seam
from pgext.engine import PgextEngine

if TYPE_CHECKING:
    from bench.run import BenchContext


class _Probe(Table):
    pass


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    queries = ctx.size(2000, 50)
    pool = await asyncpg.create_pool(**config, min_size=1, max_size=1)
    plain = PostgresEngine(config=config)
    pgext = PgextEngine(config=config)
    await plain.start_connection_pool(min_size=1, max_size=1)
    await pgext.start_connection_pool(min_size=1, max_size=1)

    async def raw() -> None:
        async with pool.acquire() as connection:
            for _ in range(queries):
                await connection.fetch("SELECT 1 AS one")

    def through(engine: PostgresEngine) -> object:
        async def job() -> None:
            seam.bind_engine(_Probe, engine)
            for _ in range(queries):
                await _Probe.raw("SELECT 1 AS one")

        return job

    try:
        return [
            await compare(
                f"{queries} trivial queries through a pool",
                {
                    "raw asyncpg": raw,
                    "piccolo PostgresEngine": through(plain),  # type: ignore[dict-item]
                    "pgext PgextEngine": through(pgext),  # type: ignore[dict-item]
                },
                baseline="raw asyncpg",
                anchors=["piccolo PostgresEngine"],
                units=queries,
                unit_name="query",
                server="harness PostgreSQL 15 (local, fsync off)",
                repeat=ctx.size(5, 2),
            )
        ]
    finally:
        await pool.close()
        await plain.close_connection_pool()
        await pgext.close_connection_pool()
