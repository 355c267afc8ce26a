"""Distances and areas with units: ``D(km=5)``, ``Area(sq_mi=2)``.

A measure stores its size in metres (or square metres) and converts on
demand, so ``D(mi=1) == D(m=1609.344)`` and ``D(km=1) + D(m=500)`` just work.
This module imports nothing from the database side: spatial queries turn a
measure into the unit a column needs (see :mod:`pgext.postgis.sql`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import total_ordering
from typing import Any, ClassVar, TypeVar

from pgext.errors import InvalidValue

__all__ = ["AREA_UNITS", "DISTANCE_UNITS", "Area", "D", "Distance", "InvalidUnit"]


class InvalidUnit(InvalidValue):
    """An unknown unit name or a size that is not a finite number."""


# Metres per unit.  Survey feet matter: many US state-plane SRIDs use them.
DISTANCE_UNITS: Mapping[str, float] = {
    "m": 1.0,
    "km": 1000.0,
    "cm": 0.01,
    "mm": 0.001,
    "mi": 1609.344,
    "yd": 0.9144,
    "ft": 0.3048,
    "inch": 0.0254,
    "survey_ft": 1200.0 / 3937.0,
    "nm": 1852.0,
}

_DISTANCE_ALIASES: Mapping[str, str] = {
    "metre": "m",
    "meter": "m",
    "metres": "m",
    "meters": "m",
    "kilometre": "km",
    "kilometer": "km",
    "kilometres": "km",
    "kilometers": "km",
    "centimetre": "cm",
    "centimeter": "cm",
    "millimetre": "mm",
    "millimeter": "mm",
    "mile": "mi",
    "miles": "mi",
    "yard": "yd",
    "yards": "yd",
    "foot": "ft",
    "feet": "ft",
    "inches": "inch",
    "us_survey_foot": "survey_ft",
    "nautical_mile": "nm",
    "nautical_miles": "nm",
}

# Square metres per unit: the squares of the distance units plus land units.
AREA_UNITS: Mapping[str, float] = {
    **{f"sq_{name}": factor * factor for name, factor in DISTANCE_UNITS.items()},
    "ha": 10_000.0,
    "acre": 4046.8564224,
}

_AREA_ALIASES: Mapping[str, str] = {
    "hectare": "ha",
    "hectares": "ha",
    "acres": "acre",
    **{
        f"sq_{alias}": f"sq_{unit}"
        for alias, unit in _DISTANCE_ALIASES.items()
        if f"sq_{unit}" in AREA_UNITS
    },
}

M = TypeVar("M", bound="MeasureBase")


def _number(value: Any, what: str) -> float:
    # bool is an int subclass; D(m=True) is almost certainly a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidUnit(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidUnit(f"{what} must be finite, got {number!r}")
    return number


@total_ordering
class MeasureBase:
    """Shared arithmetic; subclasses set the unit table and base unit."""

    UNITS: ClassVar[Mapping[str, float]]
    ALIASES: ClassVar[Mapping[str, str]]
    BASE: ClassVar[str]

    __slots__ = ("_base",)

    def __init__(self, default_unit: str | None = None, **sizes: Any) -> None:
        if not sizes:
            raise InvalidUnit(
                f"{type(self).__name__} needs a size, e.g. "
                f"{type(self).__name__}({self.BASE}=1)"
            )
        total = 0.0
        for unit, size in sizes.items():
            total += _number(size, f"{type(self).__name__}({unit}=...)") * (
                self.unit_factor(unit)
            )
        self._base = total
        del default_unit  # accepted for GeoDjango familiarity; sizes carry units

    @classmethod
    def unit_name(cls, unit: str) -> str:
        """The canonical name of ``unit`` (``"metre"`` -> ``"m"``)."""
        if not isinstance(unit, str):
            raise InvalidUnit(f"a unit name must be a str, got {type(unit).__name__}")
        key = unit.strip().lower().replace(" ", "_")
        key = cls.ALIASES.get(key, key)
        if key not in cls.UNITS:
            known = ", ".join(sorted(cls.UNITS))
            raise InvalidUnit(
                f"unknown {cls.__name__.lower()} unit {unit!r}; known: {known}"
            )
        return key

    @classmethod
    def unit_factor(cls, unit: str) -> float:
        """How many base units (m or sq_m) one ``unit`` is."""
        return cls.UNITS[cls.unit_name(unit)]

    @classmethod
    def from_base(cls: type[M], size: float) -> M:
        measure = cls.__new__(cls)
        measure._base = float(size)
        return measure

    def to(self, unit: str) -> float:
        """The size in ``unit``: ``D(km=2).to("m") == 2000.0``."""
        return self._base / self.unit_factor(unit)

    def __getattr__(self, name: str) -> float:
        # D(km=1).mi, Area(ha=1).sq_m: any known unit reads as an attribute.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.to(name)
        except InvalidUnit:
            raise AttributeError(
                f"{type(self).__name__!s} has no unit or attribute {name!r}"
            ) from None

    # -- comparisons: only between measures of the same kind -----------------------

    def _other(self, other: object) -> float:
        if type(other) is not type(self):
            raise TypeError(
                f"cannot compare {type(self).__name__} with {type(other).__name__}"
            )
        return float(other._base)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return math.isclose(self._base, self._other(other), rel_tol=1e-12, abs_tol=0)

    def __lt__(self, other: object) -> bool:
        return self._base < self._other(other) and not self == other

    def __hash__(self) -> int:
        return hash((type(self).__name__, round(self._base, 9)))

    # -- arithmetic ----------------------------------------------------------------

    def __add__(self: M, other: object) -> M:
        return self.from_base(self._base + self._other(other))

    def __sub__(self: M, other: object) -> M:
        return self.from_base(self._base - self._other(other))

    def __mul__(self: M, factor: object) -> M:
        return self.from_base(self._base * _number(factor, "a factor"))

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Any:
        # Dividing by a measure of the same kind gives a plain ratio.
        if type(other) is type(self):
            return self._base / self._other(other)
        return self.from_base(self._base / _number(other, "a divisor"))

    def __neg__(self: M) -> M:
        return self.from_base(-self._base)

    def __abs__(self: M) -> M:
        return self.from_base(abs(self._base))

    def __bool__(self) -> bool:
        return self._base != 0

    def __float__(self) -> float:
        return self._base

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.BASE}={self._base!r})"


class Distance(MeasureBase):
    """A length; base unit metre.  ``D(km=5)``, ``D(mi=3).m``."""

    UNITS = DISTANCE_UNITS
    ALIASES = _DISTANCE_ALIASES
    BASE = "m"
    __slots__ = ()

    def __mul__(self, factor: object) -> Any:
        # A distance times a distance is an area.
        if isinstance(factor, Distance):
            return Area(sq_m=self._base * factor._base)
        return super().__mul__(factor)

    __rmul__ = __mul__

    @property
    def metres(self) -> float:
        return self._base


class Area(MeasureBase):
    """An area; base unit square metre.  ``Area(sq_km=2)``, ``Area(ha=1).acre``."""

    UNITS = AREA_UNITS
    ALIASES = _AREA_ALIASES
    BASE = "sq_m"
    __slots__ = ()

    def __truediv__(self, other: object) -> Any:
        # An area divided by a distance is a distance.
        if isinstance(other, Distance):
            return Distance(m=self._base / float(other))
        return super().__truediv__(other)

    @property
    def square_metres(self) -> float:
        return self._base


D = Distance
