"""PostGIS functions for Piccolo queries, kept as a catalogue of data.

Each :class:`Spec` line names the Python callable, the SQL function, its
argument kinds, its return type, how it treats geography, and its manual
page; the callables are generated from it, so adding a function is one line
in :data:`CATALOGUE`.  Every callable returns a :class:`SpatialFunction` (a
Piccolo ``QueryString``), usable in ``select`` (with an alias: default the
function's name), ``where`` (compare it: ``area(Park.shape) > 1e4`` gives a
where-clause that keeps joins), ``order_by`` and ``group_by``::

    from pgext.postgis import functions as F

    await Shop.select(Shop.name, F.distance(Shop.location, here))
    await Park.select().where(F.area(Park.shape) > 10_000)

Argument kinds: ``geom`` (a spatial column, a spatial expression or a
geometry value), ``int``, ``float``, ``text``, ``distance`` (a
:class:`~pgext.postgis.measure.Distance` or a number, converted to the
column's unit as :mod:`pgext.postgis.sql` describes); a trailing ``?`` makes
an argument optional.  Values are bind parameters with typed placeholders.

Measurements (``measure`` 1 for lengths, 2 for areas) are returned in
**metres / square metres** whatever the column: geography measures in metres
already, lon/lat geometry is measured through a ``::geography`` cast, and
projected geometry is scaled from its SRID's unit.

Grouping by an expression that has bind parameters (``geohash(col, 5)``,
``transform(col, 3857)``) fails in Postgres, because the SELECT and the GROUP
BY copies get different parameter numbers; group (and order) by the output
column instead: ``.group_by(expr.by_alias())``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from piccolo.querystring import QueryString

from pgext import seam
from pgext.identifiers import quote_ident
from pgext.postgis.errors import SRIDMismatch
from pgext.postgis.measure import Area, Distance, InvalidUnit
from pgext.postgis.operands import (
    SpatialWhere,
    check_same_query,
    geometry_value,
    root_table,
    safe_alias,
    spatial_info,
    typed,
)
from pgext.postgis.query_errors import SpatialQueryError
from pgext.postgis.spatial_info import SpatialInfo
from pgext.postgis.sql import DOCS, DistanceStrategy, distance_strategy

GeographyMode = Literal["native", "cast", "metric"]


@dataclass(frozen=True)
class Spec:
    """One PostGIS function.

    :param geography: ``native`` - PostGIS has a geography overload;
        ``cast`` - geography operands are cast to geometry first; ``metric``
        - native for geography, and lon/lat geometry goes through
        ``::geography`` so distances are metres.
    :param measure: 1 or 2 if the result is a length or an area (returned in
        metres / square metres), else 0.
    """

    name: str
    sql: str
    args: tuple[str, ...]
    returns: str
    doc: str
    geography: GeographyMode = "native"
    measure: int = 0
    aggregate: bool = False

    @property
    def url(self) -> str:
        return DOCS + self.doc

    @property
    def required(self) -> int:
        return sum(1 for a in self.args if not a.endswith("?"))


def _s(
    name: str,
    sql: str,
    args: str,
    returns: str,
    geography: GeographyMode = "native",
    measure: int = 0,
    aggregate: bool = False,
) -> Spec:
    return Spec(
        name, sql, tuple(args.split()), returns, f"{sql}.html", geography, measure,
        aggregate,
    )  # fmt: skip


# fmt: off
CATALOGUE: tuple[Spec, ...] = (
    # measurement (metres / square metres)
    _s("distance", "ST_Distance", "geom geom", "float8", "metric", 1),
    _s("area", "ST_Area", "geom", "float8", "metric", 2),
    _s("length", "ST_Length", "geom", "float8", "metric", 1),
    _s("perimeter", "ST_Perimeter", "geom", "float8", "metric", 1),
    _s("max_distance", "ST_MaxDistance", "geom geom", "float8", "cast"),
    _s("azimuth", "ST_Azimuth", "geom geom", "float8"),
    # constructions
    _s("buffer", "ST_Buffer", "geom distance", "geometry", "metric"),
    _s("centroid", "ST_Centroid", "geom", "geometry"),
    _s("point_on_surface", "ST_PointOnSurface", "geom", "geometry", "cast"),
    _s("envelope", "ST_Envelope", "geom", "geometry", "cast"),
    _s("convex_hull", "ST_ConvexHull", "geom", "geometry", "cast"),
    _s("simplify", "ST_Simplify", "geom float", "geometry", "cast"),
    _s("simplify_preserve_topology", "ST_SimplifyPreserveTopology", "geom float",
       "geometry", "cast"),
    _s("make_valid", "ST_MakeValid", "geom", "geometry", "cast"),
    _s("transform", "ST_Transform", "geom int", "geometry", "cast"),
    _s("set_srid", "ST_SetSRID", "geom int", "geometry", "cast"),
    _s("snap_to_grid", "ST_SnapToGrid", "geom float", "geometry", "cast"),
    _s("intersection", "ST_Intersection", "geom geom", "geometry", "cast"),
    _s("difference", "ST_Difference", "geom geom", "geometry", "cast"),
    _s("closest_point", "ST_ClosestPoint", "geom geom", "geometry", "cast"),
    _s("force_2d", "ST_Force2D", "geom", "geometry", "cast"),
    # accessors
    _s("x", "ST_X", "geom", "float8", "cast"),
    _s("y", "ST_Y", "geom", "float8", "cast"),
    _s("z", "ST_Z", "geom", "float8", "cast"),
    _s("srid", "ST_SRID", "geom", "int4"),
    _s("geometry_type", "ST_GeometryType", "geom", "text", "cast"),
    _s("num_points", "ST_NPoints", "geom", "int4", "cast"),
    _s("is_valid", "ST_IsValid", "geom", "bool", "cast"),
    _s("is_empty", "ST_IsEmpty", "geom", "bool", "cast"),
    # output
    _s("as_geojson", "ST_AsGeoJSON", "geom int?", "text"),
    _s("as_text", "ST_AsText", "geom int?", "text"),
    _s("as_ewkt", "ST_AsEWKT", "geom", "text", "cast"),
    _s("geohash", "ST_GeoHash", "geom int?", "text", "cast"),
    # aggregates
    _s("extent", "ST_Extent", "geom", "box2d", "cast", aggregate=True),
    _s("union", "ST_Union", "geom", "geometry", "cast", aggregate=True),
    _s("collect", "ST_Collect", "geom", "geometry", "cast", aggregate=True),
)
# fmt: on

SPECS: Mapping[str, Spec] = {spec.name: spec for spec in CATALOGUE}


class SpatialFunction(QueryString):
    """A PostGIS function call as a Piccolo expression.

    ``spatial`` describes the result when it is itself a geometry of known
    SRID (so ``area(transform(col, 3857))`` still knows its unit).
    Comparisons give where-clauses (:class:`SpatialWhere`) rather than bare
    ``QueryString``\\ s, so joined columns inside keep their joins.
    """

    def __init__(
        self,
        template: str,
        *args: Any,
        alias: str | None = None,
        spatial: SpatialInfo | None = None,
        measure: int = 0,
    ) -> None:
        super().__init__(
            template, *args, alias=None if alias is None else safe_alias(alias)
        )
        check_same_query(self.columns)
        self.spatial = spatial
        self.measure = measure

    @property
    def alias(self) -> str | None:
        return self._alias

    def by_alias(self) -> QueryString:
        """A reference to this expression's output column, for ``group_by``
        and ``order_by`` of expressions with bind parameters."""
        alias = self._alias
        if not alias:
            raise SpatialQueryError("the expression has no alias to refer to")
        # GROUP BY resolves a name to an input column before an output
        # column, so an alias equal to a column name would group by the column.
        tables = {seam.column_table(c) for c in self.columns}
        tables |= {root_table(c) for c in self.columns}
        for table in tables:
            if alias in {seam.column_name(c) for c in seam.table_columns(table)}:
                raise SpatialQueryError(
                    f"alias {alias!r} is also a column of "
                    f"{seam.table_name(table)!r}; choose another alias"
                )
        return QueryString(quote_ident(alias, what="alias"))

    def _compare(self, operator: str, value: Any) -> SpatialWhere:
        # Measurements are metres / square metres, so units compare directly.
        if isinstance(value, Distance | Area):
            wanted = 1 if isinstance(value, Distance) else 2
            if self.measure != wanted:
                raise InvalidUnit(
                    f"cannot compare {type(value).__name__} with this expression; "
                    "only a length (distance, length, perimeter) compares with a "
                    "Distance and an area with an Area"
                )
            value = float(value)
        return SpatialWhere("{} " + operator + " {}", self, value)

    def __lt__(self, value: Any) -> SpatialWhere:  # type: ignore[override]
        return self._compare("<", value)

    def __le__(self, value: Any) -> SpatialWhere:  # type: ignore[override]
        return self._compare("<=", value)

    def __gt__(self, value: Any) -> SpatialWhere:  # type: ignore[override]
        return self._compare(">", value)

    def __ge__(self, value: Any) -> SpatialWhere:  # type: ignore[override]
        return self._compare(">=", value)

    def __eq__(self, value: Any) -> SpatialWhere:  # type: ignore[override]
        if value is None:
            return SpatialWhere("{} IS NULL", self)
        return self._compare("=", value)

    def __ne__(self, value: Any) -> SpatialWhere:  # type: ignore[override]
        if value is None:
            return SpatialWhere("{} IS NOT NULL", self)
        return self._compare("<>", value)


class SpatialCallable(Protocol):
    def __call__(self, *args: Any, alias: str | None = None) -> SpatialFunction: ...


def _info_of(value: Any) -> SpatialInfo | None:
    if isinstance(value, SpatialFunction):
        return value.spatial
    return spatial_info(value)


def _number(value: Any, what: str, integer: bool = False) -> float | int:
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpatialQueryError(f"{what} must be an int, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpatialQueryError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SpatialQueryError(f"{what} must be finite, got {float(value)!r}")
    return value


class _Builder:
    """Renders one call of ``spec`` (kept apart from the catalogue: the
    catalogue says what, this says how)."""

    def __init__(self, spec: Spec, args: tuple[Any, ...]) -> None:
        self.spec = spec
        self.args = args
        self.info = next((i for i in map(_info_of, args) if i is not None), None)
        self.geom_cast: str | None = None
        self.result_cast: str | None = None
        self.strategy: DistanceStrategy | None = None
        mode = spec.geography
        if self.info is not None:
            if mode == "cast" and self.info.is_geography:
                self.geom_cast = "geometry"
            if mode == "metric" and ("distance" in spec.args or spec.measure):
                self.strategy = distance_strategy(self.info)
                if self.strategy.cast:
                    self.geom_cast = self.strategy.cast
                    if spec.returns == "geometry":
                        self.result_cast = "geometry"

    def argument(self, kind: str, value: Any, position: int) -> Any:
        what = f"{self.spec.name}() argument {position + 1}"
        kind = kind.rstrip("?")
        if kind == "geom":
            other = _info_of(value)
            if (
                other is not None
                and self.info is not None
                and other.srid != self.info.srid
            ):
                raise SRIDMismatch(
                    f"{what} is SRID {other.srid} but the first spatial "
                    f"argument is SRID {self.info.srid}; transform one of them",
                    other.name,
                )
            if other is not None or isinstance(value, QueryString):
                return typed(value, self.geom_cast)
            if self.info is None:
                raise SpatialQueryError(
                    f"{what}: give a spatial column or expression somewhere in "
                    "the call, so the value's SRID and type are known"
                )
            return typed(
                geometry_value(value, self.info, self.info.sql_type), self.geom_cast
            )
        if kind == "int":
            return QueryString("{}::int4", _number(value, what, integer=True))
        if kind == "float":
            return QueryString("{}::float8", float(_number(value, what)))
        if kind == "text":
            if not isinstance(value, str):
                raise SpatialQueryError(f"{what} must be a str, got {value!r}")
            return QueryString("{}::text", value)
        if kind == "distance":
            if self.strategy is None:
                if isinstance(value, Distance):
                    raise InvalidUnit(
                        f"{what}: a Distance needs a spatial column in the call "
                        "to know the unit; pass a number in the data's unit"
                    )
                return QueryString("{}::float8", float(_number(value, what)))
            return QueryString("{}::float8", self.strategy.distance(value))
        raise AssertionError(f"unknown argument kind {kind!r}")  # pragma: no cover

    def build(self, alias: str | None) -> SpatialFunction:
        spec = self.spec
        if not spec.required <= len(self.args) <= len(spec.args):
            raise SpatialQueryError(
                f"{spec.name}() takes {spec.required}"
                + (f" to {len(spec.args)}" if len(spec.args) > spec.required else "")
                + f" arguments, got {len(self.args)} ({spec.url})"
            )
        rendered = [
            self.argument(kind, value, i)
            for i, (kind, value) in enumerate(zip(spec.args, self.args, strict=False))
        ]
        template = f"{spec.sql}(" + ", ".join("{}" for _ in rendered) + ")"
        if self.result_cast:
            template = f"{template}::{self.result_cast}"
        if spec.measure and self.strategy is not None:
            factor = self.strategy.to_metres(spec.measure)
            if factor != 1.0:
                # A constant from the SRID table, not user input: inlined so
                # the expression stays parameter-free for GROUP BY.
                template = f"({template} * {float(factor)!r})"
        return SpatialFunction(
            template,
            *rendered,
            alias=alias or spec.name,
            spatial=self.result_info(),
            measure=spec.measure if self.strategy is not None else 0,
        )

    def result_info(self) -> SpatialInfo | None:
        spec = self.spec
        if self.info is None or spec.returns not in ("geometry", "geography"):
            return None
        srid = self.info.srid
        if spec.name in ("transform", "set_srid"):
            srid = int(self.args[1])
        geography = self.info.is_geography and spec.geography == "native"
        if spec.geography == "metric":
            geography = self.info.is_geography
        return SpatialInfo(self.info.name, srid, geography)


def _make(spec: Spec) -> SpatialCallable:
    def call(*args: Any, alias: str | None = None) -> SpatialFunction:
        return _Builder(spec, args).build(alias)

    call.__name__ = call.__qualname__ = spec.name
    signature = ", ".join(spec.args)
    call.__doc__ = (
        f"``{spec.sql}({signature})`` -> {spec.returns}"
        + (" (aggregate)" if spec.aggregate else "")
        + (" in metres" + ("²" if spec.measure == 2 else "") if spec.measure else "")
        + f".  See {spec.url}"
    )
    return call


FUNCTIONS: dict[str, SpatialCallable] = {spec.name: _make(spec) for spec in CATALOGUE}
globals().update(FUNCTIONS)

__all__ = [
    "CATALOGUE",
    "FUNCTIONS",
    "SPECS",
    "Spec",
    "SpatialCallable",
    "SpatialFunction",
    "call",
    *FUNCTIONS,
]


def call(name: str, *args: Any, alias: str | None = None) -> SpatialFunction:
    """Call catalogue function ``name`` (``call("area", Park.shape)``)."""
    try:
        function = FUNCTIONS[name]
    except KeyError:
        raise SpatialQueryError(f"no spatial function {name!r}") from None
    return function(*args, alias=alias)


def __getattr__(name: str) -> SpatialCallable:
    # Only reached for names missing from globals(); tells mypy that the
    # generated catalogue callables exist.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
