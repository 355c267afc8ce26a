"""PostGIS values in and out (issue 3, benchmarks 1 and 2).

1. Read N Points into shapely geometries:
   * raw asyncpg, binary codec returning bytes, one ``shapely.from_wkb`` on
     the whole column (the limit named by the issue, baseline), and the same
     with the cyclic GC paused around decoding (what pgext does; the real
     floor);
   * raw asyncpg turned into dicts (what any dict-returning ORM pays);
   * pgext ``Table.select`` (placeholder decoder + bulk column hook, row
     dicts built once from the converted columns);
   * pgext with a per-row decoder (``shapely.from_wkb`` inside the codec),
     the design the bulk hook replaced -- kept to justify it;
   * the documented driver-level path, ``engine.connection()`` + ``fetch`` +
     ``to_shapely``, and the same with ``to_shapely`` as it was before issue
     20 (no GC pause, a Python call per value);
   * GeoAlchemy2 on async SQLAlchemy + asyncpg, ``to_shape`` per row.
2. Write N Points:
   * raw asyncpg binary COPY (EWKB from one ``shapely.to_wkb`` call, baseline),
     also with the GC paused while the records are built;
   * pgext ``copy_columns`` (column-oriented input; checks and encoding
     vectorised) and ``copy_rows`` (row tuples, transposed per batch);
   * pgext ``Table.insert`` in chunks of 5,000 rows, and the same value by
     value as before issue 20 (each geometry parsed, checked and encoded on
     its own, then parsed again by the codec);
   * plain Piccolo (``PostgresEngine``) ``Table.insert`` of EWKT strings into
     a bare geometry column, in the same chunks;
   * GeoAlchemy2 ``insert`` executemany.

All implementations get the same shapely points (SRID 4326) as input and run
over one pooled connection each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
import numpy as np
import shapely
from piccolo.columns import Column, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from bench.runner import JobResult, compare, progress
from pgext import seam
from pgext.codecs import TypeCodec, register_codec
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from pgext.postgis.codec import (
    decode_row_by_row,
    encode,
    gc_paused,
    install,
    to_shapely,
)
from pgext.postgis.copy import copy_columns, copy_rows

if TYPE_CHECKING:
    from bench.run import BenchContext

TABLE = "pgx_bench_io_point"
INSERT_CHUNK = 5_000


class BenchIoPoint(Table, tablename=TABLE):
    name = Varchar(length=20)
    location = Geometry("Point", srid=4326, spatial_index=False)


class EwktPoint(Column):
    """What a plain Piccolo user declares: a geometry column taking text."""

    value_type = str

    @property
    def column_type(self) -> str:
        return "geometry(Point,4326)"


class BenchIoPointText(Table, tablename=TABLE):
    name = Varchar(length=20)
    location = EwktPoint()


class GeometryBefore20(Geometry):
    """The write hook before issue 20: a checked shapely value, which the
    codec then parsed and encoded again."""

    def pgext_write_value(self, value: Any) -> Any:
        if value is None:
            return value
        self._require_codec_engine()
        return self.to_geometry(value)


class BenchIoPointBefore(Table, tablename=TABLE):
    name = Varchar(length=20)
    location = GeometryBefore20("Point", srid=4326, spatial_index=False)


def _to_shapely_before20(values: list[Any]) -> list[Any]:
    """``to_shapely`` before issue 20."""
    array = np.fromiter(
        (None if value is None else bytes(value) for value in values), dtype=object
    )
    result: list[Any] = shapely.from_wkb(array).tolist()
    return result


def _points(count: int) -> np.ndarray[Any, np.dtype[np.object_]]:
    rng = np.random.default_rng(7)
    coords = np.column_stack(
        [rng.uniform(-180, 180, count), rng.uniform(-90, 90, count)]
    )
    points: np.ndarray[Any, np.dtype[np.object_]] = shapely.set_srid(
        shapely.points(coords), 4326
    )
    return points


def _async_url(dsn: str) -> str:
    _scheme, rest = dsn.split("://", 1)
    return f"postgresql+asyncpg://{rest}"


async def _raw_pool(config: dict[str, Any]) -> asyncpg.Pool:
    async def init(connection: asyncpg.Connection) -> None:
        await connection.set_type_codec(
            "geometry", encoder=bytes, decoder=bytes, format="binary"
        )

    pool: asyncpg.Pool = await asyncpg.create_pool(
        **config, min_size=1, max_size=1, init=init
    )
    return pool


async def _engine(config: dict[str, Any], per_row: bool = False) -> PgextEngine:
    """A pooled engine; ``per_row`` installs the per-row decoder on its one
    connection (the registry is global, so it is restored right after)."""
    engine = PgextEngine(config=config)
    if per_row:
        for name in ("geometry", "geography"):
            register_codec(TypeCodec(name, encode, decode_row_by_row, "binary"))
    try:
        await engine.start_connection_pool(min_size=1, max_size=1)
    finally:
        install()
    return engine


def _geoalchemy(config: dict[str, Any]) -> tuple[Any, Any, Callable[..., Any]]:
    from geoalchemy2 import Geometry as GaGeometry
    from geoalchemy2.shape import from_shape, to_shape
    from sqlalchemy import Column, Integer, MetaData, String
    from sqlalchemy import Table as SaTable
    from sqlalchemy.ext.asyncio import create_async_engine

    table = SaTable(
        TABLE,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(20)),
        Column("location", GaGeometry("POINT", srid=4326, spatial_index=False)),
    )
    engine = create_async_engine(_async_url(config["dsn"]), pool_size=1, max_overflow=0)
    return engine, table, (from_shape, to_shape)


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    from sqlalchemy import insert, select

    count = ctx.size(100_000, 5_000)
    # The read job's implementations differ by tens of ms on a shared 2-core
    # machine: more interleaved rounds keep its medians stable.
    repeat = ctx.size(11, 2)
    points = _points(count)
    names = [f"p{i}" for i in range(count)]

    engine = await _engine(config)
    per_row_engine = await _engine(config, per_row=True)
    raw = await _raw_pool(config)
    ga_engine, ga_table, (from_shape, to_shape) = _geoalchemy(config)

    plain = PostgresEngine(config=config)
    await plain.start_connection_pool(min_size=1, max_size=1)
    seam.bind_engine(BenchIoPointText, plain)
    seam.bind_engine(BenchIoPointBefore, engine)
    seam.bind_engine(BenchIoPoint, engine)
    await engine.ensure_extension("postgis")
    await BenchIoPoint.alter().drop_table(if_exists=True)
    await BenchIoPoint.create_table()
    progress(f"postgis_io: loading {count} points")
    await copy_rows(BenchIoPoint, zip(names, points, strict=True), ["name", "location"])

    sql = f'SELECT "id", "location" FROM "{TABLE}"'

    async def read_raw() -> None:
        async with raw.acquire() as connection:
            rows = await connection.fetch(sql)
        geometries = shapely.from_wkb(np.fromiter((r[1] for r in rows), object))
        assert len(geometries) == count

    async def read_raw_gc_paused() -> None:
        # The same with the cyclic GC paused around decoding, as pgext's
        # result hook does: shows how much of the gap is the collector.
        async with raw.acquire() as connection:
            rows = await connection.fetch(sql)
        with gc_paused(len(rows)):
            geometries = shapely.from_wkb(np.fromiter((r[1] for r in rows), object))
        assert len(geometries) == count

    async def read_raw_dicts() -> None:
        # What any ORM returning dicts pays on top of the limit.
        async with raw.acquire() as connection:
            rows = [dict(r) for r in await connection.fetch(sql)]
        geometries = shapely.from_wkb(
            np.fromiter((r["location"] for r in rows), object, count=len(rows))
        )
        for row, geometry in zip(rows, geometries.tolist(), strict=True):
            row["location"] = geometry
        assert len(rows) == count

    def read_pgext(on: PgextEngine) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            seam.bind_engine(BenchIoPoint, on)
            rows = await BenchIoPoint.select(BenchIoPoint.id, BenchIoPoint.location)
            assert len(rows) == count and isinstance(rows[0]["location"], shapely.Point)

        return job

    def read_driver(decode: Callable[[list[Any]], list[Any]]) -> Any:
        async def job() -> None:
            # As docs/postgis-columns.md shows it.
            async with engine.connection() as connection:
                records = await connection.fetch(sql)
            geometries = decode([record["location"] for record in records])
            assert len(geometries) == count and isinstance(geometries[0], shapely.Point)

        return job

    async def read_geoalchemy() -> None:
        async with ga_engine.connect() as connection:
            result = await connection.execute(
                select(ga_table.c.id, ga_table.c.location)
            )
            shapes = [to_shape(row[1]) for row in result]
        assert len(shapes) == count

    results: list[JobResult] = []
    try:
        results.append(
            await compare(
                f"read {count:,} Points into shapely",
                {
                    "raw asyncpg + shapely.from_wkb(array) (limit)": read_raw,
                    "raw asyncpg + from_wkb(array), GC paused": read_raw_gc_paused,
                    "raw asyncpg -> dicts + from_wkb(array)": read_raw_dicts,
                    "pgext select (bulk decode)": read_pgext(engine),
                    "pgext select, per-row decoder": read_pgext(per_row_engine),
                    "pgext connection() + to_shapely (driver path)": read_driver(
                        to_shapely
                    ),
                    "pgext connection() + to_shapely before #20": read_driver(
                        _to_shapely_before20
                    ),
                    "GeoAlchemy2 async + to_shape": read_geoalchemy,
                },
                baseline="raw asyncpg + shapely.from_wkb(array) (limit)",
                anchors=["pgext select (bulk decode)", "GeoAlchemy2 async + to_shape"],
                units=count,
                unit_name="row",
                server=await ctx.describe(config),
                repeat=repeat,
            )
        )
        seam.bind_engine(BenchIoPoint, engine)

        async def truncate() -> None:
            async with raw.acquire() as connection:
                await connection.execute(f'TRUNCATE "{TABLE}"')

        async def write_raw_copy() -> None:
            encoded = shapely.to_wkb(points, include_srid=True).tolist()
            async with raw.acquire() as connection:
                await connection.copy_records_to_table(
                    TABLE,
                    records=list(zip(names, encoded, strict=True)),
                    columns=["name", "location"],
                )

        async def write_raw_copy_gc_paused() -> None:
            with gc_paused(count):
                encoded = shapely.to_wkb(points, include_srid=True).tolist()
                records = list(zip(names, encoded, strict=True))
            async with raw.acquire() as connection:
                await connection.copy_records_to_table(
                    TABLE, records=records, columns=["name", "location"]
                )

        async def write_pgext_copy_columns() -> None:
            await copy_columns(BenchIoPoint, {"name": names, "location": points})

        async def write_pgext_copy() -> None:
            await copy_rows(
                BenchIoPoint,
                zip(names, points, strict=True),
                ["name", "location"],
                batch_size=count,
            )

        async def write_pgext_insert() -> None:
            for start in range(0, count, INSERT_CHUNK):
                await BenchIoPoint.insert(
                    *(
                        BenchIoPoint(name=names[i], location=points[i])
                        for i in range(start, min(count, start + INSERT_CHUNK))
                    )
                )

        ewkt = [f"SRID=4326;{text}" for text in shapely.to_wkt(points).tolist()]

        async def write_plain_ewkt() -> None:
            for start in range(0, count, INSERT_CHUNK):
                await BenchIoPointText.insert(
                    *(
                        BenchIoPointText(name=names[i], location=ewkt[i])
                        for i in range(start, min(count, start + INSERT_CHUNK))
                    )
                )

        async def write_pgext_insert_before() -> None:
            # Without the insert hook, which did not exist before issue 20.
            hooks = list(seam._INSERT_HOOKS)
            seam._INSERT_HOOKS.clear()
            try:
                for start in range(0, count, INSERT_CHUNK):
                    await BenchIoPointBefore.insert(
                        *(
                            BenchIoPointBefore(name=names[i], location=points[i])
                            for i in range(start, min(count, start + INSERT_CHUNK))
                        )
                    )
            finally:
                seam._INSERT_HOOKS[:] = hooks

        async def write_geoalchemy() -> None:
            rows = [
                {"name": n, "location": from_shape(p, srid=4326)}
                for n, p in zip(names, points, strict=True)
            ]
            async with ga_engine.begin() as connection:
                await connection.execute(insert(ga_table), rows)

        results.append(
            await compare(
                f"write {count:,} Points",
                {
                    "raw asyncpg binary COPY (limit)": write_raw_copy,
                    "raw asyncpg binary COPY, GC paused": write_raw_copy_gc_paused,
                    "pgext copy_columns": write_pgext_copy_columns,
                    "pgext copy_rows": write_pgext_copy,
                    "pgext Table.insert (5k-row chunks)": write_pgext_insert,
                    "pgext Table.insert before #20": write_pgext_insert_before,
                    "plain Piccolo Table.insert of EWKT text": write_plain_ewkt,
                    "GeoAlchemy2 async insert (executemany)": write_geoalchemy,
                },
                baseline="raw asyncpg binary COPY (limit)",
                anchors=[
                    "plain Piccolo Table.insert of EWKT text",
                    "GeoAlchemy2 async insert (executemany)",
                ],
                units=count,
                unit_name="row",
                server=await ctx.describe(config),
                repeat=ctx.size(5, 2),
                before_each=truncate,
            )
        )
    finally:
        await raw.close()
        await plain.close_connection_pool()
        await engine.close_connection_pool()
        await per_row_engine.close_connection_pool()
        await ga_engine.dispose()
    return results
