"""Every spatial operation on a distributed table (32 shards on the
single-node cluster) against the same query on a plain table of the PostGIS
server: the same rows, and for KNN the same order."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
import shapely
from piccolo.table import Table
from shapely import Point, box

from pgext import citus as pgcitus
from pgext.engine import PgextEngine
from pgext.postgis import (
    feature_collection,
    feature_collection_query,
    vector_tile,
    vector_tile_query,
)
from tests.citus.models import CITUS_MODELS, CtCountry, CtShop, PlainCountry, PlainShop
from tests.helpers import recreate_tables
from tests.postgis.test_tiles import decode

pytestmark = [pytest.mark.citus, pytest.mark.postgres]

HERE = Point(4.9, 52.37)
TENANTS = 20
ROWS = 1500


@pytest.fixture(scope="module")
async def pair(citus: PgextEngine, pg_engine: PgextEngine) -> None:
    """The same rows (same ids) in the distributed and the plain tables."""
    await recreate_tables(citus, *CITUS_MODELS)
    await pgcitus.setup(*CITUS_MODELS, engine=citus)
    await recreate_tables(pg_engine, PlainCountry, PlainShop)
    rng = random.Random(18)
    countries = [
        {"id": 1, "code": "NL", "name": "west", "area": box(3.0, 50.0, 5.0, 54.0)},
        {"id": 2, "code": "DE", "name": "east", "area": box(5.0, 50.0, 8.0, 54.0)},
    ]
    shops = [
        {
            "id": i + 1,
            "tenant": i % TENANTS,
            "name": f"s{i:04d}",
            "location": Point(rng.uniform(3.0, 8.0), rng.uniform(50.0, 54.0)),
            "country": 1 + (i % 2),
        }
        for i in range(ROWS)
    ]
    for country, shop in ((CtCountry, CtShop), (PlainCountry, PlainShop)):
        await country.insert(*[country(**row) for row in countries])
        await shop.insert(*[shop(**row) for row in shops])


async def both(query: Callable[[type[Table], type[Table]], Any]) -> tuple[Any, Any]:
    return await query(CtShop, CtCountry), await query(PlainShop, PlainCountry)


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


async def test_dwithin_without_and_with_the_key(pair: None) -> None:
    def query(shop: Any, _: Any, tenant: int | None = None) -> Any:
        q = shop.select(shop.name).where(shop.location.dwithin(HERE, 40_000))
        if tenant is not None:
            q = q.where(shop.tenant == tenant)
        return q.order_by(shop.name)

    dist, plain = await both(query)
    assert len(plain) > 20 and names(dist) == names(plain)
    dist, plain = await both(lambda s, c: query(s, c, tenant=7))
    assert names(dist) == names(plain)


async def test_knn_is_exact_across_shards(pair: None) -> None:
    for tenant in (None, 3):

        def query(shop: Any, _: Any, tenant: int | None = tenant) -> Any:
            q = shop.select(shop.name, shop.location.distance(HERE, alias="d"))
            if tenant is not None:
                q = q.where(shop.tenant == tenant)
            return q.order_by(shop.location.knn(HERE)).limit(15)

        dist, plain = await both(query)
        assert names(dist) == names(plain)
        assert [r["d"] for r in dist] == pytest.approx([r["d"] for r in plain])


async def test_intersects_and_a_join_with_a_reference_table(pair: None) -> None:
    area = box(4.0, 51.0, 4.6, 51.5)

    def inside(shop: Any, _: Any) -> Any:
        return shop.select(shop.name).where(shop.location.intersects(area))

    dist, plain = await both(inside)
    assert len(plain) > 5 and sorted(names(dist)) == sorted(names(plain))

    def joined(shop: Any, _: Any) -> Any:
        return (
            shop.select(shop.name, shop.country.name.as_alias("country"))
            .where(shop.location.within(shop.country.area))
            .where(shop.tenant.is_in([1, 2, 3]))
        )

    dist, plain = await both(joined)
    key = sorted((r["name"], r["country"]) for r in plain)
    assert key and sorted((r["name"], r["country"]) for r in dist) == key


async def test_feature_collection_matches(pair: None) -> None:
    async def query(shop: Any, _: Any) -> str:
        return await feature_collection(
            shop,
            shop.location,
            [shop.name, shop.tenant],
            where=shop.location.dwithin(HERE, 30_000),
            order_by=shop.name,
        )

    dist, plain = await both(query)
    assert json.loads(dist) == json.loads(plain)
    assert json.loads(plain)["features"]


async def test_vector_tile_matches(pair: None) -> None:
    async def query(shop: Any, _: Any) -> bytes:
        return await vector_tile(shop, shop.location, 7, 65, 42, [shop.name])

    dist, plain = await both(query)
    dist_layer, plain_layer = decode(dist)["ct_shop"], decode(plain)["plain_shop"]
    assert plain_layer.features > 10
    assert dist_layer.features == plain_layer.features
    assert sorted(dist_layer.values) == sorted(plain_layer.values)


def test_shapely_points_are_valid() -> None:
    assert shapely.is_valid(HERE)


async def test_features_and_tiles_are_computed_on_the_shards(
    pair: None, citus: PgextEngine
) -> None:
    """The per-row work (GeoJSON text, ST_AsMVTGeom) is in the queries sent
    to the shards; only the concatenation or the tile is built on the
    coordinator."""
    for query, work in (
        (
            feature_collection_query(CtShop, CtShop.location, [CtShop.name]),
            "st_asgeojson",
        ),
        (vector_tile_query(CtShop, CtShop.location, 7, 65, 42), "st_asmvtgeom"),
    ):
        sql, args = query.compile_string(engine_type="postgres")
        async with citus.connection() as connection:
            plan = await connection.fetch("EXPLAIN (VERBOSE, COSTS OFF) " + sql, *args)
        lines = [row[0] for row in plan]
        tasks = [line for line in lines if "Query: SELECT" in line]
        assert tasks and work in tasks[0].lower(), lines
        assert any("Task Count: 32" in line for line in lines), lines
