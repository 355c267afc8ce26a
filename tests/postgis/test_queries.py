"""Spatial predicates and distance filters against the real PostGIS."""

from __future__ import annotations

import pytest
import shapely
from piccolo.columns import ForeignKey, Varchar
from piccolo.table import Table
from shapely import Point, box

from pgext.engine import PgextEngine
from pgext.postgis import CoordinateOutOfRange, Geography, Geometry, SRIDMismatch
from pgext.postgis import sql as sql_module
from pgext.postgis.measure import D
from pgext.postgis.query_errors import (
    InvalidRelatePattern,
    SpatialQueryError,
    UnknownSRIDUnits,
    UnsupportedOperation,
)
from pgext.postgis.sql import load_srid_units
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class QRegion(Table):
    name = Varchar()
    boundary = Geometry("Polygon", srid=4326)


class QStore(Table):
    name = Varchar()
    location = Geometry("Point", srid=4326)
    region = ForeignKey(QRegion)


class QSite(Table):
    """Projected geometry (Web Mercator, metres)."""

    name = Varchar()
    pos = Geometry("Point", srid=3857)


class QPlace(Table):
    name = Varchar()
    geog = Geography("Point")


A = box(0, 0, 10, 10)
B = box(10, 0, 20, 10)  # touches A along x = 10
C = box(5, 5, 15, 15)  # overlaps A and B


@pytest.fixture
async def data(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, QRegion, QStore, QSite, QPlace)
    await QRegion.insert(
        QRegion(name="a", boundary=A),
        QRegion(name="b", boundary=B),
        QRegion(name="c", boundary=C),
    )
    ids = {r["name"]: r["id"] for r in await QRegion.select(QRegion.id, QRegion.name)}
    await QStore.insert(
        QStore(name="s1", location=Point(1, 1), region=ids["a"]),
        QStore(name="s2", location=Point(6, 6), region=ids["a"]),
        QStore(name="s3", location=Point(15, 5), region=ids["b"]),
        QStore(name="s4", location=Point(30, 30), region=None),
    )
    await QSite.insert(
        QSite(name="origin", pos=shapely.set_srid(Point(0, 0), 3857)),
        QSite(name="near", pos=shapely.set_srid(Point(300, 400), 3857)),  # 500 m
        QSite(name="far", pos=shapely.set_srid(Point(3000, 4000), 3857)),  # 5 km
    )
    # Along the equator one degree of longitude is about 111.3 km.
    await QPlace.insert(
        QPlace(name="zero", geog=Point(0, 0)),
        QPlace(name="one", geog=Point(1, 0)),
        QPlace(name="two", geog=Point(2, 0)),
    )


def names(rows: list[dict[str, object]]) -> list[str]:
    return sorted(str(r["name"]) for r in rows)


async def where_names(table: type[Table], clause: object) -> list[str]:
    return names(await table.select().where(clause))


async def test_predicates_against_values(data: None) -> None:
    q = QRegion.select(QRegion.name)
    assert names(await q.where(QRegion.boundary.intersects(Point(12, 6)))) == ["b", "c"]
    assert await where_names(QRegion, QRegion.boundary.contains(Point(1, 1))) == ["a"]
    assert await where_names(QRegion, QRegion.boundary.touches(box(20, 0, 30, 10))) == [
        "b"
    ]
    assert await where_names(QRegion, QRegion.boundary.overlaps(box(8, 8, 12, 12))) == [
        "a",
        "b",
    ]
    assert await where_names(QRegion, QRegion.boundary.within(box(-1, -1, 11, 11))) == [
        "a"
    ]
    assert await where_names(QRegion, QRegion.boundary.covers(box(0, 0, 5, 5))) == ["a"]
    assert await where_names(
        QRegion, QRegion.boundary.covered_by(box(0, 0, 20, 10))
    ) == ["a", "b"]
    assert await where_names(QRegion, QRegion.boundary.disjoint(Point(1, 1))) == [
        "b",
        "c",
    ]
    assert await where_names(
        QRegion, QRegion.boundary.equals(box(0, 0, 10, 10).reverse())
    ) == ["a"]
    line = shapely.LineString([(-5, 5), (5, 5)])
    assert await where_names(QRegion, QRegion.boundary.crosses(line)) == ["a"]
    assert (
        await where_names(
            QStore, QStore.location.crosses(shapely.LineString([(0, 0), (2, 2)]))
        )
        == []
    )
    assert await where_names(
        QRegion, QRegion.boundary.bbox_overlaps(box(19, 9, 25, 25))
    ) == ["b"]
    assert await where_names(QRegion, QRegion.boundary.bbox_contains(Point(7, 7))) == [
        "a",
        "c",
    ]


async def test_more_predicates(data: None) -> None:
    big = box(-1, -1, 21, 11)
    assert await where_names(QRegion, QRegion.boundary.bbox_within(big)) == ["a", "b"]
    # The point on A's edge is contained, but not properly (not in the interior).
    edge, inner = Point(0, 5), Point(6, 6)
    assert await where_names(QRegion, QRegion.boundary.contains(edge)) == []
    assert await where_names(QRegion, QRegion.boundary.covers(edge)) == ["a"]
    assert await where_names(QRegion, QRegion.boundary.contains_properly(inner)) == [
        "a",
        "c",
    ]
    # A column against a column of the same row.
    assert await where_names(QStore, QStore.location.equals(QStore.location)) == [
        "s1",
        "s2",
        "s3",
        "s4",
    ]


async def test_relate_pattern(data: None) -> None:
    # Interiors intersect, A's exterior does not meet the interior of the box.
    rows = await QRegion.select(QRegion.name).where(
        QRegion.boundary.relate(box(0, 0, 10, 10), "T*F**F***")
    )
    assert names(rows) == ["a"]
    with pytest.raises(InvalidRelatePattern):
        QRegion.boundary.relate(A, "T*F")
    with pytest.raises(InvalidRelatePattern):
        QRegion.boundary.relate(A, "T*F**F**X")


async def test_values_in_other_formats_and_srids(data: None) -> None:
    geojson = {"type": "Point", "coordinates": [1, 1]}
    wkb = shapely.to_wkb(Point(1, 1))
    for value in ("POINT(1 1)", "SRID=4326;POINT(1 1)", geojson, wkb):
        rows = await QRegion.select(QRegion.name).where(
            QRegion.boundary.contains(value)
        )
        assert names(rows) == ["a"], value
    with pytest.raises(SRIDMismatch, match="boundary"):
        QRegion.boundary.contains("SRID=3857;POINT(1 1)")
    with pytest.raises(SRIDMismatch):
        QSite.pos.intersects(Point(1, 1).__geo_interface__)  # GeoJSON is 4326


async def test_combine_count_and_column_operand(data: None) -> None:
    where = QRegion.boundary.contains(Point(6, 6)) & QRegion.name.is_not_null()
    assert names(await QRegion.select(QRegion.name).where(where)) == ["a", "c"]
    either = QRegion.boundary.contains(Point(1, 1)) | QRegion.boundary.contains(
        Point(19, 1)
    )
    assert await QRegion.count().where(either) == 2
    assert (
        await QRegion.count().where(
            QRegion.boundary.intersects(Point(12, 6)) & (QRegion.name == "c")
        )
        == 1
    )


async def test_predicates_across_joins(data: None) -> None:
    # Store.location within its own region's boundary (joined column).
    rows = await QStore.select(QStore.name).where(
        QStore.location.within(QStore.region.boundary)
    )
    assert names(rows) == ["s1", "s2", "s3"]
    # A joined column on the left, a value on the right.
    rows = await QStore.select(QStore.name).where(
        QStore.region.boundary.intersects(Point(12, 6))
    )
    assert names(rows) == ["s3"]
    assert (
        await QStore.count().where(
            QStore.region.boundary.contains(Point(9, 9))
            | QStore.location.dwithin(Point(30, 30), D(m=1))
        )
        == 3
    )


async def test_update_and_delete(data: None) -> None:
    await QRegion.update({QRegion.name: "hit"}).where(
        QRegion.boundary.intersects(Point(12, 6))
    )
    assert names(await QRegion.select(QRegion.name)) == ["a", "hit", "hit"]
    # Joined column in UPDATE/DELETE: becomes a primary-key subquery.
    await QStore.update({QStore.name: "in-b"}).where(
        QStore.region.boundary.contains(Point(15, 1))
    )
    assert names(await QStore.select(QStore.name)) == ["in-b", "s1", "s2", "s4"]
    await QStore.delete().where(QStore.location.within(QStore.region.boundary))
    assert names(await QStore.select(QStore.name)) == ["s4"]
    await QRegion.delete().where(QRegion.boundary.contains(Point(1, 1)))
    assert names(await QRegion.select(QRegion.name)) == ["hit", "hit"]


async def test_distance_projected_geometry(data: None) -> None:
    origin = shapely.set_srid(Point(0, 0), 3857)
    assert await where_names(QSite, QSite.pos.dwithin(origin, D(m=500))) == [
        "near",
        "origin",
    ]
    assert await where_names(QSite, QSite.pos.distance_lt(origin, D(m=500))) == [
        "origin"
    ]
    assert await where_names(QSite, QSite.pos.distance_lte(origin, D(km=0.5))) == [
        "near",
        "origin",
    ]
    assert await where_names(QSite, QSite.pos.distance_gt(origin, D(m=500))) == ["far"]
    assert await where_names(QSite, QSite.pos.distance_gte(origin, D(m=500))) == [
        "far",
        "near",
    ]
    # A number means the SRID's unit (metres for 3857).
    assert await where_names(QSite, QSite.pos.dwithin(origin, 5000)) == [
        "far",
        "near",
        "origin",
    ]
    # Feet are converted: 1640 ft = 499.9 m.
    assert await where_names(QSite, QSite.pos.dwithin(origin, D(ft=1640))) == ["origin"]


async def test_distance_geography_and_lonlat_geometry(data: None) -> None:
    rows = await QPlace.select(QPlace.name).where(
        QPlace.geog.dwithin(Point(0, 0), D(km=112))
    )
    assert names(rows) == ["one", "zero"]
    rows = await QPlace.select(QPlace.name).where(
        QPlace.geog.distance_gt(Point(0, 0), D(mi=69.5))  # 111.85 km
    )
    assert names(rows) == ["two"]
    # SRID 4326 geometry is measured through ::geography, in metres.
    rows = await QStore.select(QStore.name).where(
        QStore.location.dwithin(Point(1, 1), D(km=800))  # s2: 786 km
    )
    assert names(rows) == ["s1", "s2"]
    rows = await QStore.select(QStore.name).where(
        QStore.location.distance_gte(Point(1, 1), D(nm=1))
    )
    assert names(rows) == ["s2", "s3", "s4"]


async def test_geography_rejects_geometry_only_predicates(data: None) -> None:
    with pytest.raises(UnsupportedOperation, match="touches"):
        QPlace.geog.touches(Point(0, 0))
    rows = await QPlace.select(QPlace.name).where(
        QPlace.geog.intersects(Point(1, 0)) | QPlace.geog.covered_by(box(1.5, -1, 3, 1))
    )
    assert names(rows) == ["one", "two"]


def test_bad_input_is_refused_before_sql() -> None:
    with pytest.raises(CoordinateOutOfRange, match="geog"):
        QPlace.geog.dwithin(Point(200, 0), D(km=1))
    with pytest.raises(SRIDMismatch):
        QStore.location.within(QSite.pos)
    with pytest.raises(SpatialQueryError, match="unrelated tables"):
        QStore.location.within(QRegion.boundary)
    with pytest.raises(SpatialQueryError, match="geography"):
        QStore.location.intersects(QPlace.geog)
    with pytest.raises(SpatialQueryError):
        QStore.location.intersects(QStore.name)
    with pytest.raises(ValueError, match="unknown distance unit"):
        QStore.location.dwithin(Point(0, 0), D(furlong=3))
    with pytest.raises(ValueError, match="distance"):
        QStore.location.dwithin(Point(0, 0), "5km")  # type: ignore[arg-type]
    with pytest.raises(SpatialQueryError, match="negative"):
        QSite.pos.dwithin(Point(0, 0), -1)
    with pytest.raises(ValueError, match="WKT"):
        QStore.location.intersects("POINT(1")


def test_sql_is_index_friendly_and_parameterised() -> None:
    sql, args = (
        QSite.select(QSite.name)
        .where(QSite.pos.distance_gt(Point(1, 2), D(km=1)))
        .querystrings[0]
        .compile_string()
    )
    assert 'NOT ST_DWithin("q_site"."pos", $1::geometry, $2::float8)' in sql
    assert "ST_Distance" not in sql
    assert args[1] == 1000.0
    sql, _ = (
        QStore.select(QStore.name)
        .where(QStore.location.distance_lt(Point(1, 2), D(km=1)))
        .querystrings[0]
        .compile_string()
    )
    assert sql.index("ST_DWithin") < sql.index("ST_Distance")
    assert '"q_store"."location"::geography' in sql


async def test_objects_and_get_or_create_style_queries(data: None) -> None:
    shops = await QStore.objects().where(
        QStore.location.within(QStore.region.boundary) & (QStore.name != "s3")
    )
    assert sorted(s.name for s in shops) == ["s1", "s2"]
    first = (
        await QStore.objects().where(QStore.location.intersects(Point(6, 6))).first()
    )
    assert first is not None and first.name == "s2"
    assert shapely.equals(first.location, Point(6, 6))


class QNewYork(Table):
    """NAD83 / New York Long Island, in US survey feet: not built in."""

    name = Varchar()
    pos = Geometry("Point", srid=2263)


async def test_srid_units_loaded_from_spatial_ref_sys(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, QNewYork)
    await QNewYork.insert(
        QNewYork(name="here", pos=shapely.set_srid(Point(1_000_000, 200_000), 2263)),
        QNewYork(
            name="1000 ft east", pos=shapely.set_srid(Point(1_001_000, 200_000), 2263)
        ),
    )
    here = shapely.set_srid(Point(1_000_000, 200_000), 2263)
    if 2263 not in sql_module._UNITS:
        with pytest.raises(UnknownSRIDUnits, match="load_srid_units"):
            QNewYork.pos.dwithin(here, D(m=300))
    loaded = await load_srid_units(pg_engine)  # every SRID in geometry_columns
    assert 2263 in loaded and loaded[2263].unit == "US survey foot"
    # 1000 US survey feet = 304.8006 m
    assert await where_names(QNewYork, QNewYork.pos.dwithin(here, D(m=304.7))) == [
        "here"
    ]
    assert await where_names(QNewYork, QNewYork.pos.dwithin(here, D(m=304.81))) == [
        "1000 ft east",
        "here",
    ]
    rows = await QNewYork.select(QNewYork.pos.distance(here)).where(
        QNewYork.name != "here"
    )
    assert rows[0]["distance"] == pytest.approx(304.8006, rel=1e-6)
