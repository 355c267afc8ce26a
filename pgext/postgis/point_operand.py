"""The EWKB of a query point, packed without a trip through shapely's
vectorised functions.

Nearly every ``dwithin``/``knn`` operand is a plain ``shapely.Point`` or an
``(x, y)`` pair.  The general path (:func:`pgext.postgis.operands.
geometry_value`) parses, checks finiteness, sets the SRID and encodes in six
shapely calls, each a numpy ufunc of several microseconds; for a point the
ordinates are all there is, so this path reads them (shapely 2.2's scalar
functions, else one WKB encoding read back) and packs the EWKB itself.  It
gives up (``None``: the general path decides, and words any error) on
anything it does not accept as is: another type, another SRID, an empty
point, a NaN or infinite ordinate, a geography point out of lon/lat range.
The bytes travel as the bind value itself (the codec sends ``bytes``
unchanged).
"""

from __future__ import annotations

import math
import struct
from numbers import Real
from typing import Any

import shapely
import shapely.lib

from pgext.postgis.errors import InvalidGeometry
from pgext.postgis.spatial_info import SpatialInfo

_HEADER = struct.Struct("<BI")
_SRID = struct.Struct("<I")
_HEADER_SRID = struct.Struct("<BII")
_FLAG_Z = 0x80000000
_FLAG_M = 0x40000000
_FLAG_SRID = 0x20000000
_POINT = 1
_LITTLE_ENDIAN = 1


_NUMBER_TYPES = (float, int)
# shapely 2.2 added scalar (non-ufunc) functions, ten times cheaper on one
# geometry; older shapely 2 reads the point back from its WKB.
_SCALARS = all(
    hasattr(shapely.lib, name)
    for name in (
        "is_empty_scalar",
        "get_srid_scalar",
        "has_z_scalar",
        "has_m_scalar",
        "get_x_scalar",
        "get_y_scalar",
        "get_z_scalar",
        "get_m_scalar",
    )
)


def point_ewkb(value: Any, owner: SpatialInfo) -> bytes | None:
    """EWKB of ``value`` in ``owner``'s SRID if it is a finite point (a
    ``shapely.Point`` or a pair or triple of numbers) the column accepts
    without a word, else ``None``."""
    kind = type(value)
    if kind is tuple:
        return _pack(value, 0, owner)
    if kind is not shapely.Point:
        return None
    if not _SCALARS:
        return _from_wkb(value, owner)
    lib: Any = shapely.lib
    if lib.is_empty_scalar(value):
        return None
    srid = lib.get_srid_scalar(value)
    if srid != owner.srid and srid != 0:
        return None
    ordinates: tuple[float, ...] = (lib.get_x_scalar(value), lib.get_y_scalar(value))
    flags = 0
    if lib.has_z_scalar(value):
        ordinates += (lib.get_z_scalar(value),)
        flags |= _FLAG_Z
    if lib.has_m_scalar(value):
        ordinates += (lib.get_m_scalar(value),)
        flags |= _FLAG_M
    return _pack(ordinates, flags, owner)


def _pack(ordinates: tuple[Any, ...], flags: int, owner: SpatialInfo) -> bytes | None:
    if not 2 <= len(ordinates) <= 4 or (not flags and len(ordinates) == 4):
        return None
    for ordinate in ordinates:
        # bool is an int, and a numpy scalar is neither: the general path
        # reads those (or refuses them) in its own words.
        if type(ordinate) not in _NUMBER_TYPES or not math.isfinite(ordinate):
            return None
    if not flags and len(ordinates) == 3:
        flags = _FLAG_Z
    if owner.is_geography and not (
        -180 <= ordinates[0] <= 180 and -90 <= ordinates[1] <= 90
    ):
        return None
    return _HEADER_SRID.pack(
        _LITTLE_ENDIAN, _POINT | _FLAG_SRID | flags, owner.srid
    ) + struct.pack(f"<{len(ordinates)}d", *ordinates)


def _from_wkb(value: Any, owner: SpatialInfo) -> bytes | None:
    data: bytes = shapely.to_wkb(
        value, include_srid=True, output_dimension=4, byte_order=_LITTLE_ENDIAN
    )
    order, flags = _HEADER.unpack_from(data)
    if order != _LITTLE_ENDIAN or flags & 0xFFFF != _POINT:
        return None
    offset = _HEADER.size
    if flags & _FLAG_SRID:
        (srid,) = _SRID.unpack_from(data, offset)
        if srid != owner.srid:
            return None
        offset += _SRID.size
    count = 2 + bool(flags & _FLAG_Z) + bool(flags & _FLAG_M)
    ordinates = struct.unpack_from(f"<{count}d", data, offset)
    return _pack(ordinates, flags & (_FLAG_Z | _FLAG_M), owner)


def point_from_numbers(value: tuple[Any, ...], column: str) -> shapely.Point:
    """``(x, y)`` or ``(x, y, z)`` as a shapely point, or
    :class:`~pgext.postgis.errors.InvalidGeometry` naming ``column``."""
    if len(value) in (2, 3) and all(
        isinstance(number, Real) and not isinstance(number, bool) for number in value
    ):
        return shapely.Point(*(float(number) for number in value))
    raise InvalidGeometry(
        "a point given as numbers is (x, y) or (x, y, z), got "
        f"({', '.join(map(str, value))})",
        column,
    )
