"""Spatial query methods mixed into pgext's geometry and geography columns.

``class Geometry(SpatialQueries, Column)`` gives every spatial column:

* predicates returning where-clauses (usable in select, count, objects,
  update and delete, across joins, combinable with ``&`` and ``|``):
  ``intersects``, ``contains``, ``contains_properly``, ``within``,
  ``covers``, ``covered_by``, ``touches``, ``crosses``, ``disjoint``,
  ``overlaps``, ``equals``, ``relate(other, pattern)``, and the bounding-box
  operators ``bbox_overlaps`` (``&&``), ``bbox_contains`` (``~``) and
  ``bbox_within`` (``@``);
* distance filters with units: ``dwithin(other, D(km=5))`` and
  ``distance_lt/lte/gt/gte``, all built on ``ST_DWithin`` so a spatial index
  can serve them (see :mod:`pgext.postgis.sql` for the unit strategy);
* ``knn(other)``: the ``<->`` distance for ``order_by`` (nearest first);
  :func:`order_by_knn` for a joined table's column;
* function shortcuts from :mod:`pgext.postgis.functions`:
  ``Shop.location.distance(p)``, ``Park.shape.area()`` ...

``other`` may be a spatial column (same SRID and kind), a spatial expression
(e.g. ``functions.transform(...)``), or a geometry value: shapely, GeoJSON,
WKT/EWKT or WKB.  A value without SRID takes the column's; a value with
another SRID is refused (:class:`~pgext.postgis.errors.SRIDMismatch`) before
any SQL runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from piccolo.columns import Column
from piccolo.querystring import QueryString

from pgext.postgis import functions
from pgext.postgis.measure import Distance
from pgext.postgis.nearest import KnnOrder, knn_order, order_by_knn
from pgext.postgis.operands import SpatialWhere, operand, require_spatial, typed
from pgext.postgis.query_errors import InvalidRelatePattern, SpatialQueryError
from pgext.postgis.spatial_info import SpatialInfo
from pgext.postgis.sql import (
    BOX_KNN,
    DISTANCE_FILTERS,
    PREDICATES,
    distance_strategy,
    render,
)

if TYPE_CHECKING:
    from pgext.postgis.functions import SpatialFunction

# KnnOrder and order_by_knn live in pgext.postgis.nearest; this module has
# always been where users import them from.
__all__ = ["KnnOrder", "SpatialQueries", "order_by_knn"]

_DE9IM = re.compile(r"^[TF*012]{9}$")


class SpatialQueries:
    """Query methods of a spatial column (see the module docstring).

    The column class provides ``srid: int`` and ``is_geography: bool``.
    """

    __slots__ = ()

    def _spatial(self) -> SpatialInfo:
        return require_spatial(self)

    def _column(self) -> Column:
        if not isinstance(self, Column):  # pragma: no cover - mixin misuse
            raise SpatialQueryError("SpatialQueries must be mixed into a Column")
        return self

    def _predicate(self, name: str, other: Any, **extra: Any) -> SpatialWhere:
        info = self._spatial()
        PREDICATES[name].check(name, info.is_geography)
        template, args = render(
            PREDICATES[name].template,
            a=self._column(),
            b=operand(other, info),
            **extra,
        )
        return SpatialWhere.of(template, args)

    # -- spatial relationships ------------------------------------------------------

    def intersects(self, other: Any) -> SpatialWhere:
        """``ST_Intersects``: the geometries share any point."""
        return self._predicate("intersects", other)

    def contains(self, other: Any) -> SpatialWhere:
        """``ST_Contains``: ``other`` lies inside, not only on the boundary."""
        return self._predicate("contains", other)

    def contains_properly(self, other: Any) -> SpatialWhere:
        """``ST_ContainsProperly``: ``other`` lies in the interior."""
        return self._predicate("contains_properly", other)

    def within(self, other: Any) -> SpatialWhere:
        """``ST_Within``: this lies inside ``other``."""
        return self._predicate("within", other)

    def covers(self, other: Any) -> SpatialWhere:
        """``ST_Covers``: no point of ``other`` lies outside."""
        return self._predicate("covers", other)

    def covered_by(self, other: Any) -> SpatialWhere:
        """``ST_CoveredBy``: no point of this lies outside ``other``."""
        return self._predicate("covered_by", other)

    def touches(self, other: Any) -> SpatialWhere:
        """``ST_Touches``: boundaries meet, interiors do not."""
        return self._predicate("touches", other)

    def crosses(self, other: Any) -> SpatialWhere:
        """``ST_Crosses``."""
        return self._predicate("crosses", other)

    def disjoint(self, other: Any) -> SpatialWhere:
        """``ST_Disjoint``: no shared point (cannot use an index)."""
        return self._predicate("disjoint", other)

    def overlaps(self, other: Any) -> SpatialWhere:
        """``ST_Overlaps``: same dimension, sharing some but not all."""
        return self._predicate("overlaps", other)

    def equals(self, other: Any) -> SpatialWhere:
        """``ST_Equals``: the same point set (vertex order may differ)."""
        return self._predicate("equals", other)

    def relate(self, other: Any, pattern: str) -> SpatialWhere:
        """``ST_Relate`` against a DE-9IM pattern such as ``"T*T***FF*"``."""
        if not isinstance(pattern, str) or not _DE9IM.match(pattern.upper()):
            raise InvalidRelatePattern(
                f"a DE-9IM pattern is 9 characters of T, F, *, 0, 1, 2; got {pattern!r}"
            )
        return self._predicate("relate", other, p=pattern.upper())

    def bbox_overlaps(self, other: Any) -> SpatialWhere:
        """``&&``: the bounding boxes overlap (index only, no exact test)."""
        return self._predicate("bbox_overlaps", other)

    def bbox_contains(self, other: Any) -> SpatialWhere:
        """``~``: this bounding box contains ``other``'s."""
        return self._predicate("bbox_contains", other)

    def bbox_within(self, other: Any) -> SpatialWhere:
        """``@``: this bounding box lies within ``other``'s."""
        return self._predicate("bbox_within", other)

    # -- distance filters -------------------------------------------------------------

    def _distance_filter(
        self, name: str, other: Any, distance: Distance | float
    ) -> SpatialWhere:
        info = self._spatial()
        strategy = distance_strategy(info)
        size = strategy.distance(distance)
        if size < 0:
            raise SpatialQueryError(f"{name}: the distance must not be negative")
        template, args = render(
            DISTANCE_FILTERS[name].template,
            a=typed(self._column(), strategy.cast),
            b=operand(other, info, cast=strategy.cast),
            d=QueryString("{}::float8", size),
        )
        return SpatialWhere.of(template, args)

    def dwithin(self, other: Any, distance: Distance | float) -> SpatialWhere:
        """Within ``distance`` (inclusive) of ``other``: ``ST_DWithin``."""
        return self._distance_filter("dwithin", other, distance)

    def distance_lte(self, other: Any, distance: Distance | float) -> SpatialWhere:
        """Same as :meth:`dwithin`."""
        return self._distance_filter("distance_lte", other, distance)

    def distance_lt(self, other: Any, distance: Distance | float) -> SpatialWhere:
        """Strictly nearer than ``distance``."""
        return self._distance_filter("distance_lt", other, distance)

    def distance_gt(self, other: Any, distance: Distance | float) -> SpatialWhere:
        """Farther than ``distance``: ``NOT ST_DWithin``."""
        return self._distance_filter("distance_gt", other, distance)

    def distance_gte(self, other: Any, distance: Distance | float) -> SpatialWhere:
        """At least ``distance`` away."""
        return self._distance_filter("distance_gte", other, distance)

    # -- ordering ---------------------------------------------------------------------

    def knn(self, other: Any) -> KnnOrder:
        """Nearest first, for ``order_by``; with a ``limit`` the rows come
        from the spatial index.

        Projected geometry orders by planar distance (``<->``).  Geography
        and lon/lat geometry order by the exact geodesic distance, the one
        ``distance()`` returns (see :mod:`pgext.postgis.nearest`)."""
        info = self._spatial()
        # SRID 0 has no unit at all: planar is all it can mean.
        geographic = not info.is_geography and info.srid != 0
        cast = distance_strategy(info).cast if geographic else None
        return knn_order(self._column(), info, other, cast)

    def box_knn(self, other: Any) -> KnnOrder:
        """``self <#> other``: distance between bounding boxes (geometry)."""
        info = self._spatial()
        BOX_KNN.check("box_knn", info.is_geography)
        template, args = render(
            BOX_KNN.template, a=self._column(), b=operand(other, info)
        )
        return KnnOrder(template, *args)

    # -- function shortcuts (see pgext.postgis.functions) -----------------------------

    def distance(self, other: Any, alias: str | None = None) -> SpatialFunction:
        """Distance to ``other`` in metres."""
        return functions.call("distance", self, other, alias=alias)

    def area(self, alias: str | None = None) -> SpatialFunction:
        """Area in square metres."""
        return functions.call("area", self, alias=alias)

    def length(self, alias: str | None = None) -> SpatialFunction:
        """Length in metres."""
        return functions.call("length", self, alias=alias)

    def perimeter(self, alias: str | None = None) -> SpatialFunction:
        """Perimeter in metres."""
        return functions.call("perimeter", self, alias=alias)

    def transform(self, srid: int, alias: str | None = None) -> SpatialFunction:
        return functions.call("transform", self, srid, alias=alias)

    def buffer(
        self, distance: Distance | float, alias: str | None = None
    ) -> SpatialFunction:
        return functions.call("buffer", self, distance, alias=alias)

    def centroid(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("centroid", self, alias=alias)

    def envelope(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("envelope", self, alias=alias)

    def simplify(self, tolerance: float, alias: str | None = None) -> SpatialFunction:
        return functions.call("simplify", self, tolerance, alias=alias)

    def make_valid(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("make_valid", self, alias=alias)

    def x(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("x", self, alias=alias)

    def y(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("y", self, alias=alias)

    def z(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("z", self, alias=alias)

    def as_geojson(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("as_geojson", self, alias=alias)

    def as_text(self, alias: str | None = None) -> SpatialFunction:
        return functions.call("as_text", self, alias=alias)

    def geohash(
        self, precision: int | None = None, alias: str | None = None
    ) -> SpatialFunction:
        args = (self,) if precision is None else (self, precision)
        return functions.call("geohash", *args, alias=alias)
