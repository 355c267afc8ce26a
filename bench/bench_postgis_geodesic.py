"""Issue 14: geodesic filters and nearest-first on 1M lon/lat points.

One ``Geometry("Point", srid=4326)`` table filled server-side
(``generate_series``) with points over Europe, created by pgext (so it has
Piccolo's GiST index on the column and pgext's ``(location::geography)``
expression index), and a copy with only the plain GiST index: the table every
pgext version before this one created ("today's form").

``dwithin(D(km=5))`` for 100 query points (20 with ``--quick``) per round;
the forms that scan the whole table (today's and the brute force) run in
jobs of their own on 5 of them, next to the same baseline:

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
  connection when it goes back: one more round trip); the point given as a
  shapely ``Point`` and as a ``(lon, lat)`` pair (no shapely object built:
  the raw rows bind plain floats too).

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

pgext's knn rows are checked against the brute force on 5 points and
against the exact two-step SQL on all of them (not timed).  A last
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
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from piccolo.columns import Integer
from piccolo.table import Table
from shapely import Point

from bench.runner import JobResult, compare, progress
from pgext import seam
from pgext.engine import PgextEngine
from pgext.postgis import Geometry, GeometryParam, prepare
from pgext.postgis.measure import D

if TYPE_CHECKING:
    from bench.run import BenchContext

OLD = "bench_geo_point_old"
POINT_SQL = "ST_SetSRID(ST_MakePoint($1, $2), 4326)"
# EWKB of a 2-D point with its SRID: byte order, type with the SRID flag, SRID, x, y.
_EWKB_POINT = struct.Struct("<BIIdd")


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
    # carries EWKB operands); the other raw statements bind plain floats.
    raw_engine = PgextEngine(config=config)
    progress(f"postgis_geodesic: {rows:,} points, two tables")
    await _fill(engine, rows)
    rng = np.random.default_rng(14)
    count = ctx.size(100, 20)
    here = [
        (float(x), float(y))
        for x, y in zip(
            rng.uniform(-9, 29, count), rng.uniform(36, 69, count), strict=True
        )
    ]
    column = BenchGeoPoint.location
    try:
        async with raw_engine.connection() as raw:
            dwithin, dwithin_scans = await _dwithin(ctx, raw, column, here, rows)
            knn, knn_scans = await _knn(ctx, raw, column, here, rows)
            floor = await _floor(ctx, raw, engine, len(here))
        _residuals(dwithin, knn, floor, len(here))
        return [dwithin, knn, floor, dwithin_scans, knn_scans]
    finally:
        async with engine.connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {OLD}")
        await BenchGeoPoint.alter().drop_table(if_exists=True)
        await engine.close_connection_pool()


Points = list[tuple[float, float]]


def _summed(fetch: Any, points: Points) -> Any:
    """A job: ``fetch(x, y)`` for every point, the rows counted."""

    async def job() -> int:
        return sum([len(await fetch(x, y)) for x, y in points])

    return job


async def _dwithin(
    ctx: BenchContext, raw: Any, column: Any, here: Points, rows: int
) -> tuple[JobResult, JobResult]:
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
    nearby = prepare(
        BenchGeoPoint.select(BenchGeoPoint.id).where(
            column.dwithin(GeometryParam("here"), D(km=5))
        )
    )

    async def builder(x: float, y: float) -> Any:
        return await BenchGeoPoint.select(BenchGeoPoint.id).where(
            column.dwithin(Point(x, y), D(km=5))
        )

    async def prepared_held(x: float, y: float) -> Any:
        return await nearby.run(raw, here=Point(x, y))

    async def prepared_pair(x: float, y: float) -> Any:
        return await nearby.run(raw, here=(x, y))

    async def prepared_pool(x: float, y: float) -> Any:
        return await nearby.run(here=Point(x, y))

    async def raw_best(x: float, y: float) -> Any:
        return await raw.fetch(best, x, y)

    async def raw_boxed(x: float, y: float) -> Any:
        return await raw.fetch(boxed, x, y, *_box(x, y, 5000))

    async def old_form(x: float, y: float) -> Any:
        return await raw.fetch(best.replace("bench_geo_point", OLD), x, y)

    fast = {
        "raw asyncpg, ST_DWithin(::geography), its index": raw_best,
        "pgext dwithin": builder,
        "pgext prepare() dwithin, shapely Point, held connection": prepared_held,
        "pgext prepare() dwithin, (lon, lat) pair, held connection": prepared_pair,
        "pgext prepare() dwithin, engine's pool": prepared_pool,
        "raw asyncpg, planar box on the plain index + exact test": raw_boxed,
    }
    few = here[:5]
    on_few = {await _summed(f, few)() for f in (*fast.values(), old_form)}
    counts = {await _summed(f, here)() for f in fast.values()}
    if len(on_few) != 1 or len(counts) != 1:
        raise AssertionError(f"dwithin forms disagree: {on_few}, {counts}")
    baseline = "raw asyncpg, ST_DWithin(::geography), its index"
    server = await ctx.describe(ctx.postgres_config)
    return await compare(
        f"dwithin(D(km=5)) on {rows:,} Geometry(4326) points, {len(here)} queries",
        {name: _summed(f, here) for name, f in fast.items()},
        baseline=baseline,
        units=len(here),
        unit_name="query",
        server=server,
        notes=f"{max(counts)} rows found in all; every variant returns the same rows.",
        repeat=ctx.size(7, 3),
    ), await compare(
        f"dwithin(D(km=5)) on {rows:,} points, today's form: {len(few)} queries",
        {
            baseline: _summed(raw_best, few),
            "today's form (no ::geography index)": _summed(old_form, few),
        },
        baseline=baseline,
        units=len(few),
        unit_name="query",
        server=server,
        notes="pgext's SQL on the table without the ::geography index: a full scan.",
        repeat=ctx.size(3, 2),
    )


async def _knn(
    ctx: BenchContext, raw: Any, column: Any, here: Points, rows: int
) -> tuple[JobResult, JobResult]:
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

    def nearest(x: float, y: float) -> Any:
        return BenchGeoPoint.select(BenchGeoPoint.id).order_by(column.knn(Point(x, y)))

    async def builder(x: float, y: float) -> Any:
        return await nearest(x, y).limit(10)

    async def compiled(x: float, y: float) -> Any:
        text, values = nearest(x, y).limit(10).querystrings[0].compile_string()
        return await raw.fetch(text, *values)

    # pgext's statement compiled once: the exact two-step by hand, with
    # only the operands changing (asyncpg reuses the prepared statement).
    # The operand travels as EWKB bytes, packed by hand as the fastest
    # hand-written client would.
    two_step, template = nearest(0, 0).limit(10).querystrings[0].compile_string()
    slots = [i for i, value in enumerate(template) if type(value) is bytes]

    async def raw_two_step(x: float, y: float) -> Any:
        values = list(template)
        point = _EWKB_POINT.pack(1, 0x20000001, 4326, x, y)
        for slot in slots:
            values[slot] = point
        return await raw.fetch(two_step, *values)

    ready = prepare(
        BenchGeoPoint.select(BenchGeoPoint.id)
        .order_by(column.knn(GeometryParam("here")))
        .limit(10)
    )

    async def prepared(x: float, y: float) -> Any:
        return await ready.run(raw, here=Point(x, y))

    async def prepared_pair(x: float, y: float) -> Any:
        return await ready.run(raw, here=(x, y))

    def plain(fetch: Any) -> Any:
        return lambda x, y: raw.fetch(fetch, x, y)

    few = here[:5]

    async def ids(fetch: Any, points: Points) -> list[int]:
        # Records and Piccolo's row dicts alike are read by name.
        found: list[int] = []
        for x, y in points:
            found.extend(row["id"] for row in await fetch(x, y))
        return sorted(found)

    truth = await ids(plain(brute), few)
    for name, fetch in (("two-step", raw_two_step), ("pgext", builder)):
        if await ids(fetch, few) != truth:
            raise AssertionError(f"{name} knn differs from the brute force")
    exact = await ids(raw_two_step, here)
    for fetch in (builder, prepared, prepared_pair, compiled):
        if await ids(fetch, here) != exact:
            raise AssertionError("pgext's knn forms return other rows")
    baseline = "raw asyncpg, pgext's two-step SQL written once"
    server = await ctx.describe(ctx.postgres_config)
    jobs = {
        "raw asyncpg, ORDER BY ::geography <-> LIMIT 10": plain(sphere),
        "pgext knn (exact geodesic, 2 index scans)": builder,
        "pgext prepare() knn, shapely Point, held connection": prepared,
        "pgext prepare() knn, (lon, lat) pair, held connection": prepared_pair,
        baseline: raw_two_step,
        "raw asyncpg, pgext's SQL compiled per query": compiled,
        "today's form: ORDER BY location <-> (degrees)": plain(degrees),
    }
    return await compare(
        f"knn(10) on {rows:,} Geometry(4326) points, {len(here)} queries",
        {name: _summed(fetch, here) for name, fetch in jobs.items()},
        baseline=baseline,
        anchors=[
            "raw asyncpg, ORDER BY ::geography <-> LIMIT 10",
            "today's form: ORDER BY location <-> (degrees)",
        ],
        units=len(here),
        unit_name="query",
        server=server,
        notes=(
            "pgext's rows (builder and prepare()) equal the two-step SQL's, "
            "which equal the brute-force geodesic order (checked on 5 points). "
            "The sphere <-> order and the degree order are not exact; they are "
            "shown as the fastest index forms."
        ),
        repeat=ctx.size(7, 3),
    ), await compare(
        f"knn(10) on {rows:,} points, the brute force: {len(few)} queries",
        {
            baseline: _summed(raw_two_step, few),
            "brute force ORDER BY ST_Distance(::geography)": _summed(plain(brute), few),
        },
        baseline=baseline,
        units=len(few),
        unit_name="query",
        server=server,
        notes="The truth, sorting every row: a full scan.",
        repeat=ctx.size(3, 2),
    )


async def _floor(
    ctx: BenchContext, raw: Any, engine: PgextEngine, queries: int
) -> JobResult:
    """What any Piccolo select costs over raw asyncpg (primary-key ranges of
    10 rows, knn's count): the part of the ratios above that is not
    pgext's SQL, and how much of it is the pool's reset."""
    sql = "SELECT id FROM bench_geo_point WHERE id >= $1 AND id < $2"
    table = BenchGeoPoint
    keys = [(float(key), 0.0) for key in range(1, queries * 10, 10)]

    async def piccolo_range(key: float, _: float) -> Any:
        return await table.select(table.id).where(
            (table.id >= int(key)) & (table.id < int(key) + 10)
        )

    async def raw_range(key: float, _: float) -> Any:
        return await raw.fetch(sql, int(key), int(key) + 10)

    async def raw_pool_range(key: float, _: float) -> Any:
        async with engine.connection() as pooled:
            return await pooled.fetch(sql, int(key), int(key) + 10)

    return await compare(
        f"Piccolo's per-query floor: {queries} primary-key range selects of 10 rows",
        {
            "raw asyncpg": _summed(raw_range, keys),
            "Piccolo select (PgextEngine)": _summed(piccolo_range, keys),
            "raw asyncpg, through the engine's pool": _summed(raw_pool_range, keys),
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
        repeat=ctx.size(7, 3),
    )


def _residuals(
    dwithin: JobResult, knn: JobResult, floor: JobResult, queries: int
) -> None:
    """Add to the dwithin and knn notes what is left of pgext's time once
    Piccolo's own per-query cost (the floor job, same run) is taken out."""
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
