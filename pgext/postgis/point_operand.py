"""The EWKB of a query point, built in one shapely call.

Nearly every ``dwithin``/``knn`` operand is a plain ``shapely.Point``.  The
general path (:func:`pgext.postgis.operands.geometry_value`) parses, checks
finiteness, sets the SRID and encodes in six shapely calls; for a point
all of that is readable from its WKB, so this path encodes once, reads the
header and the ordinates back, and gives up (``None``: the general path
decides, and words any error) on anything it does not accept as is: another
type, another SRID, a NaN or infinite ordinate (an empty point is NaN NaN),
a geography point out of lon/lat range.  The bytes travel as the bind value
itself (the codec sends ``bytes`` unchanged).
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, Any

import shapely

if TYPE_CHECKING:
    from pgext.postgis.operands import SpatialInfo

_HEADER = struct.Struct("<BI")
_SRID = struct.Struct("<I")
_FLAG_Z = 0x80000000
_FLAG_M = 0x40000000
_FLAG_SRID = 0x20000000
_POINT = 1
_LITTLE_ENDIAN = 1


def point_ewkb(value: Any, owner: SpatialInfo) -> bytes | None:
    """EWKB of ``value`` in ``owner``'s SRID if it is a finite point the
    column accepts without a word, else ``None``."""
    if type(value) is not shapely.Point:
        return None
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
        body = data[offset:]
    else:
        body = data[offset:]
        data = (
            _HEADER.pack(_LITTLE_ENDIAN, flags | _FLAG_SRID)
            + _SRID.pack(owner.srid)
            + body
        )
    count = 2 + bool(flags & _FLAG_Z) + bool(flags & _FLAG_M)
    ordinates = struct.unpack(f"<{count}d", body)
    if not all(map(math.isfinite, ordinates)):
        return None
    if owner.is_geography and not (
        -180 <= ordinates[0] <= 180 and -90 <= ordinates[1] <= 90
    ):
        return None
    return data
