"""PostGIS for Piccolo: ``Geometry``/``Geography`` columns, binary EWKB
codecs, value validation, bulk COPY, migrations and pydantic types.

Importing this package registers the ``geometry``/``geography`` codecs with
:mod:`pgext.codecs` (so every :class:`~pgext.engine.PgextEngine` connection
speaks binary EWKB), the result hook that decodes results to shapely in bulk,
the per-column value hooks, the insert hook that encodes an INSERT's
geometries in bulk, the migration hook, the nearest-first query rewrite and
the ``::geography`` index DDL hook of :mod:`pgext.seam`.
"""

from pgext import seam
from pgext.postgis import codec as _codec
from pgext.postgis import functions
from pgext.postgis.columns import Geography, Geometry, SpatialColumn
from pgext.postgis.copy import copy_columns, copy_rows
from pgext.postgis.errors import (
    CoordinateOutOfRange,
    DimensionMismatch,
    GeometryParseError,
    GeometryTypeMismatch,
    InvalidGeometry,
    NonFiniteCoordinate,
    SRIDMismatch,
)
from pgext.postgis.geojson import feature_collection, feature_collection_query
from pgext.postgis.indexes import geography_index_ddl as _geography_index_ddl
from pgext.postgis.insert_batch import MIN_BATCH as _MIN_BATCH
from pgext.postgis.insert_batch import prepare_insert as _prepare_insert
from pgext.postgis.measure import Area, D, Distance, InvalidUnit
from pgext.postgis.migrations import SpatialMigrationError
from pgext.postgis.migrations import alter_spatial_column as _alter_spatial_column
from pgext.postgis.nearest import KnnOrder as _KnnOrder
from pgext.postgis.nearest import rewrite_nearest as _rewrite_nearest
from pgext.postgis.prepared import GeometryParam, PreparedSelect, prepare
from pgext.postgis.pydantic import GeoJSON, geojson_type
from pgext.postgis.queries import order_by_knn
from pgext.postgis.query_errors import (
    InvalidRelatePattern,
    InvalidTile,
    SpatialQueryError,
    UnknownSRIDUnits,
    UnsupportedOperation,
)
from pgext.postgis.sql import load_srid_units, register_srid_units
from pgext.postgis.tiles import vector_tile, vector_tile_query
from pgext.postgis.values import GeometrySpec, parse_geometry, to_geometry

_codec.install()
seam.install_column_value_hooks()
seam.install_insert_hook(_prepare_insert, min_rows=_MIN_BATCH)
seam.install_alter_column_hook(_alter_spatial_column)
seam.install_select_rewrite(_rewrite_nearest, ordered_by=_KnnOrder)
seam.install_create_index_hook(_geography_index_ddl)

__all__ = [
    "Area",
    "CoordinateOutOfRange",
    "D",
    "DimensionMismatch",
    "Distance",
    "GeoJSON",
    "Geography",
    "Geometry",
    "GeometryParam",
    "GeometryParseError",
    "GeometrySpec",
    "GeometryTypeMismatch",
    "InvalidGeometry",
    "InvalidRelatePattern",
    "InvalidTile",
    "InvalidUnit",
    "NonFiniteCoordinate",
    "PreparedSelect",
    "SRIDMismatch",
    "SpatialColumn",
    "SpatialMigrationError",
    "SpatialQueryError",
    "UnknownSRIDUnits",
    "UnsupportedOperation",
    "copy_columns",
    "copy_rows",
    "feature_collection",
    "feature_collection_query",
    "functions",
    "geojson_type",
    "load_srid_units",
    "order_by_knn",
    "parse_geometry",
    "prepare",
    "register_srid_units",
    "to_geometry",
    "vector_tile",
    "vector_tile_query",
]
