"""Turning user input into shapely geometries, and checking them against a
column's declaration.

Two steps, kept apart on purpose:

* :func:`parse_geometry` knows nothing about columns.  It reads shapely
  geometries, GeoJSON (``dict`` or text; RFC 7946, so lon/lat in EPSG:4326),
  WKT, EWKT (``SRID=3857;POINT(...)``), WKB and hex (E)WKB, anything with a
  ``__geo_interface__``, and returns a shapely geometry whose SRID is the one
  the input carried (0 when it carried none).
* :func:`check_geometry` compares a geometry with a :class:`GeometrySpec` (the
  column's type, SRID, dimension and geography flag), gives SRID-less values
  the column's SRID and raises an :class:`~pgext.postgis.errors.InvalidGeometry`
  naming the column otherwise.  :func:`pgext.postgis.arrays.check_array` is
  the same for a whole numpy array at once (bulk load).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from pgext.postgis.errors import (
    CoordinateOutOfRange,
    DimensionMismatch,
    GeometryParseError,
    GeometryTypeMismatch,
    InvalidGeometry,
    NonFiniteCoordinate,
    SRIDMismatch,
)

# PostGIS subtype name -> shapely type id.  "Geometry" (any) has no id.
GEOMETRY_TYPES: Final[dict[str, int | None]] = {
    "Geometry": None,
    "Point": 0,
    "LineString": 1,
    "Polygon": 3,
    "MultiPoint": 4,
    "MultiLineString": 5,
    "MultiPolygon": 6,
    "GeometryCollection": 7,
}
_TYPE_NAMES: Final[dict[int, str]] = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
LINEARRING_ID: Final = 2
DIMENSIONS: Final[tuple[str, ...]] = ("XY", "XYZ", "XYM", "XYZM")
GEOJSON_SRID: Final = 4326

_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_EWKT = re.compile(r"^\s*SRID\s*=\s*(-?\d+)\s*;\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class GeometrySpec:
    """What a spatial column accepts."""

    geometry_type: str = "Geometry"
    srid: int = 4326
    dimension: str = "XY"
    geography: bool = False


def normalise_geometry_type(name: str) -> str:
    """``"point"``/``"POINT"`` -> ``"Point"``; raises ``ValueError`` for
    anything PostGIS would not accept as a column subtype."""
    for known in GEOMETRY_TYPES:
        if known.lower() == str(name).strip().lower():
            return known
    raise ValueError(
        f"unknown geometry type {name!r}; expected one of {sorted(GEOMETRY_TYPES)}"
    )


def dimension_of(geometry: BaseGeometry) -> str:
    z = bool(shapely.has_z(geometry))
    m = bool(shapely.has_m(geometry))
    return "XY" + ("Z" if z else "") + ("M" if m else "")


def type_name(geometry: BaseGeometry) -> str:
    return _TYPE_NAMES.get(int(shapely.get_type_id(geometry)), "unknown")


# -- parsing ------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise NonFiniteCoordinate(f"coordinates must be finite numbers, got {name}")


def _from_geojson_text(text: str) -> BaseGeometry:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except NonFiniteCoordinate:
        raise
    except ValueError as error:
        raise GeometryParseError(f"invalid GeoJSON: {error}") from None
    return _from_geojson_mapping(data)


def _from_geojson_mapping(data: Any) -> BaseGeometry:
    if not isinstance(data, Mapping):
        raise GeometryParseError("invalid GeoJSON: not an object")
    kind = data.get("type")
    # A Feature carries its geometry in a member; unwrap so API clients can
    # post either form.
    if kind == "Feature":
        return _from_geojson_mapping(data.get("geometry"))
    if kind not in GEOMETRY_TYPES or kind == "Geometry":
        raise GeometryParseError(f"invalid GeoJSON: unknown geometry type {kind!r}")
    srid = _crs_srid(data.get("crs"))
    if "crs" in data:
        data = {k: v for k, v in data.items() if k != "crs"}
    try:
        text = json.dumps(data, allow_nan=False)
    except ValueError:
        raise NonFiniteCoordinate(
            "coordinates must be finite numbers, got NaN or Infinity"
        ) from None
    except TypeError as error:
        raise GeometryParseError(f"invalid GeoJSON: {error}") from None
    try:
        geometry = shapely.from_geojson(text)
    except (shapely.errors.GEOSException, ValueError, TypeError) as error:
        raise GeometryParseError(f"invalid GeoJSON: {error}") from None
    return shapely.set_srid(geometry, srid)


_CRS_NAME = re.compile(r"^(?:urn:ogc:def:crs:)?EPSG:{1,2}(\d+)$", re.IGNORECASE)


def _crs_srid(crs: Any) -> int:
    """SRID from the pre-RFC 7946 ``crs`` member (which pgext writes for
    columns not in 4326); absent means 4326 as RFC 7946 says."""
    if crs is None:
        return GEOJSON_SRID
    name = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    match = _CRS_NAME.match(str(name)) if name is not None else None
    if match is None:
        raise GeometryParseError(f"invalid GeoJSON: unsupported crs {crs!r}")
    return int(match.group(1))


def _from_wkb(data: bytes | str) -> BaseGeometry:
    try:
        geometry = shapely.from_wkb(data)
    except (shapely.errors.GEOSException, ValueError, TypeError) as error:
        raise GeometryParseError(f"invalid WKB: {error}") from None
    if geometry is None:
        raise GeometryParseError("invalid WKB")
    return geometry


def _from_wkt(text: str, srid: int = 0) -> BaseGeometry:
    try:
        geometry = shapely.from_wkt(text)
    except (shapely.errors.GEOSException, ValueError, TypeError) as error:
        raise GeometryParseError(f"invalid WKT: {error}") from None
    if geometry is None:
        raise GeometryParseError(f"invalid WKT: {text[:60]!r}")
    return shapely.set_srid(geometry, srid) if srid else geometry


def _from_text(text: str) -> BaseGeometry:
    stripped = text.strip()
    if not stripped:
        raise GeometryParseError("empty geometry text")
    if stripped[0] == "{":
        return _from_geojson_text(stripped)
    ewkt = _EWKT.match(stripped)
    if ewkt:
        return _from_wkt(ewkt.group(2), int(ewkt.group(1)))
    if _HEX.match(stripped):
        return _from_wkb(stripped)
    return _from_wkt(stripped)


def plain(number: Any) -> str:
    """A coordinate as people write it: ``200.0``, ``nan``, not
    ``np.float64(200.0)`` (numpy 2 reprs leak into f-strings of tuples)."""
    return repr(float(number))


def check_finite(geometry: BaseGeometry) -> BaseGeometry:
    """Refuse NaN and +-Infinity in any ordinate (X, Y, Z or M).

    An empty geometry has no coordinates and passes (``POINT EMPTY`` travels
    as NaN NaN in WKB, but shapely reads that back as empty)."""
    coords = shapely.get_coordinates(
        geometry,
        include_z=bool(shapely.has_z(geometry)),
        include_m=bool(shapely.has_m(geometry)),
    )
    if coords.size and not np.isfinite(coords).all():
        _raise_non_finite(coords[~np.isfinite(coords).all(axis=1)][0])
    return geometry


def _raise_non_finite(point: NDArray[np.float64]) -> None:
    shown = ", ".join(plain(v) for v in point)
    raise NonFiniteCoordinate(
        f"coordinates must be finite numbers, got ({shown}); NaN and "
        "Infinity cannot be stored or written as GeoJSON"
    )


def parse_geometry(value: Any) -> BaseGeometry:
    """Read ``value`` as a geometry, without any column's rules.

    The result carries the SRID that the input declared: EWKT and EWKB their
    own, GeoJSON always 4326 (RFC 7946), WKT/WKB/shapely without one 0.
    Coordinates that are NaN or +-Infinity are refused
    (:class:`~pgext.postgis.errors.NonFiniteCoordinate`) whatever the form.
    """
    return check_finite(_parse(value))


def _parse(value: Any) -> BaseGeometry:
    if isinstance(value, BaseGeometry):
        return value
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _from_wkb(bytes(value))
    if isinstance(value, Mapping):
        return _from_geojson_mapping(value)
    interface = getattr(value, "__geo_interface__", None)
    if isinstance(interface, Mapping):
        # The interface is GeoJSON-shaped but promises no CRS, so no SRID.
        return shapely.set_srid(_from_geojson_mapping(interface), 0)
    raise GeometryParseError(
        f"cannot read a geometry from {type(value).__name__}; use a shapely "
        "geometry, GeoJSON (dict or text), WKT/EWKT or (hex) WKB"
    )


# -- checking -----------------------------------------------------------------------


def check_type(geometry: BaseGeometry, spec: GeometrySpec) -> BaseGeometry:
    wanted = GEOMETRY_TYPES[spec.geometry_type]
    type_id = int(shapely.get_type_id(geometry))
    if type_id == LINEARRING_ID:
        # PostGIS has no LinearRing: it is stored as the LineString it is.
        text = shapely.to_wkt(geometry, rounding_precision=-1, output_dimension=4)
        geometry = shapely.set_srid(
            shapely.from_wkt("LINESTRING" + text[len("LINEARRING") :]),
            shapely.get_srid(geometry),
        )
        type_id = GEOMETRY_TYPES["LineString"] or 1
    if wanted is not None and type_id != wanted:
        raise GeometryTypeMismatch(
            f"a {_TYPE_NAMES.get(type_id, 'unknown')} cannot be stored in a "
            f"{spec.geometry_type} column"
        )
    return geometry


def _check_range(geometry: BaseGeometry) -> None:
    if shapely.is_empty(geometry):
        return
    min_x, min_y, max_x, max_y = shapely.bounds(geometry)
    if not (min_x >= -180 and max_x <= 180 and min_y >= -90 and max_y <= 90):
        raise CoordinateOutOfRange(
            "geography coordinates must be longitude in [-180, 180] and latitude "
            f"in [-90, 90] (lon/lat order); got bounds ({plain(min_x)}, "
            f"{plain(min_y)}, {plain(max_x)}, {plain(max_y)})"
        )


# PostGIS refuses a geography edge whose ends are antipodal ("Antipodal (180
# degrees long) edge detected!"): the great circle through them is undefined.
# It compares the ends as unit vectors with a 1e-12 tolerance; this check uses
# a slightly wider one so nothing PostGIS refuses gets through.
_ANTIPODAL_TOLERANCE = 1e-11


def _unit_vectors(lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
    lon = np.radians(lonlat[:, 0])
    lat = np.radians(lonlat[:, 1])
    return np.column_stack(
        [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    )


def _linear_parts(geometry: BaseGeometry) -> list[BaseGeometry]:
    parts: list[BaseGeometry] = []
    for part in shapely.get_parts(geometry):
        type_id = int(shapely.get_type_id(part))
        if type_id in (4, 5, 6, 7):
            # a multi-part member of a GeometryCollection: get_parts went only
            # one level down
            parts.extend(_linear_parts(part))
        elif type_id in (1, 2):
            parts.append(part)
        elif type_id == 3:
            parts.append(shapely.get_exterior_ring(part))
            parts.extend(
                shapely.get_interior_ring(part, i)
                for i in range(int(shapely.get_num_interior_rings(part)))
            )
    return parts


def check_antipodal_edges(geometry: BaseGeometry) -> None:
    if int(shapely.get_type_id(geometry)) in (0, 4) or shapely.is_empty(geometry):
        return
    for line in _linear_parts(geometry):
        coords = shapely.get_coordinates(line)
        if len(coords) < 2:
            continue
        vectors = _unit_vectors(coords)
        sums = np.abs(vectors[:-1] + vectors[1:])
        antipodal = (sums < _ANTIPODAL_TOLERANCE).all(axis=1)
        if antipodal.any():
            index = int(np.argmax(antipodal))
            ends = [
                "(" + ", ".join(plain(v) for v in coords[i]) + ")"
                for i in (index, index + 1)
            ]
            raise CoordinateOutOfRange(
                f"geography edge between antipodal points {ends[0]} and "
                f"{ends[1]} is undefined (add a vertex between them)"
            )


def check_geometry(
    geometry: BaseGeometry, spec: GeometrySpec, column: str | None = None
) -> BaseGeometry:
    """Return ``geometry`` fit for a column declared as ``spec``.

    An SRID-less geometry gets the column's SRID; every mismatch raises an
    :class:`~pgext.postgis.errors.InvalidGeometry` naming ``column``.
    """
    try:
        check_finite(geometry)
        geometry = check_type(geometry, spec)
        srid = int(shapely.get_srid(geometry))
        if srid == 0:
            geometry = shapely.set_srid(geometry, spec.srid)
        elif srid != spec.srid:
            raise SRIDMismatch(
                f"value has SRID {srid} but the column is SRID {spec.srid}"
                + (
                    " (GeoJSON is always EPSG:4326, RFC 7946)"
                    if srid == GEOJSON_SRID
                    else ""
                )
                + "; transform it first (shapely + pyproj, or ST_Transform)"
            )
        found = dimension_of(geometry)
        if found != spec.dimension:
            raise DimensionMismatch(
                f"value is {found} but the column is {spec.dimension}"
            )
        if spec.geography:
            _check_range(geometry)
            check_antipodal_edges(geometry)
    except InvalidGeometry as error:
        if column is not None and error.column is None:
            raise error.for_column(column) from None
        raise
    return geometry


def to_geometry(
    value: Any, spec: GeometrySpec, column: str | None = None
) -> BaseGeometry:
    """Parse ``value`` and check it against ``spec`` (see the module doc)."""
    try:
        geometry = parse_geometry(value)
    except InvalidGeometry as error:
        if column is not None:
            raise error.for_column(column) from None
        raise
    return check_geometry(geometry, spec, column)


def to_geojson(geometry: BaseGeometry) -> str:
    """GeoJSON text of ``geometry`` (X, Y and Z; GeoJSON has no M)."""
    return str(shapely.to_geojson(geometry))
