"""NaN and +-Infinity are refused wherever a geometry enters, naming the
column (and the row when several are written), before anything is sent;
messages show plain numbers."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pydantic
import pytest
import shapely
from piccolo.columns import Integer
from piccolo.table import Table
from piccolo.utils.pydantic import create_pydantic_model

from pgext.engine import PgextEngine
from pgext.errors import InvalidValue
from pgext.postgis import Geography, Geometry, NonFiniteCoordinate
from pgext.postgis.copy import copy_columns, copy_rows
from pgext.postgis.errors import CoordinateOutOfRange, InvalidGeometry
from pgext.postgis.values import GeometrySpec, parse_geometry, to_geometry
from tests.helpers import recreate_tables

NAN, INF = math.nan, math.inf


class IoFinite(Table, tablename="pgx_io_finite"):
    rank = Integer()
    location = Geometry("Point", srid=4326)
    track = Geography("LineString", dimension="XYZ")


def wkb(geometry: shapely.Geometry, **kwargs: Any) -> Any:
    return shapely.to_wkb(geometry, **kwargs)


BAD_POINTS: list[Any] = [
    shapely.Point(NAN, 1),
    shapely.Point(1, -INF),
    "POINT(nan 1)",
    "SRID=4326;POINT(1 Infinity)",
    "POINT(NaN NaN)",  # a NaN point that is not POINT EMPTY
    {"type": "Point", "coordinates": [NAN, 1]},
    '{"type": "Point", "coordinates": [1, NaN]}',
    '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [Infinity, 1]}}',
    wkb(shapely.Point(INF, 2)),
    wkb(shapely.set_srid(shapely.Point(2, NAN), 4326), include_srid=True, hex=True),
]


@pytest.mark.parametrize("value", BAD_POINTS, ids=range(len(BAD_POINTS)))
def test_every_input_form_is_refused(value: Any) -> None:
    with pytest.raises(NonFiniteCoordinate):
        parse_geometry(value)
    with pytest.raises(NonFiniteCoordinate) as caught:
        to_geometry(value, GeometrySpec("Point"), "location")
    assert caught.value.column == "location"
    assert str(caught.value).startswith("column 'location': coordinates must be finite")
    assert "np." not in str(caught.value)


def test_z_and_m_are_checked_too_and_empty_is_fine() -> None:
    with pytest.raises(NonFiniteCoordinate, match=r"\(1\.0, 2\.0, nan\)"):
        to_geometry("POINT Z (1 2 nan)", GeometrySpec("Point", dimension="XYZ"))
    with pytest.raises(NonFiniteCoordinate):
        to_geometry("POINT M (1 2 inf)", GeometrySpec("Point", dimension="XYM"))
    assert to_geometry("POINT EMPTY", GeometrySpec("Point")).is_empty
    # A 2D point is not refused for the Z and M it does not have.
    assert to_geometry(shapely.Point(1, 2), GeometrySpec("Point")).x == 1


def test_messages_show_plain_numbers() -> None:
    spec = GeometrySpec("LineString", geography=True)
    far = shapely.LineString(np.array([[0.0, 0.0], [200.0, 1.0]]))
    with pytest.raises(CoordinateOutOfRange) as caught:
        to_geometry(far, spec, "track")
    assert "200.0" in str(caught.value) and "np.float64" not in str(caught.value)
    antipodal = shapely.LineString(np.array([[0.0, 0.0], [180.0, 0.0]]))
    with pytest.raises(CoordinateOutOfRange) as caught:
        to_geometry(antipodal, spec, "track")
    assert "(180.0, 0.0)" in str(caught.value)
    assert "np.float64" not in str(caught.value)


def test_pydantic_fields_refuse_nan() -> None:
    model = create_pydantic_model(IoFinite)
    with pytest.raises(pydantic.ValidationError, match="finite"):
        model(rank=1, location={"type": "Point", "coordinates": [NAN, 1]})
    with pytest.raises(pydantic.ValidationError, match="finite"):
        model.model_validate_json('{"rank": 1, "location": "POINT(1 inf)"}')


@pytest.mark.postgres
async def test_insert_update_and_where_refuse_nan(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, IoFinite)
    good = shapely.Point(1, 2)
    # Several rows in one insert: the error names the row; nothing is written.
    with pytest.raises(NonFiniteCoordinate) as caught:
        await IoFinite.insert(
            IoFinite(rank=0, location=good),
            IoFinite(rank=1, location=good),
            IoFinite(rank=2, location=shapely.Point(NAN, 1)),
        )
    assert (caught.value.column, caught.value.row) == ("location", 2)
    assert str(caught.value).startswith("column 'location', row 2: ")
    with pytest.raises(NonFiniteCoordinate):
        IoFinite(rank=3, location="POINT(inf 1)")  # text is parsed on assignment
    with pytest.raises(NonFiniteCoordinate, match="column 'track'"):
        await IoFinite.insert(
            IoFinite(rank=4, track=shapely.LineString([(0, 0, 0), (1, 1, NAN)]))
        )
    assert await IoFinite.count() == 0

    await IoFinite.insert(IoFinite(rank=5, location=good))
    with pytest.raises(NonFiniteCoordinate):
        await IoFinite.update({IoFinite.location: shapely.Point(INF, 0)}).where(
            IoFinite.rank == 5
        )
    with pytest.raises(InvalidGeometry):
        await IoFinite.select().where(IoFinite.location.intersects("POINT(nan 0)"))
    with pytest.raises(InvalidGeometry):
        await IoFinite.select().where(IoFinite.location == shapely.Point(NAN, 0))
    rows = await IoFinite.select(IoFinite.location)
    assert len(rows) == 1 and rows[0]["location"].equals(good)


@pytest.mark.postgres
async def test_bulk_copy_refuses_nan_with_the_row(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, IoFinite)
    points = list(shapely.points(np.arange(20.0).reshape(10, 2)))
    points[7] = shapely.Point(1, NAN)
    with pytest.raises(NonFiniteCoordinate) as caught:
        await copy_columns(
            IoFinite,
            {"rank": list(range(10)), "location": np.array(points)},
            batch_size=4,
        )
    assert (caught.value.column, caught.value.row) == ("location", 7)
    rows: list[dict[str, Any]] = [
        {"rank": i, "location": f"POINT({i} {i})"} for i in range(6)
    ]
    rows[4]["location"] = json.dumps({"type": "Point", "coordinates": [INF, 1]})
    with pytest.raises(NonFiniteCoordinate) as caught:
        await copy_rows(IoFinite, rows, batch_size=3)
    assert caught.value.row == 4
    assert "row 4" in str(caught.value)
    assert await IoFinite.count() == 0
    assert isinstance(caught.value, InvalidValue)
