"""Vector tiles: the protobuf PostGIS returns is decoded here (a minimal
reader of the MVT fields we check) and compared with the rows expected in
each tile; bad z/x/y are refused before any SQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import shapely
from piccolo.columns import ForeignKey, Varchar
from piccolo.table import Table
from shapely import Point

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis.query_errors import InvalidTile, SpatialQueryError
from pgext.postgis.tiles import check_tile, vector_tile, vector_tile_query
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class TlOwner(Table):
    name = Varchar()


class TlPoint(Table):
    name = Varchar()
    spot = Geometry("Point", srid=4326)
    owner = ForeignKey(TlOwner)


class TlMerc(Table):
    name = Varchar()
    pos = Geometry("Point", srid=3857)


class TlGeog(Table):
    name = Varchar()
    geog = Geography("Point")


# -- a minimal protobuf reader for the MVT fields the tests look at -------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            yield number, value
        elif wire == 2:
            size, i = _varint(data, i)
            yield number, data[i : i + size]
            i += size
        elif wire == 5:
            yield number, data[i : i + 4]
            i += 4
        elif wire == 1:
            yield number, data[i : i + 8]
            i += 8
        else:  # pragma: no cover
            raise AssertionError(f"wire type {wire}")


@dataclass
class Layer:
    name: str = ""
    keys: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    features: int = 0
    extent: int = 0


def decode(tile: bytes) -> dict[str, Layer]:
    layers = {}
    for number, raw in _fields(tile):
        assert number == 3 and isinstance(raw, bytes)
        layer = Layer()
        for n, v in _fields(raw):
            if n == 1 and isinstance(v, bytes):
                layer.name = v.decode()
            elif n == 2:
                layer.features += 1
            elif n == 3 and isinstance(v, bytes):
                layer.keys.append(v.decode())
            elif n == 4 and isinstance(v, bytes):
                layer.values += [
                    s.decode() for k, s in _fields(v) if k == 1 and isinstance(s, bytes)
                ]
            elif n == 5 and isinstance(v, int):
                layer.extent = v
        layers[layer.name] = layer
    return layers


# -- tests ---------------------------------------------------------------------------


@pytest.fixture
async def data(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, TlOwner, TlPoint, TlMerc, TlGeog)
    await TlOwner.insert(TlOwner(name="ann"))
    owner = (await TlOwner.select(TlOwner.id))[0]["id"]
    await TlPoint.insert(
        TlPoint(name="ne", spot=Point(10, 10), owner=owner),
        TlPoint(name="sw", spot=Point(-10, -10), owner=None),
        TlPoint(name="nw", spot=Point(-100, 40), owner=None),
    )
    await TlMerc.insert(TlMerc(name="m", pos=shapely.set_srid(Point(1e6, 1e6), 3857)))
    await TlGeog.insert(TlGeog(name="g", geog=Point(10, 10)))


async def test_world_tile_has_every_row(data: None) -> None:
    tile = await vector_tile(TlPoint, TlPoint.spot, 0, 0, 0, [TlPoint.name])
    layers = decode(tile)
    assert list(layers) == ["tl_point"]
    layer = layers["tl_point"]
    assert layer.features == 3
    assert layer.keys == ["name"]
    assert sorted(layer.values) == ["ne", "nw", "sw"]
    assert layer.extent == 4096


async def test_quadrant_tiles_and_joined_properties(data: None) -> None:
    # z=1: x=1,y=0 is the north-east quarter of the world.
    tile = await vector_tile(
        TlPoint,
        TlPoint.spot,
        1,
        1,
        0,
        {"title": TlPoint.name, "owner": TlPoint.owner.name},
        layer="pois",
        extent=512,
        buffer=0,
    )
    layer = decode(tile)["pois"]
    assert layer.features == 1
    assert sorted(layer.keys) == ["owner", "title"]
    assert sorted(layer.values) == ["ann", "ne"]
    assert layer.extent == 512
    north_west = decode(await vector_tile(TlPoint, TlPoint.spot, 1, 0, 0))
    assert north_west["tl_point"].features == 1
    # A wide buffer (1/8 of the tile, ~22 degrees here) takes in "sw" too.
    wide = await vector_tile(TlPoint, TlPoint.spot, 1, 1, 0, extent=512, buffer=64)
    assert decode(wide)["tl_point"].features == 2
    tile = await vector_tile(
        TlPoint, TlPoint.spot, 0, 0, 0, where=TlPoint.name.like("n%")
    )
    assert decode(tile)["tl_point"].features == 2


async def test_empty_tile_and_other_column_kinds(data: None) -> None:
    # Deep in the Pacific at zoom 10: nothing there.
    assert await vector_tile(TlPoint, TlPoint.spot, 10, 5, 500) == b""
    merc = decode(await vector_tile(TlMerc, TlMerc.pos, 1, 1, 0, [TlMerc.name]))
    assert merc["tl_merc"].features == 1
    geog = decode(await vector_tile(TlGeog, TlGeog.geog, 1, 1, 0, [TlGeog.name]))
    assert geog["tl_geog"].features == 1
    assert await vector_tile(TlGeog, TlGeog.geog, 1, 0, 1) == b""


def test_bad_tiles_are_refused_before_sql() -> None:
    assert check_tile(3, 7, 0) == (3, 7, 0)
    for z, x, y in [(-1, 0, 0), (31, 0, 0), (1, 2, 0), (1, 0, -1), (0, 1, 0)]:
        with pytest.raises(InvalidTile):
            check_tile(z, x, y)
    with pytest.raises(InvalidTile, match="int"):
        check_tile(True, 0, 0)
    with pytest.raises(InvalidTile, match="int"):
        vector_tile_query(TlPoint, TlPoint.spot, "1", 0, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidTile, match="extent"):
        vector_tile_query(TlPoint, TlPoint.spot, 0, 0, 0, extent=10)
    with pytest.raises(InvalidTile, match="layer"):
        vector_tile_query(TlPoint, TlPoint.spot, 0, 0, 0, layer="")
    with pytest.raises(SpatialQueryError, match="reserved"):
        vector_tile_query(TlPoint, TlPoint.spot, 0, 0, 0, {"mvt_geom": TlPoint.name})
    with pytest.raises(SpatialQueryError, match="not a spatial column"):
        vector_tile_query(TlPoint, TlPoint.name, 0, 0, 0)


def test_attribute_names_cannot_break_out_of_the_alias() -> None:
    with pytest.raises(SpatialQueryError, match="double quote"):
        vector_tile_query(
            TlPoint, TlPoint.spot, 0, 0, 0, {'x" , 1 AS "y': TlPoint.name}
        )
