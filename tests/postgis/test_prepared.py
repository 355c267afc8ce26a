"""``prepare()``: a spatial select compiled once returns, for every point,
the rows the query builder returns for that point; points are checked as
the builder checks them."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest
import shapely
from piccolo.columns import Varchar
from piccolo.table import Table
from shapely import Point, box

from pgext.engine import PgextEngine
from pgext.postgis import (
    Geography,
    Geometry,
    GeometryParam,
    PreparedSelect,
    SRIDMismatch,
    prepare,
)
from pgext.postgis.errors import (
    CoordinateOutOfRange,
    InvalidGeometry,
    NonFiniteCoordinate,
)
from pgext.postgis.measure import D
from tests.helpers import drop_tables, recreate_tables

pytestmark = pytest.mark.postgres

HERE = GeometryParam("here")
POINTS = [Point(0.01, 0.0), Point(1.9, 0.1), Point(-0.5, 0.2), Point(30, 60)]


class PrepShop(Table, tablename="pgx_prep_shop"):
    name = Varchar()
    location = Geometry("Point", srid=4326)
    area = Geography("Polygon")


@pytest.fixture
async def shops(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, PrepShop)
    await PrepShop.insert(
        *(
            PrepShop(
                name=f"s{i}",
                location=Point(x, y),
                area=box(x - 0.1, y - 0.1, x + 0.1, y + 0.1),
            )
            for i, (x, y) in enumerate(
                [(0, 0), (0.02, 0), (0.5, 0), (2, 0), (-1, 0), (30.01, 60), (0, 0.03)]
            )
        )
    )
    yield
    await drop_tables(PrepShop)


def builders(point: object) -> list[object]:
    shop = PrepShop
    return [
        shop.select(shop.name).where(shop.location.dwithin(point, D(km=5))),
        shop.select(shop.name, shop.location)
        .order_by(shop.location.knn(point))
        .limit(3),
        shop.select(shop.name).order_by(shop.location.knn(point)).limit(2).offset(1),
        shop.select(shop.name, shop.area.distance(point, alias="d"))
        .where(shop.area.intersects(point) | shop.name.like("s1%"))
        .order_by(shop.name),
        shop.select(shop.name, shop.location)
        .where(shop.location.dwithin(point, 200_000))
        .output(nested=True)
        .callback(lambda rows: sorted(rows, key=lambda row: row["name"])),
    ]


async def test_rows_equal_the_builders_for_every_point(shops: None) -> None:
    prepared = [prepare(query) for query in builders(HERE)]
    for point in POINTS:
        for query, compiled in zip(builders(point), prepared, strict=True):
            assert compiled.params == {"here"}
            expected = await query  # type: ignore[misc]
            assert await compiled.run(here=point) == expected
            # The same point as a pair of numbers.
            assert await compiled.run(here=(point.x, point.y)) == expected


async def test_same_sql_text_every_run(shops: None) -> None:
    """The SQL is compiled once: the text asyncpg keys its prepared
    statement on does not change with the point."""
    nearby = prepare(
        PrepShop.select(PrepShop.name).where(PrepShop.location.dwithin(HERE, D(km=5)))
    )
    text = nearby.sql
    assert [r["name"] for r in await nearby.run(here=Point(0, 0))] == [
        "s0",
        "s1",
        "s6",
    ]
    assert nearby.sql == text
    assert "$1" in text and "POINT" not in text


async def test_on_a_connection_and_in_a_transaction(
    shops: None, pg_engine: PgextEngine
) -> None:
    nearest = prepare(
        PrepShop.select(PrepShop.name).order_by(PrepShop.location.knn(HERE)).limit(1)
    )
    async with pg_engine.connection() as connection:
        assert await nearest.run(connection, here=Point(29, 59)) == [{"name": "s5"}]
    async with pg_engine.transaction():
        await PrepShop.insert(PrepShop(name="new", location=Point(29, 59)))
        # The transaction's own connection: its uncommitted row is seen.
        assert await nearest.run(here=Point(29, 59)) == [{"name": "new"}]
        await PrepShop.delete().where(PrepShop.name == "new")


async def test_points_are_checked_like_the_builders(shops: None) -> None:
    near_location = prepare(
        PrepShop.select(PrepShop.name).where(PrepShop.location.dwithin(HERE, 10))
    )
    near_area = prepare(
        PrepShop.select(PrepShop.name).where(PrepShop.area.dwithin(HERE, 10))
    )
    with pytest.raises(SRIDMismatch):
        await near_location.run(here=shapely.set_srid(Point(0, 0), 3857))
    with pytest.raises(NonFiniteCoordinate):
        await near_location.run(here=Point(float("nan"), 0))
    with pytest.raises(CoordinateOutOfRange):
        await near_area.run(here=Point(200, 0))
    # Other forms of a geometry than a shapely point take the general path.
    assert await near_location.run(here="SRID=4326;POINT(0 0)") == [{"name": "s0"}]
    assert await near_location.run(here={"type": "Point", "coordinates": [0, 0]}) == [
        {"name": "s0"}
    ]
    # Numbers the fast path leaves (numpy scalars, NaN) are read and checked
    # as a shapely point; anything else that is not a point says what it takes.
    assert await near_location.run(here=(np.float64(0), np.float64(0))) == [
        {"name": "s0"}
    ]
    with pytest.raises(NonFiniteCoordinate, match=r"got \(nan, 0\.0\)"):
        await near_location.run(here=(float("nan"), 0))
    with pytest.raises(CoordinateOutOfRange):
        await near_area.run(here=(200, 0))
    for bad in [(1,), (True, 0), ("0", "0"), (1, 2, 3, 4)]:
        with pytest.raises(InvalidGeometry, match="a point given as numbers"):
            await near_location.run(here=bad)
    with pytest.raises(TypeError, match="missing \\['here'\\]"):
        await near_location.run()
    with pytest.raises(TypeError, match="unknown \\['there'\\]"):
        await near_location.run(here=Point(0, 0), there=Point(1, 1))


async def test_a_parameter_outside_prepare_says_so(shops: None) -> None:
    missing = "no value for GeometryParam\\('here'\\)"
    with pytest.raises(asyncpg.DataError, match=missing):
        await PrepShop.select(PrepShop.name).where(PrepShop.location.dwithin(HERE, 1))


def test_only_selects_are_prepared() -> None:
    with pytest.raises(TypeError, match="select"):
        PreparedSelect(PrepShop.count())
    with pytest.raises(TypeError, match="as_list"):
        prepare(PrepShop.select(PrepShop.name).output(as_list=True))
    with pytest.raises(ValueError, match="identifier"):
        GeometryParam("not a name")
    with pytest.raises(ValueError, match="run\\(\\)'s own argument"):
        GeometryParam("connection")
