"""``Geometry`` and ``Geography`` columns.

What a column accepts is declared by four plain parameters, all passed on to
Piccolo's ``Column.__init__`` so they land in ``_meta.params`` and therefore in
migrations:

* ``geometry_type``: ``"Point"``, ``"LineString"``, ``"Polygon"``,
  ``"MultiPoint"``, ``"MultiLineString"``, ``"MultiPolygon"``,
  ``"GeometryCollection"`` or ``"Geometry"`` (any);
* ``srid`` (default 4326);
* ``dimension``: ``"XY"``, ``"XYZ"``, ``"XYM"`` or ``"XYZM"``;
* ``spatial_index`` (default ``True``): a GiST index, through Piccolo's own
  ``index=True, index_method=IndexMethod.gist`` so migrations create it.

Values are checked against the declaration in Python before anything is sent:
on assignment (``Shop(location=...)``, ``shop.location = ...``) for anything
that is not yet a shapely geometry, and again when Piccolo binds the value of
an INSERT or UPDATE (through the hook in :mod:`pgext.seam`), so a bad value is
a :class:`~pgext.postgis.errors.InvalidGeometry` naming the column and no row
is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import shapely
from piccolo.columns.base import Column
from piccolo.columns.indexes import IndexMethod
from piccolo.querystring import QueryString
from shapely.geometry.base import BaseGeometry

from pgext import seam
from pgext.errors import InvalidValue
from pgext.postgis.pydantic import geojson_type
from pgext.postgis.queries import SpatialQueries
from pgext.postgis.values import (
    DIMENSIONS,
    GeometrySpec,
    check_geometry,
    dimension_of,
    normalise_geometry_type,
    parse_geometry,
    to_geometry,
)
from pgext.postgis.writes import encode_value, prepared_value

if TYPE_CHECKING:
    from piccolo.table import Table


def _postgis_subtype(geometry_type: str, dimension: str) -> str:
    """``("Point", "XYZM")`` -> ``"PointZM"`` (the typmod spelling)."""
    return geometry_type + dimension[2:]


class SpatialColumn(SpatialQueries, Column):
    """What ``Geometry`` and ``Geography`` share; use those two."""

    is_geography: bool = False
    sql_type: str = "geometry"

    def __init__(
        self,
        geometry_type: str = "Geometry",
        srid: int = 4326,
        dimension: str = "XY",
        spatial_index: bool = True,
        default: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            geometry_type = normalise_geometry_type(geometry_type)
        except ValueError as error:
            raise InvalidValue(str(error)) from None
        dimension = str(dimension).upper()
        if dimension not in DIMENSIONS:
            raise InvalidValue(
                f"unknown dimension {dimension!r}; expected one of {DIMENSIONS}"
            )
        if isinstance(srid, bool) or not isinstance(srid, int) or srid < 0:
            raise InvalidValue(f"srid must be a non-negative int, got {srid!r}")
        if default is not None and not isinstance(default, str):
            raise InvalidValue(
                "a spatial column's default must be WKT/EWKT/GeoJSON text or None "
                "(migrations write it with repr())"
            )
        self.geometry_type: str = geometry_type
        self.srid: int = srid
        self.dimension: str = dimension
        self.spatial_index: bool = bool(spatial_index)
        self.spec = GeometrySpec(geometry_type, srid, dimension, self.is_geography)
        if default is not None:
            # Stored as EWKT so the SQL DEFAULT carries the column's SRID
            # (an SRID-less WKT default would fail PostGIS's typmod check).
            geometry = to_geometry(default, self.spec, "default")
            text = shapely.to_wkt(geometry, rounding_precision=-1, output_dimension=4)
            default = f"SRID={self.srid};{text}"
        self.default = default
        # Per instance: create_pydantic_model reads column.value_type.
        self.value_type = geojson_type(self.spec)
        if self.spatial_index:
            kwargs["index"] = True
            kwargs["index_method"] = IndexMethod.gist
        kwargs.setdefault("null", True)
        super().__init__(
            geometry_type=geometry_type,
            srid=srid,
            dimension=dimension,
            spatial_index=spatial_index,
            default=default,
            **kwargs,
        )

    @property
    def column_type(self) -> str:
        subtype = _postgis_subtype(self.geometry_type, self.dimension)
        return f"{self.sql_type}({subtype},{self.srid})"

    def _name_for_errors(self) -> str:
        try:
            return str(self._meta.name)
        except (AttributeError, ValueError):
            return "<unbound spatial column>"

    # -- values ---------------------------------------------------------------------

    def to_geometry(self, value: Any) -> BaseGeometry | None:
        """``value`` as a shapely geometry fit for this column (SRID set), or
        ``None``; raises :class:`~pgext.postgis.errors.InvalidGeometry`."""
        if value is None:
            return None
        return to_geometry(value, self.spec, self._name_for_errors())

    def pgext_write_value(self, value: Any) -> Any:
        """Hook for INSERT/UPDATE values (see :mod:`pgext.seam`): the value
        checked and encoded as EWKB (:mod:`pgext.postgis.writes`).  Piccolo
        expressions (``QueryString``) pass through untouched."""
        if value is None or _is_sql_expression(value):
            return value
        ready = prepared_value(self, value)
        if ready is not None:  # the INSERT's batch (its engine was checked)
            return ready
        self._require_codec_engine()
        return encode_value(self, value)

    def _require_codec_engine(self) -> None:
        # Without PgextEngine's binary codec asyncpg cannot send a shapely
        # value and would fail with a bare driver error mid-query.
        from pgext.engine import PgextEngine

        engine = seam.table_engine(seam.column_table(self))
        if not isinstance(engine, PgextEngine):
            raise InvalidValue(
                f"column {self._name_for_errors()!r}: spatial columns need a "
                f"PgextEngine (binary EWKB codec), not {type(engine).__name__}"
            )

    def pgext_where_value(self, value: Any) -> Any:
        """Hook for WHERE values.  Operands of comparisons may be of any
        subtype and dimension, so only the SRID (defaulted to the column's,
        refused when different) and, for geography, the lon/lat range are
        checked.  Values that are not geometries (distances, relate
        patterns) pass through."""
        if value is None or _is_sql_expression(value):
            return value
        if isinstance(value, BaseGeometry | dict | bytes):
            geometry = parse_geometry(value)
        elif isinstance(value, str):
            try:
                geometry = parse_geometry(value)
            except InvalidValue:
                return value
        else:
            return value
        loose = GeometrySpec("Geometry", self.srid, dimension_of(geometry), False)
        checked = check_geometry(geometry, loose, self._name_for_errors())
        if self.is_geography:
            check_geometry(
                checked,
                GeometrySpec("Geometry", self.srid, dimension_of(geometry), True),
                self._name_for_errors(),
            )
        return checked

    # -- descriptor: values live in the instance __dict__, as in Piccolo ----------

    @overload
    def __get__(self, obj: Table, objtype: Any = None) -> BaseGeometry | None: ...

    @overload
    def __get__(self, obj: None, objtype: Any = None) -> SpatialColumn: ...

    def __get__(self, obj: Table | None, objtype: Any = None) -> Any:
        return obj.__dict__[self._meta.name] if obj else self

    def __set__(self, obj: Table, value: Any) -> None:
        # Shapely values are checked when they are written (the hook above);
        # text, dicts and bytes become shapely now, so the attribute reads
        # back as a geometry and bad input fails at the assignment.
        if not (
            value is None
            or isinstance(value, BaseGeometry)
            or _is_sql_expression(value)
        ):
            value = self.to_geometry(value)
        obj.__dict__[self._meta.name] = value


def _is_sql_expression(value: Any) -> bool:
    return isinstance(value, QueryString)


class Geometry(SpatialColumn):
    """A PostGIS ``geometry(<subtype>, <srid>)`` column.

    .. code-block:: python

        class Shop(Table):
            location = Geometry("Point", srid=4326)
            outline = Geometry("Polygon", srid=3857, dimension="XYZ")
    """

    is_geography = False
    sql_type = "geometry"


class Geography(SpatialColumn):
    """A PostGIS ``geography(<subtype>, <srid>)`` column: coordinates are
    longitude/latitude on the spheroid, distances in metres."""

    is_geography = True
    sql_type = "geography"
