"""The pydantic type of geometry columns.

Piccolo's ``create_pydantic_model`` (and so piccolo_api and Piccolo Admin)
uses a column's ``value_type`` as the field type.  pgext's spatial columns set
it to a per-column subclass of :class:`GeoJSON`, a ``str`` subclass that

* validates a shapely geometry, GeoJSON (dict or text), WKT/EWKT or hex EWKB
  against the column (subtype, SRID, dimension, lon/lat range), and
* holds -- and serialises to -- GeoJSON text.  Columns whose SRID is not 4326
  add the (pre-RFC 7946) ``crs`` member so the SRID survives a round trip;
  columns with an M dimension use EWKT, since GeoJSON has no M.

The JSON schema of such a field is a string schema with widget metadata::

    {
      "type": "string",
      "format": "geojson",            # "ewkt" for XYM / XYZM columns
      "x-widget": "map",
      "x-geometry-type": "Point",     # PostGIS subtype, "Geometry" = any
      "x-srid": 4326,
      "x-dimension": "XY",            # XY | XYZ | XYM | XYZM
      "x-geography": false
    }

A string schema keeps Piccolo Admin's text input working (it has no map
widget); a front end that knows ``x-widget: map`` can render a map instead.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import shapely
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from shapely.geometry.base import BaseGeometry

from pgext.postgis.values import GEOJSON_SRID, GeometrySpec, to_geometry

WIDGET = "map"


def geometry_text(geometry: BaseGeometry, spec: GeometrySpec) -> str:
    """The text form :class:`GeoJSON` holds for ``geometry``."""
    if spec.dimension.endswith("M"):
        srid = int(shapely.get_srid(geometry)) or spec.srid
        return f"SRID={srid};{shapely.to_wkt(geometry, rounding_precision=-1)}"
    text = str(shapely.to_geojson(geometry))
    srid = int(shapely.get_srid(geometry))
    if srid not in (0, GEOJSON_SRID):
        data = json.loads(text)
        data["crs"] = {"type": "name", "properties": {"name": f"EPSG:{srid}"}}
        text = json.dumps(data, separators=(",", ":"))
    return text


class GeoJSON(str):
    """Geometry as GeoJSON text, validated against a column's declaration.

    Use :func:`geojson_type` for a column-specific subclass; this base class
    accepts any geometry in EPSG:4326.
    """

    spec: ClassVar[GeometrySpec] = GeometrySpec()
    #: More schema keys (display hints such as ``x-editor``, set by
    #: :func:`pgext.editors.map_editor` on a per-column subclass).
    extra_schema: ClassVar[dict[str, Any]] = {}

    @classmethod
    def validate(cls, value: Any) -> GeoJSON:
        if isinstance(value, cls):
            return value
        geometry = to_geometry(value, cls.spec)
        return cls(geometry_text(geometry, cls.spec))

    def to_shapely(self) -> BaseGeometry:
        return to_geometry(str(self), self.spec)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                str, return_schema=core_schema.str_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**widget_schema(cls.spec), **cls.extra_schema}


def widget_schema(spec: GeometrySpec) -> dict[str, Any]:
    """The JSON schema of a spatial field (shape documented in the module)."""
    return {
        "type": "string",
        "format": "ewkt" if spec.dimension.endswith("M") else "geojson",
        "x-widget": WIDGET,
        "x-geometry-type": spec.geometry_type,
        "x-srid": spec.srid,
        "x-dimension": spec.dimension,
        "x-geography": spec.geography,
    }


_TYPES: dict[GeometrySpec, type[GeoJSON]] = {}


def geojson_type(spec: GeometrySpec) -> type[GeoJSON]:
    """The :class:`GeoJSON` subclass for columns declared as ``spec`` (one
    class per distinct declaration, so pydantic's schema cache stays small)."""
    existing = _TYPES.get(spec)
    if existing is None:
        name = f"GeoJSON{spec.geometry_type}{spec.srid}{spec.dimension}"
        if spec.geography:
            name += "Geography"
        existing = type(name, (GeoJSON,), {"spec": spec, "__slots__": ()})
        _TYPES[spec] = existing
    return existing
