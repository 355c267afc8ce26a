"""Operands of spatial SQL: columns, expressions and geometry values, and the
``WhereRaw`` subclass every spatial filter is built on.

A geometry value always travels as a bind parameter with a typed placeholder
(``$1::geometry`` / ``$1::geography``): PostGIS overloads most functions for
both types (and for text), so an untyped parameter next to an expression
could resolve to the wrong overload or fail to resolve at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import shapely
from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString

from pgext import seam
from pgext.identifiers import quote_ident, validate_identifier
from pgext.postgis.codec import encode_checked
from pgext.postgis.errors import InvalidGeometry, SRIDMismatch
from pgext.postgis.params import GeometryParam, ParamSlot
from pgext.postgis.point_operand import point_ewkb, point_from_numbers
from pgext.postgis.query_errors import SpatialQueryError
from pgext.postgis.spatial_info import SpatialInfo
from pgext.postgis.values import (
    GeometrySpec,
    check_geometry,
    dimension_of,
    parse_geometry,
)

if TYPE_CHECKING:
    from piccolo.table import Table


def spatial_info(column: Any) -> SpatialInfo | None:
    """The declaration of ``column`` if it is a pgext spatial column."""
    if not isinstance(column, Column):
        return None
    srid = getattr(column, "srid", None)
    geography = getattr(column, "is_geography", None)
    if not isinstance(srid, int) or not isinstance(geography, bool):
        return None
    return SpatialInfo(seam.column_name(column), srid, geography)


def require_spatial(column: Any) -> SpatialInfo:
    info = spatial_info(column)
    if info is None:
        raise SpatialQueryError(f"{column!r} is not a pgext Geometry/Geography column")
    return info


def safe_alias(alias: str) -> str:
    """``alias`` if Piccolo may write it as ``AS "alias"``: Piccolo does not
    escape aliases, so a double quote could end the identifier early."""
    validate_identifier(alias, what="alias")
    if '"' in alias:
        raise SpatialQueryError(f"an alias must not contain a double quote: {alias!r}")
    return alias


def typed(expression: Any, sql_type: str | None) -> Any:
    """``expression`` cast to ``sql_type`` (``None``: unchanged)."""
    if sql_type is None:
        return expression
    return QueryString("{}::" + sql_type, expression)


def geometry_value(value: Any, owner: SpatialInfo, sql_type: str) -> QueryString:
    """A literal operand for a predicate on ``owner``: parsed now, given the
    column's SRID when it has none, refused when it carries another SRID.
    A :class:`~pgext.postgis.params.GeometryParam` stays a slot that
    :meth:`~pgext.postgis.prepared.PreparedSelect.run` fills."""
    if isinstance(value, GeometryParam):
        return QueryString("{}::" + sql_type, ParamSlot(value, owner, sql_type))
    return QueryString("{}::" + sql_type, encode_operand(value, owner, sql_type))


def encode_operand(value: Any, owner: SpatialInfo, sql_type: str) -> Any:
    """The bind value of a geometry operand of ``owner`` (see
    :func:`geometry_value`): EWKB bytes for a plain point, else the checked
    geometry, whose EWKB the codec then finds ready."""
    ready = point_ewkb(value, owner)
    if ready is not None:
        return ready
    if isinstance(value, GeometryParam):
        raise SpatialQueryError(
            f"{value!r} is a parameter, not a geometry: give a geometry for it"
        )
    if type(value) is tuple:
        # A point as numbers the fast path did not take (NaN, numpy
        # scalars, out of range ...): a shapely point, which the checks
        # below word like any other.
        value = point_from_numbers(value, owner.name)
    try:
        geometry = parse_geometry(value)
    except InvalidGeometry as error:
        raise error.for_column(owner.name) from None
    srid = int(shapely.get_srid(geometry))
    if srid == 0:
        geometry = shapely.set_srid(geometry, owner.srid)
    elif srid != owner.srid:
        raise SRIDMismatch(
            f"the operand has SRID {srid} but the column is SRID {owner.srid}; "
            "transform the operand first (e.g. functions.transform(value, "
            f"{owner.srid}))",
            owner.name,
        )
    if owner.is_geography:
        # Refuse out-of-range lon/lat here rather than let PostGIS fail
        # (or silently wrap) inside the query.
        spec = GeometrySpec("Geometry", owner.srid, dimension_of(geometry), True)
        geometry = check_geometry(geometry, spec, owner.name)
    encode_checked(geometry)  # checked: the codec sends it without a second look
    return geometry


def operand(value: Any, owner: SpatialInfo, *, cast: str | None = None) -> Any:
    """``value`` as the second operand of an operation on ``owner``.

    A spatial column must have the owner's kind and SRID; a Piccolo
    expression (``QueryString``, e.g. a pgext function) is trusted as is; any
    other value is read as a geometry.
    """
    other = spatial_info(value)
    if other is not None:
        if other.srid != owner.srid:
            raise SRIDMismatch(
                f"column {other.name!r} is SRID {other.srid} but column "
                f"{owner.name!r} is SRID {owner.srid}; wrap one in "
                "functions.transform(...)",
                owner.name,
            )
        if other.is_geography != owner.is_geography and cast is None:
            raise SpatialQueryError(
                f"column {other.name!r} is {other.sql_type} but column "
                f"{owner.name!r} is {owner.sql_type}; cast one side"
            )
        return typed(value, cast)
    if isinstance(value, Column):
        raise SpatialQueryError(f"{value!r} is not a pgext Geometry/Geography column")
    if isinstance(value, QueryString):
        # pgext's functions know the SRID of a geometry they return.
        known = getattr(value, "spatial", None)
        if isinstance(known, SpatialInfo) and known.srid != owner.srid:
            raise SRIDMismatch(
                f"the expression's result is SRID {known.srid} but column "
                f"{owner.name!r} is SRID {owner.srid}; transform it",
                owner.name,
            )
        return typed(value, cast)
    return geometry_value(value, owner, cast or owner.sql_type)


# -- where clauses --------------------------------------------------------------------


def root_table(column: Column) -> type[Table]:
    """The table a (possibly joined) column is reached from."""
    chain = seam.column_call_chain(column)
    return seam.column_table(chain[0] if chain else column)


def check_same_query(columns: Iterable[Column]) -> None:
    """Columns of unrelated tables cannot meet in one Piccolo query."""
    roots = {root_table(c) for c in columns}
    if len(roots) > 1:
        names = ", ".join(sorted(seam.table_name(t) for t in roots))
        raise SpatialQueryError(
            f"the expression uses columns of unrelated tables ({names}); reach "
            "the other table through a ForeignKey (e.g. Store.region.boundary)"
        )


class SpatialWhere(WhereRaw):
    """A ``WhereRaw`` whose Column arguments are real columns, so Piccolo adds
    the joins they need in select/count/objects.

    For UPDATE and DELETE, which cannot join, a clause that touches a joined
    column becomes ``pk IN (SELECT pk ... JOIN ... WHERE clause)``.
    """

    __slots__ = ()

    def __init__(self, sql: str, *args: Any) -> None:
        super().__init__(sql, *args)
        check_same_query(self.querystring.columns)

    @classmethod
    def of(cls, template: str, args: Sequence[Any]) -> SpatialWhere:
        return cls(template, *args)

    @property
    def querystring_for_update_and_delete(self) -> QueryString:
        columns = list(self.querystring.columns)
        if not any(seam.column_call_chain(c) for c in columns):
            return self.querystring
        table = root_table(columns[0])
        pk = seam.primary_key(table)
        subquery = table.select(pk).where(self)
        return QueryString(
            f"{quote_ident(seam.column_name(pk))} IN ({{}})",
            subquery.querystrings[0],
        )
