"""Binary EWKB on the wire: every accepted input form in, shapely with SRID
out, through select, objects, raw, joins and plain asyncpg."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from piccolo.columns import ForeignKey, Varchar
from piccolo.table import Table

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis.codec import EWKB, decode_result, encode, encode_checked, to_shapely
from tests.helpers import recreate_tables


class IoCodecOwner(Table, tablename="pgx_io_codec_owner"):
    name = Varchar()
    home = Geometry("Point", srid=4326)


class IoCodecThing(Table, tablename="pgx_io_codec_thing"):
    name = Varchar()
    owner = ForeignKey(IoCodecOwner)
    shape = Geometry("Geometry", srid=3857, dimension="XYZM")
    place = Geography("Point")


@pytest.fixture
async def tables(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, IoCodecOwner, IoCodecThing)


INPUTS: list[Any] = [
    shapely.Point(1, 2),
    "POINT(1 2)",
    "SRID=4326;POINT(1 2)",
    {"type": "Point", "coordinates": [1, 2]},
    '{"type": "Point", "coordinates": [1, 2]}',
    shapely.to_wkb(shapely.Point(1, 2)),
    shapely.to_wkb(
        shapely.set_srid(shapely.Point(1, 2), 4326), hex=True, include_srid=True
    ),
]


@pytest.mark.postgres
@pytest.mark.parametrize("value", INPUTS)
async def test_every_input_form_round_trips(tables: None, value: Any) -> None:
    await IoCodecOwner.insert(IoCodecOwner(name="o", home=value))
    row = await IoCodecOwner.select(IoCodecOwner.home).first()
    assert row is not None
    assert isinstance(row["home"], shapely.Point)
    assert shapely.get_srid(row["home"]) == 4326
    assert row["home"].equals(shapely.Point(1, 2))
    # The database saw the same value (not a text fallback).
    text = await IoCodecOwner.raw("SELECT ST_AsEWKT(home) AS t FROM pgx_io_codec_owner")
    assert text == [{"t": "SRID=4326;POINT(1 2)"}]


@pytest.mark.postgres
async def test_z_m_srid_objects_joins_and_nulls(tables: None) -> None:
    owner = IoCodecOwner(name="o", home="POINT(5 6)")
    await owner.save()
    await IoCodecThing.insert(
        IoCodecThing(
            name="zm",
            owner=owner,
            shape="SRID=3857;POLYGON ZM ((0 0 1 2, 10 0 1 2, 10 10 1 2, 0 0 1 2))",
            place="POINT(-70.5 -33.4)",
        ),
        IoCodecThing(name="empty", owner=owner),
    )
    things = await IoCodecThing.objects().order_by(IoCodecThing.name)
    empty, zm = things
    assert empty.shape is None and empty.place is None
    assert shapely.has_z(zm.shape) and shapely.has_m(zm.shape)
    assert shapely.get_srid(zm.shape) == 3857
    assert shapely.get_srid(zm.place) == 4326
    rows = await IoCodecThing.select(
        IoCodecThing.name, IoCodecThing.owner.home, IoCodecThing.place
    ).order_by(IoCodecThing.name)
    assert rows[0]["place"] is None
    assert rows[1]["owner.home"].equals(shapely.Point(5, 6))
    # save() of a fetched object writes the geometry back unchanged.
    zm.name = "renamed"
    await zm.save()
    again = await IoCodecThing.objects().where(IoCodecThing.name == "renamed").first()
    assert again is not None and again.shape.equals(zm.shape)


@pytest.mark.postgres
async def test_where_equality_with_text_and_shapely(tables: None) -> None:
    await IoCodecOwner.insert(
        IoCodecOwner(name="a", home="POINT(1 1)"),
        IoCodecOwner(name="b", home="POINT(2 2)"),
    )
    by_text = await IoCodecOwner.select(IoCodecOwner.name).where(
        IoCodecOwner.home == "POINT(2 2)"
    )
    by_shape = await IoCodecOwner.select(IoCodecOwner.name).where(
        IoCodecOwner.home.is_in([shapely.Point(1, 1), shapely.Point(2, 2)])
    )
    assert by_text == [{"name": "b"}]
    assert sorted(r["name"] for r in by_shape) == ["a", "b"]


@pytest.mark.postgres
async def test_raw_connection_gets_ewkb_placeholders(
    tables: None, pg_engine: PgextEngine
) -> None:
    await IoCodecOwner.insert(IoCodecOwner(name="a", home="POINT(3 4)"))
    async with pg_engine.connection() as connection:
        rows = await connection.fetch("SELECT home FROM pgx_io_codec_owner")
        value = rows[0]["home"]
        assert type(value) is EWKB  # a bytearray: not GC-tracked, not bytea's bytes
        first, missing = to_shapely([value, None])
        assert first is not None and first.equals(shapely.Point(3, 4))
        assert shapely.get_srid(first) == 4326 and missing is None
        # Placeholders and bytes go back through the encoder unchanged.
        echoed = await connection.fetchval("SELECT ST_AsText($1::geometry)", value)
        assert echoed == "POINT(3 4)"


def test_encode_accepts_every_input_form() -> None:
    expected = shapely.to_wkb(shapely.Point(1, 2), include_srid=True)
    for value in INPUTS[:2] + INPUTS[3:6]:
        assert shapely.from_wkb(encode(value)).equals(shapely.Point(1, 2))
    assert encode(expected) is expected


def test_decode_result_converts_per_column_and_skips_other_bytes() -> None:
    point = EWKB(
        shapely.to_wkb(shapely.set_srid(shapely.Point(1, 2), 4326), include_srid=True)
    )
    rows: list[dict[str, Any]] = [
        {"g": None, "b": b"raw", "n": 1},
        {"g": point, "b": b"raw", "n": 2},
    ]
    decode_result(rows)
    assert rows[0]["g"] is None
    assert rows[1]["g"].equals(shapely.Point(1, 2))
    assert shapely.get_srid(rows[1]["g"]) == 4326
    assert rows[1]["b"] == b"raw" and type(rows[1]["b"]) is bytes
    decode_result([])


def test_checked_operands_are_encoded_once() -> None:
    """An operand pgext checked is sent with the EWKB made then; an equal
    geometry it did not check is parsed and checked by the codec itself."""
    checked = shapely.set_srid(shapely.Point(1, 2), 4326)
    data = encode_checked(checked)
    assert encode(checked) is data
    unchecked = shapely.set_srid(shapely.Point(1, 2), 4326)
    assert encode(unchecked) == data and encode(unchecked) is not data
