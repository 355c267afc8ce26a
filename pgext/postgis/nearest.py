"""Nearest first: ``order_by(column.knn(here)).limit(k)``.

Projected geometry orders by ``<->``, the planar distance in the SRID's unit,
straight from the GiST index.

Geographic columns -- ``Geography`` and ``Geometry`` with a lon/lat SRID --
follow pgext's one rule for them: every distance is the geodesic distance on
the spheroid, in metres, exactly what ``distance()`` returns and
``dwithin()`` compares.  ``<->`` on geography measures on a sphere, which
differs from the spheroid by up to about 0.5 %, so ordering by it alone can
swap rows whose distances are close.  So ``knn()`` orders by the exact
``ST_Distance(...::geography, ...)``, and when the query has a ``limit`` the
query is rewritten to stay on the index (:func:`rewrite_nearest`):

1. candidates: the ``limit + offset`` rows nearest by ``<->`` (an index KNN
   scan, same filters and joins as the query);
2. ``R``: the largest exact distance among them.  The true ``k`` nearest
   rows are all within ``R`` (those ``k`` candidates are), so
3. the query itself gets ``ST_DWithin(column::geography, here, R)`` (an index
   range scan) and sorts what it finds by the exact distance.

The result is exactly the first ``k`` rows of ``ORDER BY ST_Distance``, in
two index scans.  Rows whose column is NULL have no distance and are left out
of a limited knn query (unlimited, they sort last).  Lon/lat geometry columns
get the ``::geography`` expression index this needs from pgext (see
:mod:`pgext.postgis.indexes`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from piccolo.querystring import QueryString

from pgext import seam
from pgext.postgis.operands import SpatialWhere, operand, typed
from pgext.postgis.spatial_info import SpatialInfo
from pgext.postgis.sql import DISTANCE, DISTANCE_FILTERS, KNN, render

Q = TypeVar("Q")

# Farther than any two points on Earth (half the meridian is ~20,004 km):
# the radius when fewer than k candidate rows have a distance at all.
_EVERYWHERE_M = 1e8
# DWithin and ST_Distance reach the same number by different code paths; a
# hair of slack keeps the farthest candidate inside (extra rows only cost a
# comparison, the exact sort and the limit drop them).
_SLACK_RELATIVE = 1e-7
_SLACK_M = 1e-3
_CANDIDATE = "pgext_knn_d"


class KnnOrder(QueryString):
    """A nearest-first ``order_by`` expression.

    For geographic columns it renders the exact geodesic distance and keeps
    what :func:`rewrite_nearest` needs: the index-ordered candidate
    expression (``<->``) and the column and operand for ``ST_DWithin``.
    """

    candidate: QueryString | None = None
    within: tuple[Any, Any] | None = None


def knn_order(column: Any, info: SpatialInfo, other: Any, cast: str | None) -> KnnOrder:
    """``column.knn(other)``; ``cast`` is ``"geography"`` for lon/lat
    geometry, ``None`` otherwise (see :func:`pgext.postgis.sql.distance_strategy`)."""
    geodesic = info.is_geography or cast == "geography"
    a = typed(column, cast)
    b = operand(other, info, cast=cast)
    if not geodesic:
        template, args = render(KNN.template, a=a, b=b)
        return KnnOrder(template, *args)
    template, args = render(DISTANCE.template, a=a, b=b)
    order = KnnOrder(template, *args)
    knn_template, knn_args = render(KNN.template, a=a, b=b)
    order.candidate = QueryString(knn_template, *knn_args)
    order.within = (a, b)
    return order


def order_by_knn(query: Q, expression: QueryString, *, ascending: bool = True) -> Q:
    """``query.order_by(expression)``, plus what makes Piccolo join the
    tables of the columns inside it.

    The joined columns are appended to the same ``ORDER BY`` item as
    tie-breakers: Piccolo then emits their ``LEFT JOIN``, and rows at equal
    distance merely get a stable order.
    """
    joined = [c for c in expression.columns if seam.column_call_chain(c)]
    unique = list({id(c): c for c in joined}.values())
    result: Q = query.order_by(expression, *unique, ascending=ascending)  # type: ignore[attr-defined]
    return result


def rewrite_nearest(select: Any) -> Any:
    """Select hook (installed by :mod:`pgext.postgis`): the query with the
    index-served radius filter described in the module docstring, or
    ``None`` when the query is not a limited, ascending geodesic knn."""
    if not isinstance(seam.select_leading_order(select), KnnOrder):
        return None  # every other select: one look, nothing built
    parts = seam.select_parts(select)
    if parts.limit is None or not parts.order_by or not parts.plain:
        return None
    expressions, ascending = parts.order_by[0]
    order = expressions[0]
    if (
        not ascending
        or not isinstance(order, KnnOrder)
        or order.candidate is None
        or order.within is None
    ):
        return None
    wanted = parts.limit + (parts.offset or 0)
    distance = QueryString(order.template, *order.args, alias=_CANDIDATE)
    candidates = seam.derived_select(
        select, columns=[distance], order_by=order.candidate, limit=wanted
    )
    radius = QueryString(
        f'(SELECT CASE WHEN count(s."{_CANDIDATE}") < {{}}::int8 THEN {{}}::float8 '
        f'ELSE max(s."{_CANDIDATE}") * {{}}::float8 + {{}}::float8 END '
        "FROM ({}) AS s)",
        wanted,
        _EVERYWHERE_M,
        1.0 + _SLACK_RELATIVE,
        _SLACK_M,
        seam.select_querystring(candidates),
    )
    a, b = order.within
    template, args = render(DISTANCE_FILTERS["dwithin"].template, a=a, b=b, d=radius)
    return seam.derived_select(select, where=SpatialWhere.of(template, args))
