"""FeatureCollections built in SQL: structure, joins, filters, SRIDs, and
equality with the same collection built in Python."""

from __future__ import annotations

import json

import pytest
import shapely
from piccolo.columns import Boolean, ForeignKey, Integer, Varchar
from piccolo.table import Table
from shapely import Point, box

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis import functions as F
from pgext.postgis.geojson import feature_collection, feature_collection_query
from pgext.postgis.measure import D
from pgext.postgis.query_errors import SpatialQueryError
from tests.helpers import recreate_tables

pytestmark = pytest.mark.postgres


class GjKind(Table):
    name = Varchar()


class GjPlace(Table):
    name = Varchar()
    rank = Integer(null=True)
    open_now = Boolean(default=True)
    spot = Geometry("Point", srid=4326)
    kind = ForeignKey(GjKind)


class GjParcel(Table):
    label = Varchar()
    shape = Geometry("Polygon", srid=3857)


class GjCity(Table):
    name = Varchar()
    loc = Geography("Point")


@pytest.fixture
async def data(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, GjKind, GjPlace, GjParcel, GjCity)
    await GjKind.insert(GjKind(name="cafe"), GjKind(name="shop"))
    kinds = {r["name"]: r["id"] for r in await GjKind.select(GjKind.id, GjKind.name)}
    await GjPlace.insert(
        GjPlace(name="one", rank=1, spot=Point(1.5, 2.25), kind=kinds["cafe"]),
        GjPlace(name='two "quoted"', rank=2, spot=Point(10, 10), kind=kinds["shop"]),
        GjPlace(name="three", rank=3, spot=Point(-20, 5), kind=None),
    )
    await GjParcel.insert(
        GjParcel(
            label="p", shape=shapely.set_srid(box(0, 0, 111_319.49, 111_325), 3857)
        )
    )
    await GjCity.insert(GjCity(name="Oslo", loc=Point(10.75, 59.91)))


async def test_feature_collection_structure_and_joins(data: None) -> None:
    text = await feature_collection(
        GjPlace, GjPlace.spot, [GjPlace.name, GjPlace.kind.name], order_by=GjPlace.rank
    )
    assert isinstance(text, str)
    collection = json.loads(text)
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [f["properties"]["name"] for f in features] == [
        "one",
        'two "quoted"',
        "three",
    ]
    first = features[0]
    flags = await feature_collection(GjPlace, GjPlace.spot, [GjPlace.open_now])
    assert {f["properties"]["open_now"] for f in json.loads(flags)["features"]} == {
        True
    }
    assert first["type"] == "Feature"
    assert isinstance(first["id"], int)
    assert first["geometry"] == {"type": "Point", "coordinates": [1.5, 2.25]}
    assert first["properties"] == {"name": "one", "kind.name": "cafe"}
    assert features[2]["properties"]["kind.name"] is None


async def test_filters_limit_and_expression_properties(data: None) -> None:
    text = await feature_collection(
        GjPlace,
        GjPlace.spot,
        {"title": GjPlace.name, "km": F.distance(GjPlace.spot, Point(0, 0)) / 1000},
        id=GjPlace.rank,
        where=GjPlace.spot.dwithin(Point(0, 0), D(km=2000)),
        order_by=GjPlace.rank,
    )
    features = json.loads(text)["features"]
    assert [f["id"] for f in features] == [1, 2]
    assert features[0]["properties"]["km"] == pytest.approx(299.6, rel=0.01)
    text = await feature_collection(
        GjPlace, GjPlace.spot, [GjPlace.name], bbox=(0, 0, 5, 5), id=None
    )
    features = json.loads(text)["features"]
    assert [f["properties"]["name"] for f in features] == ["one"]
    assert "id" not in features[0]
    text = await feature_collection(GjPlace, GjPlace.spot, limit=1)
    assert len(json.loads(text)["features"]) == 1
    text = await feature_collection(
        GjPlace, GjPlace.spot, where=GjPlace.name == "nobody"
    )
    assert json.loads(text) == {"type": "FeatureCollection", "features": []}


async def test_other_srids_are_written_as_lonlat(data: None) -> None:
    collection = json.loads(
        await feature_collection(
            GjParcel, GjParcel.shape, [GjParcel.label], precision=3
        )
    )
    ring = collection["features"][0]["geometry"]["coordinates"][0]
    assert [1.0, 1.0] in ring  # 111 km of Web Mercator at the equator = 1 degree
    parcels = json.loads(
        await feature_collection(GjParcel, GjParcel.shape, bbox=(0.5, 0.5, 2, 2))
    )
    assert len(parcels["features"]) == 1
    cities = json.loads(
        await feature_collection(
            GjCity, GjCity.loc, [GjCity.name], bbox=(10, 59, 11, 60)
        )
    )
    assert cities["features"][0]["geometry"]["coordinates"] == [10.75, 59.91]


async def test_same_collection_as_built_in_python(data: None) -> None:
    in_sql = json.loads(
        await feature_collection(GjPlace, GjPlace.spot, [GjPlace.name, GjPlace.rank])
    )
    rows = await GjPlace.select(GjPlace.id, GjPlace.spot, GjPlace.name, GjPlace.rank)
    in_python = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r["id"],
                "geometry": shapely.geometry.mapping(r["spot"]),
                "properties": {"name": r["name"], "rank": r["rank"]},
            }
            for r in rows
        ],
    }
    # mapping() gives tuples; compare through JSON.
    expected = json.loads(json.dumps(in_python))
    key = lambda f: f["id"]  # noqa: E731
    assert sorted(in_sql["features"], key=key) == sorted(expected["features"], key=key)


def test_refusals_before_sql() -> None:
    with pytest.raises(SpatialQueryError, match="bbox"):
        feature_collection_query(GjPlace, GjPlace.spot, bbox=(0, 0, 200, 5))
    with pytest.raises(SpatialQueryError, match="bbox"):
        feature_collection_query(GjPlace, GjPlace.spot, bbox=(5, 0, 0, 5))
    with pytest.raises(SpatialQueryError, match="bbox"):
        feature_collection_query(GjPlace, GjPlace.spot, bbox=(0, 0, 5))
    with pytest.raises(SpatialQueryError, match="precision"):
        feature_collection_query(GjPlace, GjPlace.spot, precision=99)
    with pytest.raises(SpatialQueryError, match="alias"):
        feature_collection_query(GjPlace, GjPlace.spot, [F.x(GjPlace.spot) + 1])
    with pytest.raises(SpatialQueryError, match="at most"):
        feature_collection_query(
            GjPlace, GjPlace.spot, {f"p{i}": GjPlace.name for i in range(101)}
        )
    with pytest.raises(SpatialQueryError, match="not a pgext"):
        feature_collection_query(GjPlace, GjPlace.name)
    with pytest.raises(SpatialQueryError, match="limit"):
        feature_collection_query(GjPlace, GjPlace.spot, limit=-1)


def test_values_are_bound_not_inlined() -> None:
    sql, args = feature_collection_query(
        GjPlace, GjPlace.spot, {"it's": GjPlace.name}, bbox=(1, 2, 3, 4)
    ).compile_string()
    assert "it's" not in sql
    assert any("it's" in str(arg) for arg in args)
    assert args[-4:] == [1.0, 2.0, 3.0, 4.0]


async def test_awkward_keys_values_and_nulls(data: None) -> None:
    await GjPlace.insert(GjPlace(name="ünï\\code\n", rank=None, spot=None))
    text = await feature_collection(
        GjPlace,
        GjPlace.spot,
        {'key "with" \\ quotes': GjPlace.name, "rank": GjPlace.rank},
        where=GjPlace.spot.is_null(),
    )
    feature = json.loads(text)["features"][0]
    assert feature["geometry"] is None
    assert feature["properties"] == {
        'key "with" \\ quotes': "ünï\\code\n",
        "rank": None,
    }
