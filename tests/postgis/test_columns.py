"""Column declarations: DDL, params for migrations, the GiST index."""

from __future__ import annotations

import pytest
import shapely
from piccolo.columns import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.errors import InvalidValue
from pgext.postgis import Geography, Geometry, SRIDMismatch
from pgext.postgis.pydantic import GeoJSON
from tests.helpers import recreate_tables


class IoColumnsPlace(Table, tablename="pgx_io_columns_place"):
    name = Varchar()
    point = Geometry("Point")
    outline = Geometry("polygon", srid=3857, dimension="XYZ")
    track = Geometry("MultiLineString", srid=0, dimension="xyzm", spatial_index=False)
    anything = Geometry()
    zone = Geography("MultiPolygon", dimension="XYM")


def test_column_type_and_public_attributes() -> None:
    assert IoColumnsPlace.point.column_type == "geometry(Point,4326)"
    assert IoColumnsPlace.outline.column_type == "geometry(PolygonZ,3857)"
    assert IoColumnsPlace.track.column_type == "geometry(MultiLineStringZM,0)"
    assert IoColumnsPlace.anything.column_type == "geometry(Geometry,4326)"
    assert IoColumnsPlace.zone.column_type == "geography(MultiPolygonM,4326)"
    outline = IoColumnsPlace.outline
    assert (outline.srid, outline.geometry_type, outline.dimension) == (
        3857,
        "Polygon",
        "XYZ",
    )
    assert outline.is_geography is False
    assert IoColumnsPlace.zone.is_geography is True


def test_params_reach_meta_params() -> None:
    params = seam.column_params(IoColumnsPlace.outline)
    assert params["geometry_type"] == "Polygon"
    assert params["srid"] == 3857
    assert params["dimension"] == "XYZ"
    assert params["spatial_index"] is True
    assert params["index"] is True
    assert params["index_method"] == IndexMethod.gist
    track = seam.column_params(IoColumnsPlace.track)
    assert track["spatial_index"] is False
    assert track["index"] is False
    # Rebuilding from params (what a migration does) gives the same column.
    clone = Geometry(**params)
    assert clone.column_type == IoColumnsPlace.outline.column_type


def test_value_type_is_a_per_column_geojson_type() -> None:
    value_type = IoColumnsPlace.outline.value_type
    assert issubclass(value_type, GeoJSON)
    assert value_type.spec.srid == 3857
    assert IoColumnsPlace.point.value_type is Geometry("Point").value_type


@pytest.mark.parametrize(
    "kwargs",
    [
        {"geometry_type": "Circle"},
        {"dimension": "XZ"},
        {"srid": -1},
        {"srid": "4326"},
        {"default": 5},
        {"geometry_type": "Point", "default": "POLYGON((0 0, 1 0, 1 1, 0 0))"},
    ],
)
def test_bad_declarations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidValue):
        Geometry(**kwargs)  # type: ignore[arg-type]


@pytest.mark.postgres
async def test_ddl_creates_typed_columns_and_gist_indexes(
    pg_engine: PgextEngine,
) -> None:
    await recreate_tables(pg_engine, IoColumnsPlace)
    rows = await IoColumnsPlace.raw(
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
        "FROM pg_attribute a WHERE a.attrelid = 'pgx_io_columns_place'::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped"
    )
    types = {row["name"]: row["type"] for row in rows}
    assert types["point"] == "geometry(Point,4326)"
    assert types["outline"] == "geometry(PolygonZ,3857)"
    assert types["track"] == "geometry(MultiLineStringZM)"
    assert types["zone"] == "geography(MultiPolygonM,4326)"
    indexes = await IoColumnsPlace.raw(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'pgx_io_columns_place'"
    )
    gist = [row["indexdef"] for row in indexes if "USING gist" in row["indexdef"]]
    indexed = sorted(d.split("USING gist ")[-1] for d in gist)
    # Lon/lat geometry columns also get the ::geography expression index
    # that dwithin/knn use; projected, SRID-less and geography ones do not.
    assert indexed == [
        "(((anything)::geography))",
        "(((point)::geography))",
        "(anything)",
        "(outline)",
        "(point)",
        "(zone)",
    ]


class IoColumnsDefault(Table, tablename="pgx_io_columns_default"):
    name = Varchar()
    spot = Geometry("Point", srid=3857, default="POINT(1 2)")


@pytest.mark.postgres
async def test_default_is_ewkt_in_python_and_sql(pg_engine: PgextEngine) -> None:
    assert IoColumnsDefault.spot.default == "SRID=3857;POINT (1 2)"
    assert (
        seam.column_params(IoColumnsDefault.spot)["default"] == "SRID=3857;POINT (1 2)"
    )
    await recreate_tables(pg_engine, IoColumnsDefault)
    row = IoColumnsDefault(name="python default")
    assert row.spot.equals(shapely.Point(1, 2))
    await row.save()
    # A raw INSERT without the column uses the SQL DEFAULT, which must carry
    # the column SRID to pass PostGIS's typmod check.
    await IoColumnsDefault.raw(
        "INSERT INTO pgx_io_columns_default (name) VALUES ('sql')"
    )
    rows = await IoColumnsDefault.select(IoColumnsDefault.spot)
    assert [shapely.get_srid(r["spot"]) for r in rows] == [3857, 3857]


@pytest.mark.postgres
async def test_where_values_get_the_column_srid_or_a_clear_error(
    pg_engine: PgextEngine,
) -> None:
    await recreate_tables(pg_engine, IoColumnsDefault)
    await IoColumnsDefault.insert(IoColumnsDefault(name="a"))
    query = IoColumnsDefault.count().where
    assert await query(IoColumnsDefault.spot == "POINT(1 2)") == 1
    assert await query(IoColumnsDefault.spot == shapely.Point(1, 2)) == 1
    with pytest.raises(SRIDMismatch, match="column 'spot'"):
        await query(IoColumnsDefault.spot == {"type": "Point", "coordinates": [1, 2]})
