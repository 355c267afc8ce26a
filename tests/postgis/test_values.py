"""Input coercion and validation: every accepted input form, every refusal,
and that a refused value writes nothing."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import shapely
from piccolo.columns import Varchar
from piccolo.table import Table

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis.arrays import check_array
from pgext.postgis.errors import (
    CoordinateOutOfRange,
    DimensionMismatch,
    GeometryParseError,
    GeometryTypeMismatch,
    InvalidGeometry,
    SRIDMismatch,
)
from pgext.postgis.values import (
    GeometrySpec,
    check_geometry,
    parse_geometry,
    to_geometry,
)
from tests.helpers import recreate_tables

POINT = shapely.Point(13.4, 52.5)


class _GeoInterface:
    __geo_interface__ = {"type": "Point", "coordinates": [1.0, 2.0]}


@pytest.mark.parametrize(
    ("value", "srid"),
    [
        (POINT, 0),
        (shapely.set_srid(POINT, 3857), 3857),
        ("POINT(13.4 52.5)", 0),
        ("  point (13.4 52.5) ", 0),
        ("SRID=3857;POINT(13.4 52.5)", 3857),
        ('{"type": "Point", "coordinates": [13.4, 52.5]}', 4326),
        ({"type": "Point", "coordinates": [13.4, 52.5]}, 4326),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
            },
            4326,
        ),
        (
            {
                "type": "Point",
                "coordinates": [13.4, 52.5],
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
            },
            3857,
        ),
        (shapely.to_wkb(POINT), 0),
        (bytearray(shapely.to_wkb(POINT)), 0),
        (shapely.to_wkb(POINT, hex=True), 0),
        (
            shapely.to_wkb(shapely.set_srid(POINT, 4326), hex=True, include_srid=True),
            4326,
        ),
        (shapely.to_wkb(shapely.set_srid(POINT, 2180), include_srid=True), 2180),
    ],
)
def test_parse_geometry_reads_every_input_form(value: Any, srid: int) -> None:
    geometry = parse_geometry(value)
    assert shapely.equals(geometry, POINT)
    assert shapely.get_srid(geometry) == srid


def test_parse_geo_interface_has_no_srid() -> None:
    geometry = parse_geometry(_GeoInterface())
    assert geometry.equals(shapely.Point(1, 2))
    assert shapely.get_srid(geometry) == 0


def test_parse_keeps_z_and_m() -> None:
    zm = parse_geometry("SRID=4326;LINESTRING ZM (0 0 1 2, 1 1 3 4)")
    assert shapely.has_z(zm) and shapely.has_m(zm)
    m = parse_geometry("POINT M (1 2 3)")
    assert shapely.has_m(m) and not shapely.has_z(m)
    z = parse_geometry({"type": "Point", "coordinates": [1, 2, 3]})
    assert shapely.has_z(z)


@pytest.mark.parametrize(
    "value",
    [
        "POINT(1",
        "not a geometry",
        "",
        "{nope",
        '{"type": "Point"}',
        {"type": "Circle", "coordinates": [1, 2]},
        {"type": "Point", "coordinates": [1, 2], "crs": {"type": "link"}},
        b"\x01\x02",
        "0101",
        12,
        [1, 2],
    ],
)
def test_unreadable_input_is_a_parse_error(value: Any) -> None:
    with pytest.raises(GeometryParseError):
        parse_geometry(value)


SPEC = GeometrySpec("Point", 4326, "XY", False)


@pytest.mark.parametrize(
    ("value", "spec", "error", "words"),
    [
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", SPEC, GeometryTypeMismatch, "Polygon"),
        ("SRID=3857;POINT(1 2)", SPEC, SRIDMismatch, "3857"),
        (
            {"type": "Point", "coordinates": [1, 2]},
            GeometrySpec("Point", 3857),
            SRIDMismatch,
            "GeoJSON",
        ),
        ("POINT Z (1 2 3)", SPEC, DimensionMismatch, "XYZ"),
        (
            "POINT M (1 2 3)",
            GeometrySpec("Point", 4326, "XYZ"),
            DimensionMismatch,
            "XYM",
        ),
        ("POINT(1 2)", GeometrySpec("Point", 4326, "XYZM"), DimensionMismatch, "XYZM"),
        (
            "POINT(200 10)",
            GeometrySpec("Point", 4326, "XY", True),
            CoordinateOutOfRange,
            "200",
        ),
        (
            "POINT(10 -91)",
            GeometrySpec("Geometry", 4326, "XY", True),
            CoordinateOutOfRange,
            "-91",
        ),
        ("POINT(1", SPEC, GeometryParseError, "WKT"),
        (
            "LINESTRING(0 0, 0 0, 180 0)",
            GeometrySpec("LineString", 4326, "XY", True),
            CoordinateOutOfRange,
            "antipodal",
        ),
        (
            "POLYGON((0 90, 10 0, 0 -90, 0 90))",
            GeometrySpec("Geometry", 4326, "XY", True),
            CoordinateOutOfRange,
            "antipodal",
        ),
    ],
)
def test_refusals_name_the_column_and_the_problem(
    value: Any, spec: GeometrySpec, error: type[InvalidGeometry], words: str
) -> None:
    with pytest.raises(error) as caught:
        to_geometry(value, spec, "location")
    assert caught.value.column == "location"
    assert str(caught.value).startswith("column 'location': ")
    assert words in str(caught.value)


def test_check_geometry_sets_column_srid_and_turns_rings_into_lines() -> None:
    geometry = check_geometry(POINT, SPEC)
    assert shapely.get_srid(geometry) == 4326
    ring = shapely.LinearRing([(0, 0), (1, 0), (1, 1)])
    line = check_geometry(ring, GeometrySpec("LineString", 0))
    assert shapely.get_type_id(line) == 1
    empty = check_geometry(
        shapely.from_wkt("POINT Z EMPTY"), GeometrySpec("Point", 4326, "XYZ")
    )
    assert empty.is_empty
    with pytest.raises(DimensionMismatch):
        check_geometry(
            shapely.from_wkt("POINT EMPTY"), GeometrySpec("Point", 4326, "XYZ")
        )


def test_check_array_matches_check_geometry() -> None:
    good = shapely.points([[0, 0], [1, 1], [2, 2]])
    checked = check_array(good, SPEC)
    assert (shapely.get_srid(checked) == 4326).all()
    with_none = check_array(np.array([None, POINT], dtype=object), SPEC)
    assert with_none[0] is None and shapely.get_srid(with_none[1]) == 4326
    bad = np.array([POINT, shapely.box(0, 0, 1, 1)], dtype=object)
    with pytest.raises(GeometryTypeMismatch, match="row 1"):
        check_array(bad, SPEC, "location")
    far = np.array([POINT, shapely.Point(0, 95)], dtype=object)
    with pytest.raises(CoordinateOutOfRange, match="row 1"):
        check_array(far, GeometrySpec("Point", 4326, "XY", True), "location")
    srid = np.array([shapely.set_srid(POINT, 3857)], dtype=object)
    with pytest.raises(SRIDMismatch, match="row 0"):
        check_array(srid, SPEC, "location")
    dim = np.array([shapely.Point(1, 2, 3)], dtype=object)
    with pytest.raises(DimensionMismatch):
        check_array(dim, SPEC, "location")


# -- through the database: refused before anything is written ----------------------


class IoValuesShop(Table, tablename="pgx_io_values_shop"):
    name = Varchar()
    location = Geometry("Point", srid=4326)
    zone = Geography("Polygon")


BAD_LOCATIONS = [
    ("POLYGON((0 0, 1 0, 1 1, 0 0))", GeometryTypeMismatch),
    ("SRID=3857;POINT(1 2)", SRIDMismatch),
    ("POINT Z (1 2 3)", DimensionMismatch),
    ("POINT(1 2", GeometryParseError),
    ('{"type": "Point", "coordinates": "x"}', GeometryParseError),
    (shapely.box(0, 0, 1, 1), GeometryTypeMismatch),
    (shapely.set_srid(POINT, 3857), SRIDMismatch),
]


@pytest.fixture
async def shop_table(pg_engine: PgextEngine) -> type[IoValuesShop]:
    await recreate_tables(pg_engine, IoValuesShop)
    return IoValuesShop


@pytest.mark.postgres
@pytest.mark.parametrize(("value", "error"), BAD_LOCATIONS)
async def test_bad_insert_writes_nothing(
    shop_table: type[IoValuesShop], value: Any, error: type[InvalidGeometry]
) -> None:
    good = shop_table(name="good", location="POINT(1 2)")
    with pytest.raises(error, match="column 'location'"):
        # Text is refused on assignment, shapely values when bound.
        bad = shop_table(name="bad", location=value)
        await shop_table.insert(good, bad)
    assert await shop_table.count() == 0


@pytest.mark.postgres
@pytest.mark.parametrize(("value", "error"), BAD_LOCATIONS)
async def test_bad_update_writes_nothing(
    shop_table: type[IoValuesShop], value: Any, error: type[InvalidGeometry]
) -> None:
    await shop_table.insert(shop_table(name="a", location="POINT(1 2)"))
    with pytest.raises(error, match="column 'location'"):
        await shop_table.update({shop_table.location: value}, force=True)
    rows = await shop_table.select(shop_table.location)
    assert [shapely.to_wkt(r["location"]) for r in rows] == ["POINT (1 2)"]


@pytest.mark.postgres
async def test_bad_attribute_assignment_and_save(
    shop_table: type[IoValuesShop],
) -> None:
    shop = shop_table(name="a", location="POINT(1 2)")
    await shop.save()
    with pytest.raises(GeometryTypeMismatch):
        shop.location = "LINESTRING(0 0, 1 1)"
    shop.location = shapely.box(0, 0, 1, 1)  # shapely: checked when written
    with pytest.raises(GeometryTypeMismatch):
        await shop.save()
    with pytest.raises(CoordinateOutOfRange, match="column 'zone'"):
        shop_table(name="b", zone="POLYGON((0 0, 0 100, 1 1, 0 0))")
    stored = await shop_table.select(shop_table.location).first()
    assert stored is not None and shapely.to_wkt(stored["location"]) == "POINT (1 2)"


@pytest.mark.postgres
async def test_geojson_to_geography_and_lonlat_order(
    shop_table: type[IoValuesShop],
) -> None:
    zone = {
        "type": "Polygon",
        "coordinates": [[[170, 80], [179, 80], [179, 89], [170, 80]]],
    }
    await shop_table.insert(shop_table(name="n", zone=json.dumps(zone)))
    row = await shop_table.select(shop_table.zone).first()
    assert row is not None
    assert shapely.get_srid(row["zone"]) == 4326
    assert row["zone"].bounds == (170.0, 80.0, 179.0, 89.0)


@pytest.mark.postgres
async def test_plain_postgres_engine_is_refused_clearly(
    shop_table: type[IoValuesShop], postgres_config: dict[str, Any]
) -> None:
    from piccolo.engine.postgres import PostgresEngine

    from pgext import seam
    from pgext.errors import InvalidValue

    engine = seam.table_engine(shop_table)
    seam.bind_engine(shop_table, PostgresEngine(config=postgres_config))
    try:
        with pytest.raises(InvalidValue, match="PgextEngine"):
            await shop_table.insert(shop_table(name="x", location="POINT(1 2)"))
    finally:
        seam.bind_engine(shop_table, engine)
    assert await shop_table.count() == 0


def test_antipodal_edge_nested_in_a_collection_is_refused() -> None:
    """Found by the hypothesis round trip: a MultiLineString inside a
    GeometryCollection reached PostGIS, which refused it with a raw error."""
    import shapely

    from pgext.postgis.errors import CoordinateOutOfRange
    from pgext.postgis.values import GeometrySpec, check_geometry

    nested = shapely.from_wkt("GEOMETRYCOLLECTION(MULTILINESTRING((0 0,180 0)))")
    with pytest.raises(CoordinateOutOfRange, match="antipodal"):
        check_geometry(nested, GeometrySpec(geography=True))
