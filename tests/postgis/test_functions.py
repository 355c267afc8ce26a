"""The function catalogue in select, where, order_by and group_by."""

from __future__ import annotations

import asyncpg
import pytest
import shapely
from piccolo.columns import ForeignKey, Varchar
from piccolo.table import Table
from shapely import Point, box

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry, SRIDMismatch
from pgext.postgis import functions as F
from pgext.postgis.measure import Area, D, InvalidUnit
from pgext.postgis.query_errors import SpatialQueryError
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class FnZone(Table):
    name = Varchar()
    kind = Varchar()
    shape = Geometry("Polygon", srid=3857)
    lonlat = Geometry("Polygon", srid=4326)


class FnPoi(Table):
    name = Varchar()
    spot = Geometry("Point", srid=4326)
    zone = ForeignKey(FnZone)


class FnGeo(Table):
    name = Varchar()
    geog = Geography("Point")


def m(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.set_srid(geometry, 3857)


@pytest.fixture
async def data(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, FnZone, FnPoi, FnGeo)
    await FnZone.insert(
        FnZone(name="small", kind="x", shape=m(box(0, 0, 100, 100)),
               lonlat=box(0, 0, 1, 1)),
        FnZone(name="big", kind="x", shape=m(box(0, 0, 1000, 1000)),
               lonlat=box(0, 0, 2, 2)),
        FnZone(name="other", kind="y", shape=m(box(5000, 0, 5010, 10)),
               lonlat=box(10, 10, 11, 11)),
    )  # fmt: skip
    zones = {r["name"]: r["id"] for r in await FnZone.select(FnZone.id, FnZone.name)}
    await FnPoi.insert(
        FnPoi(name="p1", spot=Point(0, 0), zone=zones["small"]),
        FnPoi(name="p2", spot=Point(1, 0), zone=zones["big"]),
        FnPoi(name="p3", spot=Point(10.5, 10.5), zone=zones["other"]),
    )
    await FnGeo.insert(
        FnGeo(name="g0", geog=Point(0, 0)), FnGeo(name="g1", geog=Point(0, 1))
    )


async def test_measurements_are_metres_for_every_column_kind(data: None) -> None:
    rows = await FnZone.select(
        FnZone.name,
        FnZone.shape.area(),
        F.perimeter(FnZone.shape, alias="perim"),
        F.area(FnZone.lonlat, alias="lonlat_area"),
    ).order_by(FnZone.id)
    assert rows[0]["area"] == pytest.approx(10_000)
    assert rows[0]["perim"] == pytest.approx(400)
    # One square degree at the equator is about 12,308 km² on the spheroid.
    assert rows[0]["lonlat_area"] == pytest.approx(12_308e6, rel=0.01)
    rows = await FnPoi.select(FnPoi.name, FnPoi.spot.distance(Point(0, 0))).order_by(
        FnPoi.id
    )
    assert rows[0]["distance"] == 0
    assert rows[1]["distance"] == pytest.approx(111_319, rel=1e-3)  # 1° of lon
    rows = await FnGeo.select(FnGeo.name, FnGeo.geog.distance(Point(0, 0)))
    assert {r["name"]: round(r["distance"] / 1000) for r in rows} == {
        "g0": 0,
        "g1": 111,
    }
    line = F.length(F.transform(F.centroid(FnPoi.spot), 3857), alias="len")
    rows = await FnPoi.select(line).limit(1)
    assert rows[0]["len"] == 0


async def test_geometry_results_come_back_as_shapely(data: None) -> None:
    rows = await FnZone.select(
        FnZone.shape.centroid(),
        FnZone.shape.envelope(),
        FnZone.shape.buffer(D(m=10), alias="buffered"),
        FnZone.lonlat.transform(3857, alias="merc"),
        F.srid(FnZone.shape),
        FnZone.shape.as_text(),
        FnZone.shape.as_geojson(),
        F.x(F.centroid(FnZone.shape), alias="cx"),
        F.simplify(FnZone.shape, 1.0, alias="simple"),
        F.make_valid(FnZone.shape, alias="valid"),
    ).where(FnZone.name == "small")
    row = rows[0]
    assert row["centroid"].equals(Point(50, 50))
    assert shapely.get_srid(row["centroid"]) == 3857
    assert row["buffered"].area == pytest.approx(
        120 * 120 - (400 - 100 * 3.14159), 0.01
    )
    assert shapely.get_srid(row["merc"]) == 3857
    assert row["srid"] == 3857
    assert row["as_text"] == "POLYGON((100 0,100 100,0 100,0 0,100 0))"
    assert '"Polygon"' in row["as_geojson"]
    assert row["cx"] == 50
    assert row["simple"].equals(box(0, 0, 100, 100))


async def test_lonlat_buffer_and_geography_functions(data: None) -> None:
    # A 1 km buffer on SRID 4326 geometry goes through geography and back.
    rows = await FnPoi.select(
        FnPoi.spot.buffer(D(km=1), alias="zone_1km"), FnPoi.spot.geohash(5)
    ).where(FnPoi.name == "p1")
    ring = rows[0]["zone_1km"]
    assert shapely.get_srid(ring) == 4326
    assert 0.0089 < ring.bounds[2] < 0.0091  # ~1 km of longitude in degrees
    assert rows[0]["geohash"] == "s0000"
    rows = await FnGeo.select(
        F.x(FnGeo.geog), F.buffer(FnGeo.geog, D(m=100), alias="b")
    ).where(FnGeo.name == "g1")
    assert rows[0]["x"] == 0


async def test_functions_in_where_and_order_by_across_joins(data: None) -> None:
    big = await FnZone.select(FnZone.name).where(FnZone.shape.area() > 50_000)
    assert [r["name"] for r in big] == ["big"]
    rows = await FnPoi.select(FnPoi.name).where(
        (FnPoi.zone.shape.area() >= 10_000) & (FnPoi.zone.shape.area() < 50_000)
    )
    assert [r["name"] for r in rows] == ["p1"]
    rows = await FnPoi.select(FnPoi.name).where(F.x(FnPoi.spot) != 0)
    assert sorted(r["name"] for r in rows) == ["p2", "p3"]
    rows = await FnZone.select(FnZone.name).order_by(
        FnZone.shape.area(), ascending=False
    )
    assert [r["name"] for r in rows] == ["big", "small", "other"]
    await FnPoi.delete().where(FnPoi.zone.shape.area() > 50_000)
    assert await FnPoi.count() == 2


async def test_aggregates_with_group_by(data: None) -> None:
    rows = (
        await FnZone.select(
            FnZone.kind,
            F.union(FnZone.shape, alias="merged"),
            F.collect(FnZone.shape, alias="parts"),
            F.extent(FnZone.shape, alias="bbox"),
        )
        .group_by(FnZone.kind)
        .order_by(FnZone.kind)
    )
    assert rows[0]["kind"] == "x"
    assert rows[0]["merged"].equals(box(0, 0, 1000, 1000))
    assert len(rows[0]["parts"].geoms) == 2
    assert rows[1]["bbox"] == "BOX(5000 0,5010 10)"


async def test_group_by_parameterised_expression_via_alias(
    data: None, pg_engine: PgextEngine
) -> None:
    cell = F.geohash(FnPoi.spot, 1, alias="cell")
    # The same expression in GROUP BY gets its own parameter number, which
    # Postgres cannot match with the SELECT's: this is why by_alias exists.
    with pytest.raises(asyncpg.GroupingError):
        await FnPoi.select(cell, F.collect(FnPoi.spot)).group_by(
            F.geohash(FnPoi.spot, 1, alias="cell")
        )
    rows = (
        await FnPoi.select(cell, F.collect(FnPoi.spot, alias="spots"))
        .group_by(cell.by_alias())
        .order_by(cell.by_alias())
    )
    assert [(r["cell"], len(r["spots"].geoms)) for r in rows] == [("s", 3)]
    merc = FnPoi.spot.transform(3857, alias="merc")
    rows = await FnPoi.select(merc).group_by(merc.by_alias())
    assert len(rows) == 3


def test_refusals_before_sql() -> None:
    with pytest.raises(SpatialQueryError, match="alias 'name'"):
        F.x(FnPoi.spot, alias="name").by_alias()
    # "spot" is a column of the query's own table, not of the joined one.
    with pytest.raises(SpatialQueryError, match="alias 'spot' is also a column"):
        F.area(FnPoi.zone.shape, alias="spot").by_alias()
    with pytest.raises(SpatialQueryError, match="must be an int"):
        F.transform(FnPoi.spot, "3857")
    with pytest.raises(SpatialQueryError, match="must be an int"):
        F.geohash(FnPoi.spot, True)
    with pytest.raises(SpatialQueryError, match="finite"):
        F.simplify(FnZone.shape, float("nan"))
    with pytest.raises(SpatialQueryError, match="takes 2 arguments"):
        F.distance(FnPoi.spot)
    with pytest.raises(SpatialQueryError, match="no spatial function"):
        F.call("st_nothing", FnPoi.spot)
    with pytest.raises(InvalidUnit, match="needs a spatial column"):
        F.buffer(F.call("as_text", FnPoi.spot), D(m=3))
    with pytest.raises(SpatialQueryError, match="spatial column"):
        F.area(Point(0, 0))


def test_catalogue_is_data() -> None:
    assert len(F.CATALOGUE) == len(F.SPECS)
    for spec in F.CATALOGUE:
        assert spec.url.startswith("https://postgis.net/docs/ST_")
        assert callable(getattr(F, spec.name))
        assert spec.sql in (getattr(F, spec.name).__doc__ or "")
    for name in ("distance", "area", "length", "perimeter", "transform", "buffer",
                 "centroid", "envelope", "simplify", "make_valid", "x", "y", "z",
                 "srid", "as_geojson", "as_text", "geohash", "extent", "union",
                 "collect"):  # fmt: skip
        assert name in F.SPECS


async def test_measurements_compare_with_units_and_expressions_keep_srid(
    data: None,
) -> None:
    rows = await FnPoi.select(FnPoi.name).where(
        F.distance(FnPoi.spot, Point(0, 0)) < D(km=200)
    )
    assert sorted(r["name"] for r in rows) == ["p1", "p2"]
    rows = await FnZone.select(FnZone.name).where(FnZone.shape.area() >= Area(ha=1))
    assert sorted(r["name"] for r in rows) == ["big", "small"]
    with pytest.raises(InvalidUnit, match="cannot compare"):
        F.x(FnPoi.spot) < D(m=1)  # noqa: B015
    with pytest.raises(InvalidUnit, match="cannot compare"):
        FnZone.shape.area() > D(m=1)  # noqa: B015
    # A geometry expression knows its SRID: 3857 centroid vs a 4326 column.
    with pytest.raises(SRIDMismatch, match="SRID 3857"):
        FnZone.lonlat.intersects(FnZone.shape.centroid())
    rows = await FnZone.select(FnZone.name).where(
        FnZone.lonlat.intersects(F.centroid(FnZone.shape.transform(4326)))
    )
    assert sorted(r["name"] for r in rows) == ["big", "small"]


def test_mixed_srids_unrelated_tables_and_unsafe_aliases_are_refused() -> None:
    with pytest.raises(SRIDMismatch, match="SRID 3857"):
        F.distance(FnZone.lonlat, FnZone.shape)
    assert F.distance(FnZone.lonlat, F.transform(FnZone.shape, 4326)) is not None
    with pytest.raises(SpatialQueryError, match="unrelated tables"):
        F.distance(FnPoi.spot, FnZone.lonlat)
    with pytest.raises(SpatialQueryError, match="double quote"):
        F.area(FnZone.shape, alias='a" FROM x; --')
    with pytest.raises(ValueError, match="alias"):
        F.area(FnZone.shape, alias="x" * 64)  # Postgres would truncate it


async def test_accessors_and_optional_arguments(data: None) -> None:
    rows = await FnPoi.select(
        F.x(FnPoi.spot),
        F.y(FnPoi.spot),
        F.z(FnPoi.spot),
        F.as_geojson(FnPoi.spot, 1, alias="short"),
        F.as_text(FnPoi.spot, 0, alias="wkt0"),
        F.geometry_type(FnPoi.spot),
        F.is_valid(FnPoi.spot),
    ).where(FnPoi.name == "p3")
    assert rows == [
        {
            "x": 10.5,
            "y": 10.5,
            "z": None,
            "short": '{"type":"Point","coordinates":[10.5,10.5]}',
            "wkt0": "POINT(10 10)",
            "geometry_type": "ST_Point",
            "is_valid": True,
        }
    ]
