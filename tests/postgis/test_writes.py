"""Piccolo INSERT/UPDATE of shapely values (issue 20): an INSERT's geometries
are checked and encoded per column in one go, and what reaches the table is
exactly what a value-by-value write stores (compared by raw SQL); a bad value
in a batch is still refused with its row, nothing written."""

from __future__ import annotations

import math

import pytest
import shapely
from piccolo.columns import Integer
from piccolo.table import Table

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis.errors import NonFiniteCoordinate, SRIDMismatch
from pgext.postgis.insert_batch import prepare_insert
from pgext.postgis.writes import encode_value
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres

ROWS = 40


class WriteBatch(Table, tablename="pgx_write_batch"):
    rank = Integer()
    location = Geometry("Point", srid=4326)
    track = Geography("LineString", dimension="XYZ")


def _rows() -> list[WriteBatch]:
    return [
        WriteBatch(
            rank=i,
            # SRID-less values take the column's SRID, as one by one.
            location=shapely.Point(i * 0.5, -i * 0.25),
            track=shapely.set_srid(
                shapely.LineString([(i, 1, 2), (i + 0.5, 1.5, 3)]), 4326
            ),
        )
        for i in range(ROWS)
    ]


async def _stored(engine: PgextEngine) -> list[tuple[int, str, str]]:
    async with engine.connection() as connection:
        records = await connection.fetch(
            "SELECT rank, ST_AsEWKT(location), ST_AsEWKT(track) "
            "FROM pgx_write_batch ORDER BY rank"
        )
    return [tuple(record) for record in records]


async def test_batch_insert_stores_what_single_inserts_store(
    pg_engine: PgextEngine,
) -> None:
    await recreate_tables(pg_engine, WriteBatch)
    await WriteBatch.insert(*_rows())
    batched = await _stored(pg_engine)
    await WriteBatch.delete(force=True)
    for row in _rows():
        await WriteBatch.insert(row)
    assert await _stored(pg_engine) == batched
    assert len(batched) == ROWS
    assert batched[3] == (
        3,
        "SRID=4326;POINT(1.5 -0.75)",
        "SRID=4326;LINESTRING(3 1 2,3.5 1.5 3)",
    )
    # The row objects keep the user's values (nothing swapped for bytes).
    rows = _rows()
    await WriteBatch.insert(*rows)
    assert isinstance(rows[0].location, shapely.Point)


async def test_prepared_encodings_are_used_then_dropped(
    pg_engine: PgextEngine,
) -> None:
    await recreate_tables(pg_engine, WriteBatch)
    rows = _rows()
    undo = prepare_insert(WriteBatch, rows)
    assert undo is not None
    try:
        first = encode_value(WriteBatch.location, rows[0].location)
        assert first is encode_value(WriteBatch.location, rows[0].location)
        assert shapely.get_srid(shapely.from_wkb(first)) == 4326
    finally:
        undo()
    # Outside the INSERT each call encodes on its own: equal, not the same.
    alone = encode_value(WriteBatch.location, rows[0].location)
    assert alone == first and alone is not first


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (shapely.Point(1, math.nan), NonFiniteCoordinate),
        (shapely.set_srid(shapely.Point(1, 2), 3857), SRIDMismatch),
    ],
)
async def test_bad_value_in_a_batch_names_its_row_and_writes_nothing(
    pg_engine: PgextEngine, bad: shapely.Geometry, error: type[Exception]
) -> None:
    await recreate_tables(pg_engine, WriteBatch)
    rows = _rows()
    rows[17].location = bad
    with pytest.raises(error) as caught:
        await WriteBatch.insert(*rows)
    assert getattr(caught.value, "row", None) == 17
    assert "location" in str(caught.value)
    assert await WriteBatch.count() == 0
