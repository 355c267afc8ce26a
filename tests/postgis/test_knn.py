"""KNN ordering (``<->``), also on a joined column, and index use of the
generated SQL (checked with EXPLAIN, sequential scans disabled)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import shapely
from piccolo.columns import ForeignKey, Varchar
from piccolo.query.base import Query
from piccolo.table import Table
from shapely import Point

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis.measure import D
from pgext.postgis.queries import order_by_knn
from pgext.postgis.query_errors import UnsupportedOperation
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class KnnCity(Table):
    name = Varchar()
    centre = Geometry("Point", srid=3857)


class KnnShop(Table):
    name = Varchar()
    location = Geometry("Point", srid=4326)
    city = ForeignKey(KnnCity)


class KnnAirport(Table):
    code = Varchar()
    geog = Geography("Point")


def merc(x: float, y: float) -> shapely.Geometry:
    return shapely.set_srid(Point(x, y), 3857)


@pytest.fixture
async def data(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, KnnCity, KnnShop, KnnAirport)
    await KnnCity.insert(
        KnnCity(name="west", centre=merc(-1000, 0)),
        KnnCity(name="east", centre=merc(1000, 0)),
        KnnCity(name="far", centre=merc(90000, 0)),
    )
    cities = {
        r["name"]: r["id"] for r in await KnnCity.select(KnnCity.id, KnnCity.name)
    }
    await KnnShop.insert(
        KnnShop(name="a", location=Point(0, 0), city=cities["far"]),
        KnnShop(name="b", location=Point(0.5, 0), city=cities["east"]),
        KnnShop(name="c", location=Point(2, 0), city=cities["west"]),
        KnnShop(name="d", location=Point(-1, 0), city=None),
    )
    await KnnAirport.insert(
        KnnAirport(code="LHR", geog=Point(-0.4543, 51.47)),
        KnnAirport(code="CDG", geog=Point(2.55, 49.0097)),
        KnnAirport(code="JFK", geog=Point(-73.7781, 40.6413)),
    )


async def test_nearest_first(data: None) -> None:
    rows = (
        await KnnShop.select(KnnShop.name)
        .order_by(KnnShop.location.knn(Point(0.1, 0)))
        .limit(3)
    )
    assert [r["name"] for r in rows] == ["a", "b", "d"]
    rows = (
        await KnnShop.select(KnnShop.name)
        .order_by(KnnShop.location.knn("POINT(1.9 0)"), ascending=False)
        .limit(1)
    )
    assert rows[0]["name"] == "d"
    # Nearest with its distance in metres, farther than 10 km only.
    rows = (
        await KnnShop.select(KnnShop.name, KnnShop.location.distance(Point(0, 0)))
        .where(KnnShop.location.distance_gt(Point(0, 0), D(km=10)))
        .order_by(KnnShop.location.knn(Point(0, 0)))
    )
    assert [r["name"] for r in rows] == ["b", "d", "c"]
    assert rows[0]["distance"] == pytest.approx(55_660, rel=1e-3)


async def test_box_knn(data: None) -> None:
    rows = await KnnCity.select(KnnCity.name).order_by(
        KnnCity.centre.box_knn(merc(80000, 5))
    )
    assert [r["name"] for r in rows] == ["far", "east", "west"]
    with pytest.raises(UnsupportedOperation):
        KnnAirport.geog.box_knn(Point(0, 0))


async def test_geography_knn(data: None) -> None:
    near_paris = Point(2.35, 48.85)
    rows = await KnnAirport.select(KnnAirport.code).order_by(
        KnnAirport.geog.knn(near_paris)
    )
    assert [r["code"] for r in rows] == ["CDG", "LHR", "JFK"]


async def test_knn_on_a_joined_column(data: None) -> None:
    here = merc(900, 0)
    # Piccolo takes no joins from expressions in order_by: a plain order_by on
    # a joined column's expression fails in Postgres.
    with pytest.raises(asyncpg.UndefinedTableError):
        await KnnShop.select(KnnShop.name).order_by(KnnShop.city.centre.knn(here))
    rows = await order_by_knn(
        KnnShop.select(KnnShop.name), KnnShop.city.centre.knn(here)
    )
    # Shops by the distance of their city to `here`; no city sorts last.
    assert [r["name"] for r in rows] == ["b", "c", "a", "d"]
    rows = await order_by_knn(
        KnnShop.select(KnnShop.name).limit(1),
        KnnShop.city.centre.knn(here),
        ascending=False,
    )
    assert rows[0]["name"] == "d"


async def _plan(engine: PgextEngine, query: Query[Any, Any]) -> str:
    sql, args = query.querystrings[0].compile_string()
    async with engine.connection() as connection, connection.transaction():
        await connection.execute("SET LOCAL enable_seqscan = off")
        rows = await connection.fetch("EXPLAIN " + sql, *args)
    return "\n".join(r[0] for r in rows)


async def test_generated_sql_uses_the_spatial_index(
    data: None, pg_engine: PgextEngine
) -> None:
    index = "Index Scan using knn_city_centre"
    near = (
        KnnCity.select(KnnCity.name).order_by(KnnCity.centre.knn(merc(0, 0))).limit(1)
    )
    assert index in await _plan(pg_engine, near)
    for clause in (
        KnnCity.centre.dwithin(merc(0, 0), D(km=2)),
        KnnCity.centre.distance_lt(merc(0, 0), D(km=2)),
        KnnCity.centre.intersects(shapely.box(0, 0, 5, 5)),
        KnnCity.centre.bbox_overlaps(shapely.box(0, 0, 5, 5)),
    ):
        assert index in await _plan(pg_engine, KnnCity.select().where(clause))
    airports = KnnAirport.select().where(
        KnnAirport.geog.dwithin(Point(0, 51), D(km=50))
    )
    assert "Index Scan using knn_airport_geog" in await _plan(pg_engine, airports)
    # SRID 4326 geometry is measured through ::geography; the expression
    # index pgext creates next to the plain one serves dwithin and knn.
    shops = KnnShop.select().where(KnnShop.location.dwithin(Point(0, 0), D(km=5)))
    assert "knn_shop_location_geog" in await _plan(pg_engine, shops)
    nearest = KnnShop.select().order_by(KnnShop.location.knn(Point(0, 0))).limit(2)
    plan = await _plan(pg_engine, nearest)
    # Two index scans: the candidates' KNN order and the radius filter.
    assert plan.count("Index Scan using knn_shop_location_geog") == 2, plan
    airports_near = (
        KnnAirport.select().order_by(KnnAirport.geog.knn(Point(0, 51))).limit(1)
    )
    plan = await _plan(pg_engine, airports_near)
    assert plan.count("Index Scan using knn_airport_geog") == 2, plan


async def test_knn_follows_the_spheroid_not_the_sphere(pg_engine: PgextEngine) -> None:
    # One degree of latitude at the equator is ~110.6 km on the spheroid and
    # one of longitude ~111.3 km; on a sphere both are ~111.2 km.  So from
    # (0, 0), "north" at 1.005 deg is nearer on the spheroid but farther on
    # the sphere than "east" at 1 deg: PostGIS's geography <-> (sphere)
    # orders them the other way round.
    await recreate_tables(pg_engine, KnnAirport)
    await KnnAirport.insert(
        KnnAirport(code="north", geog=Point(0, 1.005)),
        KnnAirport(code="east", geog=Point(1, 0)),
    )
    async with pg_engine.connection() as connection:
        sphere_first = await connection.fetchval(
            "SELECT code FROM knn_airport ORDER BY geog <-> 'POINT(0 0)'::geography "
            "LIMIT 1"
        )
        spheroid = await connection.fetch(
            "SELECT code FROM knn_airport "
            "ORDER BY ST_Distance(geog, 'POINT(0 0)'::geography)"
        )
    assert sphere_first == "east"
    assert [r["code"] for r in spheroid] == ["north", "east"]
    for limit in (1, 2):
        rows = (
            await KnnAirport.select(KnnAirport.code)
            .order_by(KnnAirport.geog.knn(Point(0, 0)))
            .limit(limit)
        )
        assert [r["code"] for r in rows] == ["north", "east"][:limit]
    rows = await KnnAirport.select(KnnAirport.code).order_by(
        KnnAirport.geog.knn(Point(0, 0))
    )
    assert [r["code"] for r in rows] == ["north", "east"]


class KnnNad83(Table):
    code = Varchar()
    spot = Geometry("Point", srid=4269)  # NAD83: degrees, like 4326


async def test_any_degree_srid_follows_the_same_rule(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, KnnNad83)
    await KnnNad83.insert(
        KnnNad83(code="north", spot=Point(0, 1.005)),
        KnnNad83(code="east", spot=Point(1, 0)),
    )
    rows = await (
        KnnNad83.select(KnnNad83.code, KnnNad83.spot.distance(Point(0, 0)))
        .order_by(KnnNad83.spot.knn(Point(0, 0)))
        .limit(2)
    )
    assert [r["code"] for r in rows] == ["north", "east"]
    async with pg_engine.connection() as connection:
        truth = await connection.fetch(
            "SELECT ST_Distance(spot::geography, "
            "ST_SetSRID(ST_MakePoint(0, 0), 4269)::geography) AS d "
            "FROM knn_nad83 ORDER BY d"
        )
    assert [r["distance"] for r in rows] == [t["d"] for t in truth]
    between = D(m=(truth[0]["d"] + truth[1]["d"]) / 2)  # ~111.1 and ~111.3 km
    near = await KnnNad83.select(KnnNad83.code).where(
        KnnNad83.spot.dwithin(Point(0, 0), between)
    )
    assert near == [{"code": "north"}]
    plan = await _plan(
        pg_engine, KnnNad83.select().order_by(KnnNad83.spot.knn(Point(0, 0))).limit(1)
    )
    assert plan.count("Index Scan using knn_nad83_spot_geog") == 2, plan


async def test_knn_with_objects_first_and_offset(data: None) -> None:
    # objects() and first() compile through the same Select: same rewrite.
    nearest = (
        await KnnShop.objects().order_by(KnnShop.location.knn(Point(0.4, 0))).first()
    )
    assert nearest is not None and nearest.name == "b"
    rows = (
        await KnnShop.select(KnnShop.name)
        .where(KnnShop.name != "a")
        .order_by(KnnShop.location.knn(Point(0, 0)))
        .limit(2)
        .offset(1)
    )
    assert [r["name"] for r in rows] == ["d", "c"]
    # Rows without a location have no distance: a limited knn leaves them out.
    await KnnShop.insert(KnnShop(name="nowhere", location=None))
    rows = (
        await KnnShop.select(KnnShop.name)
        .order_by(KnnShop.location.knn(Point(0, 0)))
        .limit(10)
    )
    assert [r["name"] for r in rows] == ["a", "b", "d", "c"]
    rows = await KnnShop.select(KnnShop.name).order_by(
        KnnShop.location.knn(Point(0, 0))
    )
    assert [r["name"] for r in rows] == ["a", "b", "d", "c", "nowhere"]
