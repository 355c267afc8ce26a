"""Errors raised while building spatial queries, before any SQL runs.

Value errors about a geometry itself (unreadable, wrong SRID) are the column
engineer's :mod:`pgext.postgis.errors`; these are about the query.
"""

from __future__ import annotations

from pgext.errors import InvalidValue


class SpatialQueryError(InvalidValue):
    """A spatial query cannot be built as asked."""


class UnsupportedOperation(SpatialQueryError):
    """The operation does not exist for this column kind (e.g. ``touches`` on
    a geography column: PostGIS defines it for geometry only)."""


class InvalidRelatePattern(SpatialQueryError):
    """A DE-9IM pattern that is not nine characters of ``T F * 0 1 2``."""


class UnknownSRIDUnits(SpatialQueryError):
    """A distance with units was used on a geometry column whose SRID's unit
    pgext does not know yet; ``await load_srid_units(engine)`` or
    ``register_srid_units(srid, ...)`` first."""


class InvalidTile(SpatialQueryError):
    """Tile coordinates outside the z/x/y grid."""
