"""Interval values, validated and normalised before they reach SQL.

TimescaleDB takes intervals both as bind parameters (policies) and inside DDL
or expressions that must not carry parameters (continuous aggregate
definitions, ``GROUP BY`` buckets).  Both uses start from the same canonical
text, produced here from a ``timedelta`` or a strictly parsed string, so an
inlined literal can never carry anything but digits and unit names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from pgext.timescale.errors import InvalidInterval

# Seconds per fixed-width unit; months and years vary in length.
_FIXED_UNITS: dict[str, float] = {
    "microsecond": 1e-6,
    "millisecond": 1e-3,
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
}
_VARIABLE_UNITS = ("month", "year")
_ALIASES = {
    "us": "microsecond",
    "ms": "millisecond",
    "s": "second",
    "sec": "second",
    "secs": "second",
    "min": "minute",
    "mins": "minute",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "d": "day",
    "w": "week",
    "mon": "month",
    "mons": "month",
    "y": "year",
}
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")


@dataclass(frozen=True)
class Interval:
    """A validated interval: canonical ``text`` such as ``'90 days'``."""

    text: str
    seconds: float | None  # None for widths in months or years

    @property
    def fixed(self) -> bool:
        return self.seconds is not None

    def literal(self) -> str:
        """The SQL literal, safe to inline (``'1 hour'::interval``)."""
        return f"'{self.text}'::interval"

    def __str__(self) -> str:
        return self.text


def _unit_name(raw: str) -> str:
    name = _ALIASES.get(raw, raw)
    if name.endswith("s") and name[:-1] in {*_FIXED_UNITS, *_VARIABLE_UNITS}:
        name = name[:-1]
    if name not in _FIXED_UNITS and name not in _VARIABLE_UNITS:
        raise InvalidInterval(f"unknown interval unit {raw!r}")
    return name


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")


def _from_timedelta(value: timedelta) -> Interval:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    if micros <= 0:
        raise InvalidInterval(f"an interval must be positive, got {value!r}")
    for unit in ("week", "day", "hour", "minute", "second", "millisecond"):
        size = round(_FIXED_UNITS[unit] * 1_000_000)
        if micros % size == 0:
            if unit == "week":
                # Weeks print as days: what PostgreSQL itself shows.
                return Interval(_plural(micros // 86_400_000_000, "day"), micros / 1e6)
            return Interval(_plural(micros // size, unit), micros / 1e6)
    return Interval(_plural(micros, "microsecond"), micros / 1e6)


def _from_text(value: str) -> Interval:
    text = value.strip().lower()
    if not text:
        raise InvalidInterval("an interval must not be empty")
    parts: list[str] = []
    seconds: float | None = 0.0
    position = 0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or match.end() == position:
            raise InvalidInterval(
                f"cannot read {value!r} as an interval; write e.g. '1 hour', "
                "'7 days', '1 month' or pass a datetime.timedelta"
            )
        count, unit = int(match.group(1)), _unit_name(match.group(2))
        parts.append(_plural(count, unit))
        if unit in _VARIABLE_UNITS:
            seconds = None
        elif seconds is not None:
            seconds += count * _FIXED_UNITS[unit]
        position = match.end()
    if seconds is not None and seconds <= 0:
        raise InvalidInterval(f"an interval must be positive, got {value!r}")
    return Interval(" ".join(parts), seconds)


def parse_interval(value: object, *, what: str = "interval") -> Interval:
    """A ``timedelta``, an interval string or an :class:`Interval`."""
    if isinstance(value, Interval):
        return value
    if isinstance(value, timedelta):
        return _from_timedelta(value)
    if isinstance(value, str):
        try:
            return _from_text(value)
        except InvalidInterval as error:
            raise InvalidInterval(f"{what}: {error}") from None
    raise InvalidInterval(
        f"{what} must be a datetime.timedelta or an interval string such as "
        f"'7 days', got {type(value).__name__} {value!r}"
    )


def optional_interval(value: object, *, what: str) -> Interval | None:
    return None if value is None else parse_interval(value, what=what)
