"""Errors for spatial values.

Every refusal of a spatial value is an :class:`InvalidGeometry` (a
:class:`pgext.errors.InvalidValue`), raised before anything reaches the
database.  The message starts with the column when one is known, so a failed
insert of many rows says which column and what was wrong with it.
"""

from __future__ import annotations

from pgext.errors import InvalidValue


class InvalidGeometry(InvalidValue):
    """A value cannot be stored in a spatial column.

    :ivar column: the column's name, or ``None`` when the check ran without
        one (the codec, a free-standing :func:`~pgext.postgis.values.parse_geometry`).
    :ivar row: the 0-based position of the value among the rows written in
        one call (``insert`` of several rows, ``copy_rows``/``copy_columns``),
        or ``None``.
    :ivar problem: what is wrong, without the column and row prefix.
    """

    def __init__(
        self, problem: str, column: str | None = None, row: int | None = None
    ) -> None:
        self.column = column
        self.row = row
        self.problem = problem
        where = [f"column {column!r}"] if column else []
        if row is not None:
            where.append(f"row {row}")
        prefix = ", ".join(where) + ": " if where else ""
        super().__init__(prefix + problem)

    def for_column(self, column: str) -> InvalidGeometry:
        """The same error, naming ``column`` (for checks that ran before the
        column was known)."""
        return type(self)(self.problem, column, self.row)

    def for_row(self, row: int) -> InvalidGeometry:
        """The same error, naming the position of the row it came from."""
        return type(self)(self.problem, self.column, row)


class GeometryParseError(InvalidGeometry):
    """Not readable as WKT, EWKT, WKB, hex EWKB or GeoJSON."""


class GeometryTypeMismatch(InvalidGeometry):
    """A Polygon for a Point column, and the like."""


class SRIDMismatch(InvalidGeometry):
    """The value carries an SRID other than the column's."""


class DimensionMismatch(InvalidGeometry):
    """XY for an XYZ column, M for a column without M, and so on."""


class NonFiniteCoordinate(InvalidGeometry):
    """A coordinate that is NaN or +-Infinity: PostGIS would store it (NaN
    even turns a point into ``POINT EMPTY`` in WKB) and GeoJSON cannot
    carry it, so it is refused wherever a geometry enters."""


class CoordinateOutOfRange(InvalidGeometry):
    """Longitude outside [-180, 180] or latitude outside [-90, 90] for a
    geography column."""
