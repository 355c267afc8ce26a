"""Issue 3, benchmark 3: N rows as a GeoJSON FeatureCollection.

* ``pgext feature_collection (SQL)``: :func:`pgext.postgis.geojson.feature_collection`,
  the collection built by PostGIS in one round trip, one text value back;
* ``raw asyncpg, same SQL``: the same statement through a bare asyncpg
  connection (the limit of the SQL-built approach);
* ``raw asyncpg, json_build_object + json_agg SQL``: the textbook SQL, which
  pgext does not use (it re-parses every ST_AsGeoJSON output as json);
* ``python: select + shapely mapping + json.dumps``: the usual way, rows
  through Piccolo (geometries decoded to shapely in bulk by pgext's codec),
  features built as dicts with ``shapely.geometry.mapping``, then ``json.dumps``;
* ``python: select + vectorised shapely.to_geojson``: the best Python can do
  with shapely 2 (one ``to_geojson`` call for all geometries, the JSON glued
  with string operations) - shown so the ratio is not against a strawman.

Goal (issue 3): SQL-built >= 5x the Python build.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import asyncpg
import numpy as np
import shapely
import shapely.geometry
from piccolo.columns import Integer, Varchar
from piccolo.table import Table

from bench.runner import JobResult, compare, progress
from pgext import seam
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from pgext.postgis.geojson import feature_collection, feature_collection_query

if TYPE_CHECKING:
    from bench.run import BenchContext


class BenchGjPlace(Table):
    name = Varchar()
    rank = Integer()
    spot = Geometry("Point", srid=4326)


async def _fill(engine: PgextEngine, rows: int) -> None:
    seam.bind_engine(BenchGjPlace, engine)
    await BenchGjPlace.alter().drop_table(if_exists=True)
    await BenchGjPlace.create_table()
    async with engine.connection() as connection:
        await connection.execute(
            "INSERT INTO bench_gj_place (name, rank, spot) "
            "SELECT 'place ' || g, g, ST_SetSRID(ST_MakePoint("
            "  round((random() * 360 - 180)::numeric, 6)::float8,"
            "  round((random() * 170 - 85)::numeric, 6)::float8), 4326) "
            "FROM generate_series(1, $1) AS g",
            rows,
        )
        await connection.execute("ANALYZE bench_gj_place")


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    rows = ctx.size(100_000, 5_000)
    engine = PgextEngine(config=config, extensions=("postgis",))
    await engine.start_connection_pool(min_size=1, max_size=1)
    raw = await asyncpg.connect(**config)
    progress(f"postgis_geojson: inserting {rows} points")
    await _fill(engine, rows)
    properties = [BenchGjPlace.name, BenchGjPlace.rank]
    sql, args = feature_collection_query(
        BenchGjPlace, BenchGjPlace.spot, properties
    ).compile_string()

    async def pgext_sql() -> str:
        return await feature_collection(BenchGjPlace, BenchGjPlace.spot, properties)

    async def raw_sql() -> str:
        text: str = await raw.fetchval(sql, *args)
        return text

    # The textbook SQL (json_build_object per feature, json_agg) that
    # feature_collection deliberately avoids; kept to show why.
    json_agg_sql = (
        "SELECT json_build_object('type', 'FeatureCollection', 'features', "
        "COALESCE(json_agg(f.feature), '[]'::json))::text FROM ("
        "SELECT json_build_object('type', 'Feature', 'id', id, 'geometry', "
        "ST_AsGeoJSON(spot, 9)::json, 'properties', "
        "json_build_object('name', name, 'rank', rank)) AS feature "
        "FROM bench_gj_place) AS f"
    )

    async def raw_json_agg() -> str:
        text: str = await raw.fetchval(json_agg_sql)
        return text

    async def python_mapping() -> str:
        result = await BenchGjPlace.select(
            BenchGjPlace.id, BenchGjPlace.spot, BenchGjPlace.name, BenchGjPlace.rank
        )
        features = [
            {
                "type": "Feature",
                "id": r["id"],
                "geometry": shapely.geometry.mapping(r["spot"]),
                "properties": {"name": r["name"], "rank": r["rank"]},
            }
            for r in result
        ]
        return json.dumps({"type": "FeatureCollection", "features": features})

    async def python_vectorised() -> str:
        result = await BenchGjPlace.select(
            BenchGjPlace.id, BenchGjPlace.spot, BenchGjPlace.name, BenchGjPlace.rank
        )
        geometries = np.fromiter((r["spot"] for r in result), dtype=object)
        texts = shapely.to_geojson(geometries).tolist()
        dumps = json.dumps
        parts = [
            f'{{"type":"Feature","id":{r["id"]},"geometry":{g},"properties":'
            f"{dumps({'name': r['name'], 'rank': r['rank']})}}}"
            for r, g in zip(result, texts, strict=True)
        ]
        return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"

    # Same content from every implementation (checked once, not timed).
    def content(text: str) -> list[Any]:
        features = json.loads(text)["features"]
        return sorted(features, key=lambda feature: feature["id"])

    reference: list[Any] | None = None
    for name, job in {
        "sql": pgext_sql,
        "raw": raw_sql,
        "json_agg": raw_json_agg,
        "mapping": python_mapping,
        "vectorised": python_vectorised,
    }.items():
        features = content(await job())
        if len(features) != rows or (reference is not None and features != reference):
            raise AssertionError(f"{name} built a different FeatureCollection")
        reference = features

    try:
        return [
            await compare(
                f"{rows:,} points as a GeoJSON FeatureCollection (2 properties)",
                {
                    "raw asyncpg, same SQL": raw_sql,
                    "pgext feature_collection (SQL)": pgext_sql,
                    "raw asyncpg, json_build_object + json_agg SQL": raw_json_agg,
                    "python: select + shapely mapping + json.dumps": python_mapping,
                    "python: select + vectorised shapely.to_geojson": python_vectorised,
                },
                baseline="raw asyncpg, same SQL",
                anchors=[
                    "python: select + shapely mapping + json.dumps",
                    "python: select + vectorised shapely.to_geojson",
                ],
                units=rows,
                unit_name="row",
                server=await ctx.describe(config),
                notes=(
                    "All five produce the same FeatureCollection. Python variants "
                    "include the Piccolo select with pgext's bulk shapely decode."
                ),
                repeat=ctx.size(5, 2),
            )
        ]
    finally:
        await raw.close()
        await BenchGjPlace.alter().drop_table(if_exists=True)
        await engine.close_connection_pool()
