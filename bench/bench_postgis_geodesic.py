"""Issue 14: geodesic filters and nearest-first on 1M lon/lat points.

One ``Geometry("Point", srid=4326)`` table filled server-side
(``generate_series``) with points over Europe, created by pgext (so it has
Piccolo's GiST index on the column and pgext's ``(location::geography)``
expression index), and a copy with only the plain GiST index: the table every
pgext version before this one created ("today's form").

``dwithin(D(km=5))`` for a handful of query points, per round:

* ``pgext dwithin``: through Piccolo, ``ST_DWithin(location::geography, ...)``;
* ``raw asyncpg, ST_DWithin(::geography), its index``: the same statement by
  hand (the best raw form, and the limit);
* ``raw asyncpg, planar box on the plain index + exact test``: the other
  design considered (a degree box, wide enough for the latitude, on the plain
  index, then the geodesic test);
* ``today's form (no ::geography index)``: pgext's SQL on the old table;
* ``pgext prepare() ...``: the same query compiled once
  (:func:`pgext.postgis.prepare`), run per point on a held connection, as
  the raw rows are, and through the engine's pool (asyncpg resets a pooled
  connection when it goes back: one more round trip).

``knn(10)``:

* ``pgext knn (exact geodesic, 2 index scans)``;
* ``raw asyncpg, ORDER BY ::geography <-> LIMIT 10``: PostGIS's index KNN
  (sphere distance: fast but not the spheroid order);
* ``raw asyncpg, pgext's two-step SQL written once`` (the best exact raw
  form: the baseline) and ``... compiled per query`` (Piccolo's compile
  included, not its run);
* ``today's form: ORDER BY location <-> (degrees)``: what pgext compiled to
  before (planar order in degrees, the wrong rows at high latitudes);
* ``brute force ORDER BY ST_Distance(::geography)``: the truth, a full scan;
* ``pgext prepare() knn``, as for dwithin.

pgext's knn rows are checked against the brute force (not timed).  A last
job times primary-key range selects of 10 rows (knn's count) through
Piccolo, raw asyncpg on a held connection and raw asyncpg through the
pool: Piccolo's own per-query cost, which dominates the ratios of
sub-millisecond queries, and how much of it is the pool's reset.  The
``EXPLAIN ANALYZE`` of pgext's two statements is written next to the
results (``postgis_geodesic_explain.txt``).  Goal (issue 14): pgext within
1.2x of the best raw form with its index.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from piccolo.columns import Integer
from piccolo.table import Table
from shapely import Point, set_srid

from bench.runner import JobResult, compare, progress
from pgext import seam
from pgext.engine import PgextEngine
from pgext.postgis import Geometry, GeometryParam, prepare
from pgext.postgis.measure import D

if TYPE_CHECKING:
    from bench.run import BenchContext

OLD = "bench_geo_point_old"
POINT_SQL = "ST_SetSRID(ST_MakePoint($1, $2), 4326)"


class BenchGeoPoint(Table):
    rank = Integer()
    location = Geometry("Point", srid=4326)


async def _fill(engine: PgextEngine, rows: int) -> None:
    seam.bind_engine(BenchGeoPoint, engine)
    await BenchGeoPoint.alter().drop_table(if_exists=True)
    await BenchGeoPoint.create_table()
    async with engine.connection() as connection:
        progress(f"postgis_geodesic: inserting {rows:,} points (both indexes kept)")
        await connection.execute(
            "INSERT INTO bench_geo_point (rank, location) "
            "SELECT g, ST_SetSRID(ST_MakePoint(random() * 40 - 10, "
            "random() * 35 + 35), 4326) FROM generate_series(1, $1) AS g",
            rows,
        )
        await connection.execute(f"DROP TABLE IF EXISTS {OLD}")
        progress("postgis_geodesic: copying them to today's form (plain index only)")
        await connection.execute(
            f"CREATE TABLE {OLD} AS SELECT * FROM bench_geo_point; "
            f"CREATE INDEX {OLD}_location ON {OLD} USING gist (location)"
        )
        progress("postgis_geodesic: ANALYZE")
        await connection.execute(f"ANALYZE bench_geo_point; ANALYZE {OLD}")


def _box(lon: float, lat: float, metres: float) -> tuple[float, ...]:
    """A lon/lat box holding every point within ``metres`` (a degree of
    latitude is at least 110.57 km; a degree of longitude shrinks with the
    cosine of the box's highest latitude)."""
    dlat = metres / 110_574.0 * 1.01
    top = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, dlat / math.cos(math.radians(top)))
    return (lon - dlon, lat - dlat, lon + dlon, lat + dlat)


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    rows = ctx.size(1_000_000, 50_000)
    engine = PgextEngine(config=config, extensions=("postgis",))
    await engine.start_connection_pool(min_size=1, max_size=1)
    # A connection of its own, with pgext's codecs (the compiled statement
    # carries shapely operands); the other raw statements bind plain floats.
    raw_engine = PgextEngine(config=config)
    progress(f"postgis_geodesic: {rows:,} points, two tables")
    await _fill(engine, rows)
    rng = np.random.default_rng(14)
    here = [
        (float(x), float(y))
        for x, y in zip(rng.uniform(-9, 29, 5), rng.uniform(36, 69, 5), strict=True)
    ]
    column = BenchGeoPoint.location
    try:
        async with raw_engine.connection() as raw:
            results = [
                await _dwithin(ctx, raw, column, here, rows),
                await _knn(ctx, raw, column, here, rows),
                await _floor(ctx, raw, engine, len(here)),
            ]
        _residuals(results, len(here))
        return results
    finally:
        async with engine.connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {OLD}")
        await BenchGeoPoint.alter().drop_table(if_exists=True)
        await engine.close_connection_pool()


async def _dwithin(
    ctx: BenchContext, raw: Any, column: Any, here: list[tuple[float, float]], rows: int
) -> JobResult:
    query = BenchGeoPoint.select(BenchGeoPoint.id).where(
        column.dwithin(Point(*here[0]), D(km=5))
    )
    sql, args = query.querystrings[0].compile_string()
    await _explain(raw, "dwithin", sql, args, ctx)
    best = (
        "SELECT id FROM bench_geo_point WHERE ST_DWithin(location::geography, "
        f"{POINT_SQL}::geography, 5000)"
    )
    boxed = (
        "SELECT id FROM bench_geo_point WHERE location && "
        "ST_MakeEnvelope($3, $4, $5, $6, 4326) AND ST_DWithin(location::geography, "
        f"{POINT_SQL}::geography, 5000)"
    )

    async def pgext_dwithin() -> int:
        found = 0
        for x, y in here:
            found += len(
                await BenchGeoPoint.select(BenchGeoPoint.id).where(
                    column.dwithin(Point(x, y), D(km=5))
                )
            )
        return found

    nearby = prepare(
        BenchGeoPoint.select(BenchGeoPoint.id).where(
            column.dwithin(GeometryParam("here"), D(km=5))
        )
    )

    async def prepared_held() -> int:
        return sum([len(await nearby.run(raw, here=Point(x, y))) for x, y in here])

    async def prepared_pool() -> int:
        return sum([len(await nearby.run(here=Point(x, y))) for x, y in here])

    async def raw_best() -> int:
        return sum([len(await raw.fetch(best, x, y)) for x, y in here])

    async def raw_boxed() -> int:
        return sum(
            [len(await raw.fetch(boxed, x, y, *_box(x, y, 5000))) for x, y in here]
        )

    async def old_form() -> int:
        return sum(
            [
                len(await raw.fetch(best.replace("bench_geo_point", OLD), x, y))
                for x, y in here
            ]
        )

    jobs = (pgext_dwithin, prepared_held, prepared_pool, raw_best, raw_boxed, old_form)
    counts = {await job() for job in jobs}
    if len(counts) != 1:
        raise AssertionError(f"dwithin implementations disagree: {counts}")
    return await compare(
        f"dwithin(D(km=5)) on {rows:,} Geometry(4326) points, {len(here)} queries",
        {
            "raw asyncpg, ST_DWithin(::geography), its index": raw_best,
            "pgext dwithin": pgext_dwithin,
            "pgext prepare() dwithin, held connection": prepared_held,
            "pgext prepare() dwithin, engine's pool": prepared_pool,
            "raw asyncpg, planar box on the plain index + exact test": raw_boxed,
            "today's form (no ::geography index)": old_form,
        },
        baseline="raw asyncpg, ST_DWithin(::geography), its index",
        anchors=["today's form (no ::geography index)"],
        units=len(here),
        unit_name="query",
        server=await ctx.describe(ctx.postgres_config),
        notes=f"{counts.pop()} rows found in all; every variant returns the same rows.",
        repeat=ctx.size(5, 2),
    )


async def _knn(
    ctx: BenchContext, raw: Any, column: Any, here: list[tuple[float, float]], rows: int
) -> JobResult:
    query = (
        BenchGeoPoint.select(BenchGeoPoint.id)
        .order_by(column.knn(Point(*here[0])))
        .limit(10)
    )
    sql, args = query.querystrings[0].compile_string()
    await _explain(raw, "knn", sql, args, ctx)
    sphere = (
        "SELECT id FROM bench_geo_point ORDER BY location::geography <-> "
        f"{POINT_SQL}::geography LIMIT 10"
    )
    degrees = f"SELECT id FROM {OLD} ORDER BY location <-> {POINT_SQL} LIMIT 10"
    brute = (
        "SELECT id FROM bench_geo_point ORDER BY ST_Distance(location::geography, "
        f"{POINT_SQL}::geography), id LIMIT 10"
    )

    async def pgext_knn() -> list[int]:
        found = []
        for x, y in here:
            result = await (
                BenchGeoPoint.select(BenchGeoPoint.id)
                .order_by(column.knn(Point(x, y)))
                .limit(10)
            )
            found.append([r["id"] for r in result])
        return [i for ids in found for i in ids]

    def raw_job(statement: str, compiled: bool = False) -> Any:
        async def job() -> list[int]:
            found = []
            for x, y in here:
                if compiled:
                    q = (
                        BenchGeoPoint.select(BenchGeoPoint.id)
                        .order_by(column.knn(Point(x, y)))
                        .limit(10)
                    )
                    text, values = q.querystrings[0].compile_string()
                    found.extend(r[0] for r in await raw.fetch(text, *values))
                else:
                    found.extend(r[0] for r in await raw.fetch(statement, x, y))
            return found

        return job

    # pgext's statement compiled once: the exact two-step by hand, with
    # only the operands changing (asyncpg reuses the prepared statement).
    # (The operand travels as EWKB bytes; the raw job binds shapely points,
    # which the connection's codec encodes.)
    once = BenchGeoPoint.select(BenchGeoPoint.id).order_by(column.knn(Point(0, 0)))
    two_step, template = once.limit(10).querystrings[0].compile_string()
    slots = [i for i, value in enumerate(template) if type(value) is bytes]

    async def raw_two_step() -> list[int]:
        found = []
        for x, y in here:
            values = list(template)
            point = set_srid(Point(x, y), 4326)
            for slot in slots:
                values[slot] = point
            found.extend(r[0] for r in await raw.fetch(two_step, *values))
        return found

    nearest = prepare(
        BenchGeoPoint.select(BenchGeoPoint.id)
        .order_by(column.knn(GeometryParam("here")))
        .limit(10)
    )

    async def prepared_knn() -> list[int]:
        found = []
        for x, y in here:
            rows = await nearest.run(raw, here=Point(x, y))
            found.extend(r["id"] for r in rows)
        return found

    truth = await raw_job(brute)()
    if sorted(await raw_two_step()) != sorted(truth):
        raise AssertionError("the two-step SQL differs from the brute force")
    if sorted(await pgext_knn()) != sorted(truth):
        raise AssertionError("pgext knn differs from the brute-force geodesic order")
    if sorted(await prepared_knn()) != sorted(truth):
        raise AssertionError("prepared knn differs from the brute-force order")
    return await compare(
        f"knn(10) on {rows:,} Geometry(4326) points, {len(here)} queries",
        {
            "raw asyncpg, ORDER BY ::geography <-> LIMIT 10": raw_job(sphere),
            "pgext knn (exact geodesic, 2 index scans)": pgext_knn,
            "pgext prepare() knn, held connection": prepared_knn,
            "raw asyncpg, pgext's two-step SQL written once": raw_two_step,
            "raw asyncpg, pgext's SQL compiled per query": raw_job("", compiled=True),
            "today's form: ORDER BY location <-> (degrees)": raw_job(degrees),
            "brute force ORDER BY ST_Distance(::geography)": raw_job(brute),
        },
        baseline="raw asyncpg, pgext's two-step SQL written once",
        anchors=[
            "raw asyncpg, ORDER BY ::geography <-> LIMIT 10",
            "today's form: ORDER BY location <-> (degrees)",
        ],
        units=len(here),
        unit_name="query",
        server=await ctx.describe(ctx.postgres_config),
        notes=(
            "pgext's rows equal the brute-force geodesic order (checked). The "
            "sphere <-> order and the degree order are not exact; they are shown "
            "as the fastest index forms."
        ),
        repeat=ctx.size(5, 2),
    )


async def _floor(
    ctx: BenchContext, raw: Any, engine: PgextEngine, queries: int
) -> JobResult:
    """What any Piccolo select costs over raw asyncpg (primary-key ranges of
    10 rows, knn's count): the part of the ratios above that is not
    pgext's SQL, and how much of it is the pool's reset."""
    sql = "SELECT id FROM bench_geo_point WHERE id >= $1 AND id < $2"
    table = BenchGeoPoint

    async def piccolo_range() -> int:
        found = 0
        for key in range(1, queries * 10, 10):
            found += len(
                await table.select(table.id).where(
                    (table.id >= key) & (table.id < key + 10)
                )
            )
        return found

    async def raw_range() -> int:
        found = 0
        for key in range(1, queries * 10, 10):
            found += len(await raw.fetch(sql, key, key + 10))
        return found

    async def raw_pool_range() -> int:
        found = 0
        for key in range(1, queries * 10, 10):
            async with engine.connection() as pooled:
                found += len(await pooled.fetch(sql, key, key + 10))
        return found

    return await compare(
        f"Piccolo's per-query floor: {queries} primary-key range selects of 10 rows",
        {
            "raw asyncpg": raw_range,
            "Piccolo select (PgextEngine)": piccolo_range,
            "raw asyncpg, through the engine's pool": raw_pool_range,
        },
        baseline="raw asyncpg",
        units=queries,
        unit_name="query",
        server=await ctx.describe(ctx.postgres_config),
        notes=(
            "No spatial SQL: the fixed cost of building and running a Piccolo "
            "query; the pool row is asyncpg's acquire and release (a reset "
            "round trip) alone."
        ),
        repeat=ctx.size(20, 5),
    )


def _residuals(results: list[JobResult], queries: int) -> None:
    """Add to the dwithin and knn notes what is left of pgext's time once
    Piccolo's own per-query cost (the floor job, same run) is taken out."""
    dwithin, knn, floor = results
    piccolo_cost = floor.median("Piccolo select (PgextEngine)") - floor.median(
        "raw asyncpg"
    )
    for result, name in (
        (dwithin, "pgext dwithin"),
        (knn, "pgext knn (exact geodesic, 2 index scans)"),
    ):
        left = result.median(name) - piccolo_cost
        result.notes += (
            f" Piccolo's own cost for {queries} queries (floor job, this run): "
            f"{piccolo_cost * 1e3:.2f} ms; pgext without it: {left * 1e3:.2f} ms "
            f"= {left / result.median(result.baseline):.2f}x the baseline's time."
        )


async def _explain(raw: Any, name: str, sql: str, args: Any, ctx: BenchContext) -> None:
    plan = await raw.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args)
    text = "\n".join(r[0] for r in plan)
    out = Path(__file__).parent / "results" / "postgis_geodesic_explain.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = "a" if name != "dwithin" else "w"
    with out.open(mode) as handle:
        size = "quick" if ctx.quick else "full"
        handle.write(f"-- pgext {name} ({size} size)\n{sql}\n{text}\n\n")
    progress(f"postgis_geodesic: EXPLAIN of {name} written to {out}")
