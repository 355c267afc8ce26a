"""Citus: the same work on a local table and a distributed one, side by side
on the same coordinator (issue 18).

Jobs, each with the local table of the same server as baseline:

1. binary COPY of N points (``copy_columns``) into a local and a
   hash-distributed table (32 shards);
2. KNN (``order_by(knn).limit(10)``) and 3. ``dwithin``: local; distributed
   without the key (every shard, merged); distributed with the key (one
   shard) -- the local one filtered by the same tenant;
4. single-row inserts through the ORM (``save()``), one per round trip.

Each job runs on a single-node cluster (the coordinator holds the shards)
and on a coordinator with two workers.  All nodes share this machine's
cores, so the 3-node numbers show the cost of the extra hops, not the
speed-up of more machines; the model of how each job scales with real
workers is in ``MODEL`` below and in the results' notes.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from piccolo.columns import Integer, Varchar
from piccolo.table import Table
from shapely import Point

from bench.runner import JobResult, compare, progress
from pgext import citus as pgcitus
from pgext import seam
from pgext.engine import PgextEngine
from pgext.harness.citus import CitusCluster, citus_version
from pgext.postgis import Geometry
from pgext.postgis.copy import copy_columns

if TYPE_CHECKING:
    from bench.run import BenchContext

TENANTS = 64
HERE = Point(5.5, 52.0)

MODEL = (
    "Scaling model (W workers, one per machine): COPY is coordinator-bound "
    "(it parses and routes every row), so it stays near the local rate and "
    "grows only with parallel COPY clients; KNN/dwithin without the key fan "
    "out to every shard, so the per-query latency is the slowest shard plus "
    "a merge of W*k rows, and throughput grows with W until the coordinator "
    "saturates; with the key a query touches one shard on one worker, so "
    "throughput grows ~linearly with W; single-row writes pay one extra hop "
    "(coordinator -> worker) each, so latency rises by a round trip while "
    "throughput grows with W.  Here every node shares the same cores: the "
    "3-node rows measure the hops, not more hardware."
)


class BenchCitusLocal(Table, tablename="pgx_bench_citus_local"):
    tenant = Integer(null=False)
    name = Varchar(length=20)
    location = Geometry("Point", srid=4326, index=True)


@pgcitus.distributed("tenant")
class BenchCitusDist(Table, tablename="pgx_bench_citus_dist"):
    tenant = Integer(null=False)
    name = Varchar(length=20)
    location = Geometry("Point", srid=4326, index=True)


def _data(count: int) -> dict[str, Any]:
    rng = np.random.default_rng(18)
    coords = np.column_stack(
        [rng.uniform(3.0, 8.0, count), rng.uniform(50.0, 54.0, count)]
    )
    points = shapely.set_srid(shapely.points(coords), 4326)
    return {
        "tenant": (np.arange(count) % TENANTS).tolist(),
        "name": [f"p{i}" for i in range(count)],
        "location": points,
    }


async def _prepare(engine: PgextEngine) -> None:
    for table in (BenchCitusLocal, BenchCitusDist):
        seam.bind_engine(table, engine)
        await table.alter().drop_table(if_exists=True)
        await table.create_table()
    await pgcitus.setup(BenchCitusDist, engine=engine)


async def _jobs(
    ctx: BenchContext, config: dict[str, Any], label: str
) -> list[JobResult]:
    engine = PgextEngine(config=config)
    await engine.start_connection_pool(min_size=1, max_size=2)
    server = f"{label}; {await ctx.describe(config)}"
    results: list[JobResult] = []
    try:
        await _prepare(engine)
        count = ctx.size(100_000, 5_000)
        data = _data(count)
        local, dist = BenchCitusLocal, BenchCitusDist

        async def truncate() -> None:
            for table in (local, dist):
                await engine.execute_in_new_connection(
                    f'TRUNCATE "{seam.table_name(table)}"'
                )

        async def copy_local() -> None:
            await copy_columns(local, data)

        async def copy_dist() -> None:
            await copy_columns(dist, data)

        progress(f"citus ({label}): COPY {count} points")
        results.append(
            await compare(
                f"citus {label}: binary COPY of {count} points",
                {"local table": copy_local, "distributed (32 shards)": copy_dist},
                baseline="local table",
                repeat=ctx.size(5, 1),
                units=count,
                unit_name="row",
                server=server,
                notes=MODEL,
                before_each=truncate,
                rotate=True,
            )
        )
        await copy_local()
        await copy_dist()
        queries = ctx.size(200, 20)
        rng = random.Random(5)
        centres = [
            Point(rng.uniform(3.5, 7.5), rng.uniform(50.5, 53.5))
            for _ in range(queries)
        ]

        def knn(table: Any, tenant: int | None) -> Any:
            async def run() -> None:
                for i, here in enumerate(centres):
                    q = table.select(table.id).order_by(table.location.knn(here))
                    if tenant is not None:
                        q = q.where(table.tenant == i % TENANTS)
                    assert len(await q.limit(10)) == 10

            return run

        def dwithin(table: Any, tenant: int | None) -> Any:
            async def run() -> None:
                for i, here in enumerate(centres):
                    q = table.select(table.id).where(
                        table.location.dwithin(here, 5_000)
                    )
                    if tenant is not None:
                        q = q.where(table.tenant == i % TENANTS)
                    await q

            return run

        for name, make in (("KNN k=10", knn), ("dwithin 5 km", dwithin)):
            results.append(
                await compare(
                    f"citus {label}: {name}, {queries} queries on {count} points",
                    {
                        "local table": make(local, None),
                        "distributed, no key": make(dist, None),
                        "local, tenant filter": make(local, 1),
                        "distributed, with key": make(dist, 1),
                    },
                    baseline="local table",
                    repeat=ctx.size(5, 1),
                    units=queries,
                    unit_name="query",
                    server=server,
                    notes=MODEL,
                    rotate=True,
                )
            )

        writes = ctx.size(500, 50)

        def single_rows(table: Any) -> Any:
            async def run() -> None:
                for i in range(writes):
                    await table(tenant=i % TENANTS, name="w", location=HERE).save()

            return run

        results.append(
            await compare(
                f"citus {label}: {writes} single-row inserts (save())",
                {"local table": single_rows(local), "distributed": single_rows(dist)},
                baseline="local table",
                repeat=ctx.size(5, 1),
                units=writes,
                unit_name="insert",
                server=server,
                notes=MODEL,
                rotate=True,
            )
        )
    finally:
        await engine.close_connection_pool()
    return results


async def run(ctx: BenchContext) -> list[JobResult]:
    given = os.environ.get("PGEXT_CITUS_DSN")
    if given:
        return await _jobs(ctx, {"dsn": given}, "given coordinator")
    if citus_version() is None:
        progress("citus: not installed (scripts/setup installs it); skipped")
        return []
    results: list[JobResult] = []
    for workers, label in ((0, "1 node"), (2, "3 nodes")):
        with CitusCluster(workers=workers) as cluster:
            results += await _jobs(ctx, cluster.config(), label)
    return results
