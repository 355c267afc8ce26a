"""Bulk load by binary COPY."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from piccolo.columns import Integer, Varchar
from piccolo.table import Table

from pgext.engine import PgextEngine
from pgext.errors import InvalidValue
from pgext.postgis import Geography, Geometry
from pgext.postgis.copy import copy_columns, copy_rows
from pgext.postgis.errors import (
    CoordinateOutOfRange,
    GeometryParseError,
    GeometryTypeMismatch,
)
from tests.helpers import recreate_tables


class IoCopyPoint(Table, tablename="pgx_io_copy_point"):
    name = Varchar()
    rank = Integer()
    location = Geometry("Point", srid=4326)
    zone = Geography("Polygon", dimension="XYZ")


@pytest.fixture
async def table(pg_engine: PgextEngine) -> type[IoCopyPoint]:
    await recreate_tables(pg_engine, IoCopyPoint)
    return IoCopyPoint


@pytest.mark.postgres
async def test_copy_sequences_in_batches_with_progress(
    table: type[IoCopyPoint],
) -> None:
    points = shapely.points(np.arange(250.0).reshape(125, 2) % 80)
    rows = [(f"p{i}", i, p) for i, p in enumerate(points)]
    seen: list[int] = []
    count = await copy_rows(
        table,
        rows,
        columns=[table.name, table.rank, table.location],
        batch_size=50,
        progress=seen.append,
    )
    assert count == 125
    assert seen == [50, 100, 125]
    stored = await table.select().order_by(table.rank)
    assert len(stored) == 125
    assert stored[7]["location"].equals(points[7])
    assert shapely.get_srid(stored[7]["location"]) == 4326
    assert stored[7]["zone"] is None


@pytest.mark.postgres
async def test_copy_mappings_with_every_input_form(table: type[IoCopyPoint]) -> None:
    zone = "POLYGON Z ((0 0 1, 1 0 1, 1 1 1, 0 0 1))"
    rows = [
        {"name": "wkt", "location": "POINT(1 2)", "zone": zone},
        {
            "name": "geojson",
            "location": {"type": "Point", "coordinates": [1, 2]},
            "zone": None,
        },
        {"name": "ewkb", "location": shapely.to_wkb(shapely.Point(1, 2)), "zone": None},
        {"name": "none", "location": None, "zone": None},
    ]
    assert await copy_rows(table, rows) == 4
    stored = {r["name"]: r for r in await table.select()}
    assert stored["none"]["location"] is None
    for name in ("wkt", "geojson", "ewkb"):
        assert stored[name]["location"].equals(shapely.Point(1, 2))
    assert shapely.has_z(stored["wkt"]["zone"])


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (shapely.box(0, 0, 1, 1), GeometryTypeMismatch),
        ("POINT(1", GeometryParseError),
    ],
)
async def test_bad_value_in_a_later_batch_writes_nothing(
    table: type[IoCopyPoint], bad: object, error: type[Exception]
) -> None:
    rows: list[tuple[str, object]] = [(f"p{i}", shapely.Point(i, i)) for i in range(30)]
    rows[25] = ("bad", bad)
    with pytest.raises(error, match="row 25") as caught:
        await copy_rows(table, rows, columns=["name", "location"], batch_size=10)
    assert "column 'location'" in str(caught.value)
    assert await table.count() == 0


@pytest.mark.postgres
async def test_geography_range_checked_in_bulk(table: type[IoCopyPoint]) -> None:
    rows = [{"name": "x", "zone": "POLYGON Z ((0 0 1, 1 0 1, 1 100 1, 0 0 1))"}]
    with pytest.raises(CoordinateOutOfRange, match="column 'zone'"):
        await copy_rows(table, rows)
    assert await table.count() == 0


@pytest.mark.postgres
async def test_copy_argument_errors(table: type[IoCopyPoint]) -> None:
    assert await copy_rows(table, []) == 0
    with pytest.raises(InvalidValue):
        await copy_rows(table, [("a",)])
    with pytest.raises(InvalidValue):
        await copy_rows(table, [{"nope": 1}])
    with pytest.raises(InvalidValue):
        await copy_rows(table, [{"name": "a"}], batch_size=0)


@pytest.mark.postgres
async def test_copy_columns_numpy_and_lists(table: type[IoCopyPoint]) -> None:
    points = shapely.points(np.arange(40.0).reshape(20, 2))
    seen: list[int] = []
    count = await copy_columns(
        table,
        {table.name: [f"p{i}" for i in range(20)], "location": points},
        batch_size=8,
        progress=seen.append,
    )
    assert count == 20 and seen == [8, 16, 20]
    stored = await table.select(table.name, table.location).order_by(table.id)
    assert stored[19]["name"] == "p19" and stored[19]["location"].equals(points[19])
    with pytest.raises(InvalidValue, match="length"):
        await copy_columns(table, {"name": ["a"], "location": points})
    mixed = np.array([shapely.Point(0, 0), "POINT(1 1)", "POLYGON((0 0,1 0,1 1,0 0))"])
    with pytest.raises(GeometryTypeMismatch, match="row 2"):
        await copy_columns(table, {"location": mixed.astype(object)})
    assert await table.count() == 20
