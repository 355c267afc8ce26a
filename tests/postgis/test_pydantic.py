"""The pydantic type of spatial columns through Piccolo's create_pydantic_model."""

from __future__ import annotations

import json

import pydantic
import pytest
import shapely
from piccolo.columns import Varchar
from piccolo.table import Table
from piccolo.utils.pydantic import create_pydantic_model

from pgext.postgis import Geography, Geometry
from pgext.postgis.pydantic import GeoJSON, geojson_type
from pgext.postgis.values import GeometrySpec


class IoPydanticPlace(Table, tablename="pgx_io_pydantic_place"):
    name = Varchar()
    location = Geometry("Point")
    outline = Geometry("Polygon", srid=3857)
    track = Geometry("LineString", dimension="XYM")
    zone = Geography("Polygon", dimension="XYZ")


Model = create_pydantic_model(IoPydanticPlace)


def test_json_schema_carries_widget_metadata() -> None:
    schema = Model.model_json_schema()
    location = schema["properties"]["location"]
    # Optional column: pydantic wraps the type schema in anyOf with null.
    string = location["anyOf"][0]
    assert string == {
        "type": "string",
        "format": "geojson",
        "x-widget": "map",
        "x-geometry-type": "Point",
        "x-srid": 4326,
        "x-dimension": "XY",
        "x-geography": False,
    }
    assert location["anyOf"][1] == {"type": "null"}
    assert schema["properties"]["outline"]["anyOf"][0]["x-srid"] == 3857
    assert schema["properties"]["track"]["anyOf"][0]["format"] == "ewkt"
    zone = schema["properties"]["zone"]["anyOf"][0]
    assert zone["x-geography"] is True and zone["x-dimension"] == "XYZ"
    # Piccolo's own field metadata is still there.
    assert "extra" in location


@pytest.mark.parametrize(
    "value",
    [
        shapely.Point(1, 2),
        "POINT(1 2)",
        "SRID=4326;POINT(1 2)",
        {"type": "Point", "coordinates": [1, 2]},
        '{"type":"Point","coordinates":[1,2]}',
    ],
)
def test_accepts_every_form_and_serialises_geojson(value: object) -> None:
    model = Model(location=value)
    assert isinstance(model.location, GeoJSON)
    dumped = json.loads(model.model_dump_json())
    assert json.loads(dumped["location"]) == {
        "type": "Point",
        "coordinates": [1.0, 2.0],
    }
    assert model.model_dump()["location"] == dumped["location"]


def test_srid_and_m_survive_a_round_trip() -> None:
    outline = shapely.set_srid(shapely.box(0, 0, 10, 10), 3857)
    model = Model(outline=outline)
    text = model.model_dump()["outline"]
    assert json.loads(text)["crs"]["properties"]["name"] == "EPSG:3857"
    again = Model(outline=text)
    assert again.outline == model.outline
    assert shapely.get_srid(again.outline.to_shapely()) == 3857
    track = Model(track="LINESTRING M (0 0 1, 1 1 2)").model_dump()["track"]
    assert track == "SRID=4326;LINESTRING M (0 0 1, 1 1 2)"
    assert shapely.has_m(Model(track=track).track.to_shapely())


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("location", "POLYGON((0 0, 1 0, 1 1, 0 0))", "Polygon cannot be stored"),
        ("location", "POINT(1", "invalid WKT"),
        ("location", {"type": "Point"}, "invalid GeoJSON"),
        (
            "outline",
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            "SRID 4326",
        ),
        ("zone", "POLYGON Z ((0 0 0, 0 100 0, 1 1 0, 0 0 0))", "latitude"),
        ("zone", "POLYGON ((0 0, 0 1, 1 1, 0 0))", "XYZ"),
        ("location", 42, "cannot read a geometry"),
    ],
)
def test_bad_values_are_validation_errors(
    field: str, value: object, words: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Model(**{field: value})
    assert words in str(caught.value)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_geojson_type_is_cached_per_declaration() -> None:
    spec = GeometrySpec("Point", 4326, "XY", False)
    assert geojson_type(spec) is geojson_type(GeometrySpec("Point", 4326, "XY", False))
    assert geojson_type(spec) is not geojson_type(
        GeometrySpec("Point", 3857, "XY", False)
    )
    assert geojson_type(spec).__name__ == "GeoJSONPoint4326XY"
