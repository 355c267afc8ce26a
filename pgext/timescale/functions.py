"""Time-series query expressions for Piccolo selects.

``TimeBucket``, ``TimeBucketGapfill``, ``Locf``, ``Interpolate``, ``First`` and
``Last`` are ``QueryString`` subclasses, so they go wherever Piccolo takes an
expression: ``select``, ``where``, ``group_by``, ``order_by``, and inside
Piccolo's own aggregates.

Widths, offsets, origins and time zones are validated and *inlined* as
literals instead of bound: a bound value would get a new ``$n`` every time the
expression appears, and PostgreSQL would then refuse ``GROUP BY`` on the same
bucket that is selected (GroupingError).  Inlined, the selected and the
grouped expression are the same text.  Nothing but digits, unit names,
ISO timestamps and checked zone names is ever inlined.

On PostgreSQL without TimescaleDB, :class:`TimeBucket` renders through
``date_bin`` (PostgreSQL 14+) for fixed widths, with TimescaleDB's default
origin, so the same dashboard query runs on managed PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from piccolo.columns import Column, Date, Timestamp
from piccolo.querystring import QueryString

from pgext.errors import LicenseError
from pgext.timescale.dialect import capabilities_for, has_timescaledb
from pgext.timescale.errors import InvalidInterval, TimescaleNotInstalled
from pgext.timescale.intervals import Interval, parse_interval
from pgext.timescale.spec import IntervalLike

Expression = Column | QueryString

# TimescaleDB buckets fixed widths from Monday 2000-01-03 (UTC) by default.
DEFAULT_ORIGIN = "2000-01-03 00:00:00"
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")


def _time_literal(value: object, what: str) -> str:
    if isinstance(value, datetime):
        kind = "timestamp" if value.tzinfo is None else "timestamptz"
        return f"'{value.isoformat()}'::{kind}"
    if isinstance(value, date):
        return f"'{value.isoformat()}'::date"
    raise InvalidInterval(f"{what} must be a datetime, got {type(value).__name__}")


def _zone_literal(zone: object) -> str:
    if not isinstance(zone, str) or not _ZONE.match(zone):
        raise InvalidInterval(
            f"timezone must be a zone name such as 'Europe/Berlin', got {zone!r}"
        )
    return f"'{zone}'"


class _Rendered(QueryString):
    """A QueryString whose template is worked out when the query compiles
    (by then the engine's capabilities are known)."""

    def __init__(self, *args: Any, alias: str | None) -> None:
        super().__init__("", *args, alias=alias)

    @property
    def template(self) -> str:
        return self.render()

    @template.setter
    def template(self, value: str) -> None:
        # QueryString.__init__ assigns a template; ours is computed instead.
        pass

    def render(self) -> str:
        raise NotImplementedError


class TimeBucket(_Rendered):
    """``time_bucket(width, column[, offset | origin][, timezone])``.

    :param width: ``timedelta`` or a string such as ``'15 minutes'``.
    :param offset: shift the buckets (``timedelta`` / string).
    :param origin: a ``datetime`` buckets are aligned to.
    :param timezone: bucket in this zone (for ``Timestamptz`` columns).
    """

    def __init__(
        self,
        width: IntervalLike,
        column: Expression,
        *,
        offset: IntervalLike | None = None,
        origin: datetime | None = None,
        timezone: str | None = None,
        alias: str | None = "bucket",
    ) -> None:
        self.width: Interval = parse_interval(width, what="time_bucket width")
        self.offset = None if offset is None else parse_interval(offset, what="offset")
        self.origin = None if origin is None else _time_literal(origin, "origin")
        self.timezone = None if timezone is None else _zone_literal(timezone)
        if self.offset and self.origin and not self.timezone:
            raise InvalidInterval("give either offset or origin, not both")
        self.source = column
        super().__init__(column, alias=alias)

    def render(self) -> str:
        if has_timescaledb(self.columns):
            return self._time_bucket()
        return self._date_bin()

    def _time_bucket(self) -> str:
        args = [self.width.literal(), "{}"]
        if self.timezone:
            args.append(self.timezone)
        if self.origin:
            args.append(f"origin => {self.origin}")
        if self.offset:
            args.append(f'"offset" => {self.offset.literal()}')
        return f"time_bucket({', '.join(args)})"

    def _date_bin(self) -> str:
        if not self.width.fixed:
            raise TimescaleNotInstalled(
                f"time_bucket width {self.width.text!r} varies in length; without "
                "the timescaledb extension only fixed widths work (through date_bin)"
            )
        is_date = isinstance(self.source, Date)
        naive = self.timezone is not None or isinstance(self.source, (Timestamp, Date))
        kind = "timestamp" if naive else "timestamptz"
        origin = self.origin or f"'{DEFAULT_ORIGIN}{'' if naive else '+00'}'::{kind}"
        if self.timezone and self.origin:
            origin = f"({origin} AT TIME ZONE {self.timezone})"
        if self.offset:
            origin = f"({origin} + {self.offset.literal()})"
        value = "{}"
        if is_date:
            value = "{}::timestamp"
        elif self.timezone:
            value = f"({{}} AT TIME ZONE {self.timezone})"
        sql = f"date_bin({self.width.literal()}, {value}, {origin})"
        if is_date:
            return f"({sql})::date"
        if self.timezone:
            return f"({sql} AT TIME ZONE {self.timezone})"
        return sql


def _require_timescaledb(expression: QueryString, name: str) -> None:
    if not has_timescaledb(expression.columns):
        raise TimescaleNotInstalled(
            f"{name} needs the timescaledb extension, which this database does not have"
        )


def _require_community(expression: QueryString, name: str) -> None:
    """Gap filling is community (TSL) code.  An Apache-only server refuses
    it with FeatureNotSupportedError once rows exist, but answers ``[]`` on
    an empty table where the community build fills the buckets: so pgext
    refuses it up front, from the licence the engine already knows."""
    _require_timescaledb(expression, name)
    found = capabilities_for(expression.columns)
    if found is not None and not found.timescaledb_community:
        raise LicenseError(
            f"{name} needs TimescaleDB's community licence; this server runs "
            f"timescaledb.license={found.timescaledb_license!r}"
        )


class TimeBucketGapfill(_Rendered):
    """``time_bucket_gapfill(width, column[, timezone][, start, finish])``:
    one row per bucket, also where no data is.  ``start``/``finish`` may be
    omitted when the query's ``where`` bounds the time column."""

    def __init__(
        self,
        width: IntervalLike,
        column: Expression,
        *,
        start: datetime | None = None,
        finish: datetime | None = None,
        timezone: str | None = None,
        alias: str | None = "bucket",
    ) -> None:
        self.width = parse_interval(width, what="time_bucket_gapfill width")
        self.start = None if start is None else _time_literal(start, "start")
        self.finish = None if finish is None else _time_literal(finish, "finish")
        self.timezone = None if timezone is None else _zone_literal(timezone)
        super().__init__(column, alias=alias)

    def render(self) -> str:
        _require_community(self, "time_bucket_gapfill")
        args = [self.width.literal(), "{}"]
        if self.timezone:
            args.append(self.timezone)
        if self.start:
            args.append(f"start => {self.start}")
        if self.finish:
            args.append(f"finish => {self.finish}")
        return f"time_bucket_gapfill({', '.join(args)})"


class _Wrap(_Rendered):
    function = ""
    # False: part of TimescaleDB's Apache-2 core (first, last).
    community = False

    def render(self) -> str:
        if self.community:
            _require_community(self, self.function)
        else:
            _require_timescaledb(self, self.function)
        placeholders = ", ".join("{}" for _ in self.args)
        return f"{self.function}({placeholders})"


class Locf(_Wrap):
    """``locf(aggregate)``: carry the last value into gap-filled buckets."""

    function = "locf"
    community = True

    def __init__(self, value: Expression, alias: str | None = None) -> None:
        super().__init__(value, alias=alias)


class Interpolate(_Wrap):
    """``interpolate(aggregate)``: linear interpolation for gap-filled
    buckets."""

    function = "interpolate"
    community = True

    def __init__(self, value: Expression, alias: str | None = None) -> None:
        super().__init__(value, alias=alias)


class First(_Wrap):
    """``first(value, time)``: the value at the earliest time of the group."""

    function = "first"

    def __init__(
        self, value: Expression, time: Expression, alias: str | None = "first"
    ) -> None:
        super().__init__(value, time, alias=alias)


class Last(_Wrap):
    """``last(value, time)``: the value at the latest time of the group."""

    function = "last"

    def __init__(
        self, value: Expression, time: Expression, alias: str | None = "last"
    ) -> None:
        super().__init__(value, time, alias=alias)
