"""PostGIS for Piccolo: ``Geometry``/``Geography`` columns, binary EWKB
codecs, value validation, bulk COPY, migrations and pydantic types.

Importing this package registers the ``geometry``/``geography`` codecs with
:mod:`pgext.codecs` (so every :class:`~pgext.engine.PgextEngine` connection
speaks binary EWKB), the result hook that decodes results to shapely in bulk,
the per-column value hooks and the migration hook of :mod:`pgext.seam`.
"""

from pgext import seam
from pgext.postgis import codec as _codec
from pgext.postgis.columns import Geography, Geometry, SpatialColumn
from pgext.postgis.copy import copy_columns, copy_rows
from pgext.postgis.errors import (
    CoordinateOutOfRange,
    DimensionMismatch,
    GeometryParseError,
    GeometryTypeMismatch,
    InvalidGeometry,
    SRIDMismatch,
)
from pgext.postgis.migrations import alter_spatial_column as _alter_spatial_column
from pgext.postgis.pydantic import GeoJSON, geojson_type
from pgext.postgis.values import GeometrySpec, parse_geometry, to_geometry

_codec.install()
seam.install_column_value_hooks()
seam.install_alter_column_hook(_alter_spatial_column)

__all__ = [
    "CoordinateOutOfRange",
    "DimensionMismatch",
    "GeoJSON",
    "Geography",
    "Geometry",
    "GeometryParseError",
    "GeometrySpec",
    "GeometryTypeMismatch",
    "InvalidGeometry",
    "SRIDMismatch",
    "SpatialColumn",
    "copy_columns",
    "copy_rows",
    "geojson_type",
    "parse_geometry",
    "to_geometry",
]
