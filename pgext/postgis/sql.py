"""How spatial operations become PostGIS SQL: the one map from operation to SQL.

:mod:`pgext.postgis.queries` says *what* a user asked for (``intersects``,
``dwithin`` with a :class:`~pgext.postgis.measure.Distance`, KNN order);
this module says *how* PostGIS spells it, which operations exist for
geography, and in which unit a distance must travel for a given column.

Templates use named slots (``{a}``, ``{b}``, ``{d}`` ...); :func:`render`
turns them into Piccolo's positional ``{}`` form, repeating an operand where
a slot repeats.  Nothing here runs SQL except :func:`load_srid_units`.

Distance strategy (how ``dwithin``/``distance_*``/``distance()`` measure):

* **geography** column: PostGIS measures on the spheroid in metres; a
  :class:`Distance` is sent in metres.
* **geometry with a geographic SRID** (4326 and other lon/lat systems):
  degrees are no distance unit, so both sides are cast to ``geography`` and
  compared in metres, exactly as on a geography column.  The plain GiST
  index on the geometry column does not serve ``geom::geography``; pgext
  creates an expression index on it next to the plain one
  (:mod:`pgext.postgis.indexes`), and ``knn`` orders by the same geodesic
  distance (:mod:`pgext.postgis.nearest`).
* **projected geometry** (3857, UTM, state plane ...): distances are in the
  SRID's linear unit, so a :class:`Distance` is divided by metres-per-unit of
  that unit.  Known SRIDs are built in; others are read once from
  ``spatial_ref_sys`` by :func:`load_srid_units` (or declared with
  :func:`register_srid_units`) and cached for the process.

A plain number instead of a :class:`Distance` means metres for the first two
cases and the SRID's unit for projected geometry.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from pgext.postgis.measure import Area, Distance, InvalidUnit
from pgext.postgis.query_errors import UnknownSRIDUnits, UnsupportedOperation

if TYPE_CHECKING:
    from pgext.engine import PgextEngine

DOCS = "https://postgis.net/docs/"


class SpatialColumnLike(Protocol):
    """What the strategy needs to know about a column."""

    @property
    def srid(self) -> int: ...

    @property
    def is_geography(self) -> bool: ...


# -- operations ---------------------------------------------------------------------


@dataclass(frozen=True)
class SpatialOp:
    """One operation: its SQL template, whether geography has it, its docs."""

    template: str
    geography: bool
    doc: str

    def check(self, name: str, geography: bool) -> None:
        if geography and not self.geography:
            raise UnsupportedOperation(
                f"{name} is not defined for geography in PostGIS; use a geometry "
                f"column or cast (see {self.doc})"
            )


def _op(template: str, geography: bool, page: str) -> SpatialOp:
    return SpatialOp(template, geography, DOCS + page)


# Spatial relationships; ``a`` is the column, ``b`` the other operand.
PREDICATES: Mapping[str, SpatialOp] = {
    "intersects": _op("ST_Intersects({a}, {b})", True, "ST_Intersects.html"),
    "contains": _op("ST_Contains({a}, {b})", False, "ST_Contains.html"),
    "contains_properly": _op(
        "ST_ContainsProperly({a}, {b})", False, "ST_ContainsProperly.html"
    ),
    "within": _op("ST_Within({a}, {b})", False, "ST_Within.html"),
    "covers": _op("ST_Covers({a}, {b})", True, "ST_Covers.html"),
    "covered_by": _op("ST_CoveredBy({a}, {b})", True, "ST_CoveredBy.html"),
    "touches": _op("ST_Touches({a}, {b})", False, "ST_Touches.html"),
    "crosses": _op("ST_Crosses({a}, {b})", False, "ST_Crosses.html"),
    "disjoint": _op("ST_Disjoint({a}, {b})", False, "ST_Disjoint.html"),
    "overlaps": _op("ST_Overlaps({a}, {b})", False, "ST_Overlaps.html"),
    "equals": _op("ST_Equals({a}, {b})", False, "ST_Equals.html"),
    # The pattern is a bind parameter; the cast picks the 3-argument
    # ST_Relate(geometry, geometry, text) over the boundary-rule overload.
    "relate": _op("ST_Relate({a}, {b}, {p}::text)", False, "ST_Relate.html"),
    # Bounding-box operators: index-only, no exact geometry test.
    "bbox_overlaps": _op("{a} && {b}", True, "geometry_overlaps.html"),
    "bbox_contains": _op("{a} ~ {b}", False, "ST_Geometry_Contain.html"),
    "bbox_within": _op("{a} @ {b}", False, "ST_Geometry_Contained.html"),
}

# Distance filters.  ST_DWithin expands to an index condition plus an exact
# test, so every filter keeps it as its first (index-using) conjunct; the
# strict and negated forms refine it rather than using ST_Distance alone.
DISTANCE_FILTERS: Mapping[str, SpatialOp] = {
    "dwithin": _op("ST_DWithin({a}, {b}, {d})", True, "ST_DWithin.html"),
    "distance_lte": _op("ST_DWithin({a}, {b}, {d})", True, "ST_DWithin.html"),
    "distance_lt": _op(
        "(ST_DWithin({a}, {b}, {d}) AND ST_Distance({a}, {b}) < {d})",
        True,
        "ST_DWithin.html",
    ),
    "distance_gt": _op("NOT ST_DWithin({a}, {b}, {d})", True, "ST_DWithin.html"),
    "distance_gte": _op(
        "NOT (ST_DWithin({a}, {b}, {d}) AND ST_Distance({a}, {b}) < {d})",
        True,
        "ST_DWithin.html",
    ),
}

# KNN: with a GiST index and ORDER BY ... LIMIT, an index scan returns the
# nearest rows first.  geography's <-> is the sphere distance in metres.
KNN = _op("{a} <-> {b}", True, "geometry_distance_knn.html")
BOX_KNN = _op("{a} <#> {b}", False, "geometry_distance_box.html")
DISTANCE = _op("ST_Distance({a}, {b})", True, "ST_Distance.html")

_SLOT = re.compile(r"^[a-z]$")


def render(template: str, **operands: Any) -> tuple[str, list[Any]]:
    """Named-slot template -> Piccolo template and its argument list.

    ``render("f({a}, {b}, {a})", a=x, b=y)`` gives ``("f({}, {}, {})",
    [x, y, x])``.
    """
    text, slots = _parsed(template)
    try:
        return text, [operands[slot] for slot in slots]
    except KeyError as missing:
        raise ValueError(
            f"bad slot {missing.args[0]!r} in spatial template {template!r}"
        ) from None


@lru_cache(maxsize=256)
def _parsed(template: str) -> tuple[str, tuple[str, ...]]:
    """A template's Piccolo text and slot names, in order: parsed once per
    template (the templates are the constants above and pgext's functions)."""
    pieces: list[str] = []
    slots: list[str] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        pieces.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if spec or conversion or not _SLOT.match(field):
            raise ValueError(f"bad slot {field!r} in spatial template {template!r}")
        pieces.append("{}")
        slots.append(field)
    return "".join(pieces), tuple(slots)


# -- SRID units ---------------------------------------------------------------


@dataclass(frozen=True)
class SRIDUnits:
    """What a distance means in one SRID."""

    srid: int
    geographic: bool
    unit: str
    metres_per_unit: float


_GEOGRAPHIC_SRIDS = (4326, 4269, 4258, 4283, 4617, 4674, 4755, 4167, 4979, 4937)
_UNITS: dict[int, SRIDUnits] = {
    srid: SRIDUnits(srid, True, "degree", float("nan")) for srid in _GEOGRAPHIC_SRIDS
}
# Web Mercator, the UTM zones on WGS 84 and ETRS89, British and French grids,
# LAEA Europe: all in metres.
for _srid in (
    3857,
    900913,
    3395,
    27700,
    2154,
    3035,
    *range(32601, 32661),
    *range(32701, 32761),
    *range(25828, 25839),
):
    _UNITS[_srid] = SRIDUnits(_srid, False, "metre", 1.0)


def register_srid_units(
    srid: int, unit: str = "m", *, geographic: bool = False
) -> SRIDUnits:
    """Declare the linear unit of ``srid`` (``unit`` is a
    :class:`~pgext.postgis.measure.Distance` unit such as ``"m"``,
    ``"ft"``, ``"survey_ft"``), or that it is a lon/lat system."""
    if isinstance(srid, bool) or not isinstance(srid, int) or srid <= 0:
        raise InvalidUnit(f"an SRID must be a positive int, got {srid!r}")
    if geographic:
        info = SRIDUnits(srid, True, "degree", float("nan"))
    else:
        name = Distance.unit_name(unit)
        info = SRIDUnits(srid, False, name, Distance.unit_factor(name))
    _UNITS[srid] = info
    return info


# The linear unit of a projected CRS is the last UNIT[...] of its WKT (the
# first one belongs to the base geographic CRS).
_WKT_UNIT = re.compile(r'UNIT\["([^"]*)",\s*([0-9.eE+-]+)')


def parse_srtext(srid: int, srtext: str) -> SRIDUnits:
    """Units of ``srid`` from its ``spatial_ref_sys.srtext``."""
    text = srtext.lstrip().upper()
    if text.startswith(("GEOGCS", "GEOGCRS", "GEODCRS")):
        return SRIDUnits(srid, True, "degree", float("nan"))
    units = _WKT_UNIT.findall(srtext)
    if not text.startswith(("PROJCS", "PROJCRS")) or not units:
        raise UnknownSRIDUnits(f"SRID {srid}: no linear unit in spatial_ref_sys")
    name, factor = units[-1]
    return SRIDUnits(srid, False, name, float(factor))


async def load_srid_units(
    engine: PgextEngine, srids: Iterable[int] | None = None
) -> dict[int, SRIDUnits]:
    """Read the units of ``srids`` (default: every SRID used by a geometry
    column of the database) from ``spatial_ref_sys`` into the cache."""
    async with engine.connection() as connection:
        if srids is None:
            rows = await connection.fetch(
                "SELECT s.srid, s.srtext FROM spatial_ref_sys s "
                "WHERE s.srid IN (SELECT srid FROM geometry_columns)"
            )
        else:
            rows = await connection.fetch(
                "SELECT srid, srtext FROM spatial_ref_sys WHERE srid = ANY($1::int[])",
                list(srids),
            )
    loaded = {}
    for row in rows:
        info = parse_srtext(row["srid"], row["srtext"] or "")
        _UNITS[info.srid] = info
        loaded[info.srid] = info
    return loaded


def srid_units(srid: int) -> SRIDUnits:
    try:
        return _UNITS[srid]
    except KeyError:
        raise UnknownSRIDUnits(
            f"the unit of SRID {srid} is not known; call "
            f"`await pgext.postgis.sql.load_srid_units(engine, [{srid}])` once at "
            f"start-up or `register_srid_units({srid}, 'm')`"
        ) from None


# -- distance strategy ----------------------------------------------------------------


@dataclass(frozen=True)
class DistanceStrategy:
    """How one column measures: ``cast`` applies to both operands
    (``"geography"`` or ``None``); a distance in metres is divided by
    ``metres_per_unit`` before it is sent."""

    cast: str | None
    metres_per_unit: float
    value_type: str  # the type of a literal operand: geometry / geography
    description: str

    def distance(self, value: Distance | float | int) -> float:
        if isinstance(value, Distance):
            return value.metres / self.metres_per_unit
        if isinstance(value, Area):
            raise InvalidUnit("a distance was expected, got an Area")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidUnit(
                f"a distance must be a pgext D(...) or a number, got "
                f"{type(value).__name__}"
            )
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise InvalidUnit(f"a distance must be finite, got {number!r}")
        return number

    def to_metres(self, power: int = 1) -> float:
        """Factor from the measured unit to metres (``power`` 2 for areas)."""
        return float(self.metres_per_unit**power)


def distance_strategy(column: SpatialColumnLike) -> DistanceStrategy:
    """See the module docstring."""
    if column.is_geography:
        return _GEOGRAPHY
    srid = column.srid
    if srid == 0:
        raise UnknownSRIDUnits(
            "a geometry column without an SRID has no distance unit; give the "
            "column an SRID"
        )
    info = srid_units(srid)
    # One strategy per SRIDUnits object: a unit registered or loaded again
    # is a new object, so the cache never answers with the old one.
    cached = _STRATEGIES.get(srid)
    if cached is not None and cached[0] is info:
        return cached[1]
    if info.geographic:
        strategy = DistanceStrategy(
            "geography", 1.0, "geometry", f"SRID {srid} lon/lat through ::geography"
        )
    else:
        strategy = DistanceStrategy(
            None, info.metres_per_unit, "geometry", f"SRID {srid} in {info.unit}"
        )
    _STRATEGIES[srid] = (info, strategy)
    return strategy


_GEOGRAPHY = DistanceStrategy(None, 1.0, "geography", "geography, metres")
_STRATEGIES: dict[int, tuple[SRIDUnits, DistanceStrategy]] = {}
