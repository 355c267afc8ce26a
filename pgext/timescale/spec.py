"""*What* a time-series table is: the declarations users write on their
Piccolo tables, validated against the table's columns at import time.

How the declaration becomes SQL lives in :mod:`pgext.timescale.sql`; how it is
carried through migrations lives in :mod:`pgext.timescale.migrations`.  Both
work from :meth:`HypertableSpec.state`, a plain dict that can be written into a
migration file and compared with an older one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from piccolo.columns import Column, Date, Timestamp, Timestamptz
from piccolo.table import Table

from pgext import seam
from pgext.identifiers import validate_identifier
from pgext.timescale.errors import HypertableDeclarationError
from pgext.timescale.intervals import Interval, optional_interval, parse_interval

# Where the declaration is kept on the table class.
SPEC_ATTRIBUTE = "__pgext_hypertable__"

TIME_COLUMN_TYPES: tuple[type[Column], ...] = (Timestamptz, Timestamp, Date)

IntervalLike = timedelta | str | Interval

_ORDER_ITEM = re.compile(
    r"^\s*(?P<column>.+?)(?:\s+(?P<direction>asc|desc))?"
    r"(?:\s+nulls\s+(?P<nulls>first|last))?\s*$",
    re.IGNORECASE,
)

TableT = TypeVar("TableT", bound=type[Table])


@dataclass(frozen=True)
class HashDimension:
    """An extra "space" dimension: rows are hashed on ``column`` into
    ``partitions`` partitions (TimescaleDB's ``by_hash``)."""

    column: str
    partitions: int


@dataclass(frozen=True)
class Columnstore:
    """Columnstore (compression) settings and the policy converting chunks
    older than ``after``.  ``order_by`` items read ``"ts DESC"``."""

    segment_by: Sequence[str] = ()
    order_by: Sequence[str] = ()
    after: IntervalLike | None = None


@dataclass(frozen=True)
class HypertableSpec:
    """The validated declaration of one hypertable."""

    table: type[Table]
    time_column: str
    chunk_interval: Interval
    space: HashDimension | None = None
    columnstore: Columnstore | None = None
    columnstore_after: Interval | None = None
    retention: Interval | None = None
    primary_key: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return seam.table_name(self.table)

    @property
    def schema(self) -> str | None:
        return seam.table_schema(self.table)

    def state(self) -> dict[str, Any]:
        """Plain data for migrations: only str, int, list, dict, None."""
        columnstore: dict[str, Any] | None = None
        if self.columnstore is not None:
            columnstore = {
                "segment_by": list(self.columnstore.segment_by),
                "order_by": list(self.columnstore.order_by),
                "after": self.columnstore_after.text
                if self.columnstore_after
                else None,
            }
        return {
            "schema": self.schema,
            "table": self.name,
            "time_column": self.time_column,
            "chunk_interval": self.chunk_interval.text,
            "space": (
                {"column": self.space.column, "partitions": self.space.partitions}
                if self.space
                else None
            ),
            "columnstore": columnstore,
            "retention": self.retention.text if self.retention else None,
            "primary_key": list(self.primary_key),
        }


def _columns_by_name(table: type[Table]) -> dict[str, Column]:
    return {seam.column_name(column): column for column in seam.table_columns(table)}


def _require_column(table: type[Table], name: str, what: str) -> Column:
    validate_identifier(name, what=what)
    columns = _columns_by_name(table)
    if name not in columns:
        raise HypertableDeclarationError(
            f"{what} {name!r} is not a column of {seam.table_name(table)!r}; "
            f"its columns are {sorted(columns)}"
        )
    return columns[name]


def split_order_item(item: str) -> tuple[str, str]:
    """``'Taken At DESC NULLS LAST'`` -> ``('Taken At', 'DESC NULLS LAST')``."""
    match = _ORDER_ITEM.match(item)
    if match is None:
        raise HypertableDeclarationError(f"cannot read order_by item {item!r}")
    suffix = " ".join(
        part.upper()
        for part in (
            match.group("direction"),
            "NULLS" if match.group("nulls") else None,
            match.group("nulls"),
        )
        if part
    )
    return match.group("column"), suffix


def _normalise_order_item(table: type[Table], item: str) -> str:
    match = _ORDER_ITEM.match(item) if isinstance(item, str) else None
    if match is None:
        raise HypertableDeclarationError(
            f"columnstore order_by item {item!r} must read 'column [ASC|DESC] "
            "[NULLS FIRST|LAST]'"
        )
    column = match.group("column")
    _require_column(table, column, "columnstore order_by column")
    text = column
    if match.group("direction"):
        text += " " + match.group("direction").upper()
    if match.group("nulls"):
        text += " NULLS " + match.group("nulls").upper()
    return text


def build_spec(
    table: type[Table],
    time_column: str,
    chunk_interval: IntervalLike,
    space: HashDimension | None,
    columnstore: Columnstore | None,
    retention: IntervalLike | None,
) -> HypertableSpec:
    """Check a declaration against ``table``; raise before anything runs."""
    time = _require_column(table, time_column, "time column")
    if not isinstance(time, TIME_COLUMN_TYPES):
        raise HypertableDeclarationError(
            f"time column {time_column!r} of {seam.table_name(table)!r} is a "
            f"{type(time).__name__}; a hypertable's time dimension must be a "
            "Timestamptz, Timestamp or Date column"
        )
    chunk = parse_interval(chunk_interval, what="chunk_interval")
    if not chunk.fixed:
        raise HypertableDeclarationError(
            f"chunk_interval {chunk.text!r} varies in length; use days or hours"
        )
    if space is not None:
        if not isinstance(space, HashDimension):
            raise HypertableDeclarationError("space must be a HashDimension")
        _require_column(table, space.column, "space dimension column")
        if space.column == time_column:
            raise HypertableDeclarationError(
                "the space dimension must differ from the time column"
            )
        if isinstance(space.partitions, bool) or not isinstance(space.partitions, int):
            raise HypertableDeclarationError("space partitions must be an int")
        if not 1 <= space.partitions <= 32767:
            raise HypertableDeclarationError("space partitions must be 1..32767")
    after: Interval | None = None
    if columnstore is not None:
        if not isinstance(columnstore, Columnstore):
            raise HypertableDeclarationError("columnstore must be a Columnstore")
        segment_by = tuple(columnstore.segment_by)
        for name in segment_by:
            _require_column(table, name, "columnstore segment_by column")
        order_by = tuple(
            _normalise_order_item(table, item) for item in columnstore.order_by
        )
        after = optional_interval(columnstore.after, what="columnstore after")
        columnstore = Columnstore(segment_by=segment_by, order_by=order_by, after=after)
    pk = seam.primary_key(table)
    pk_name = seam.column_name(pk)
    # TimescaleDB wants every partitioning column in each unique index, so
    # Piccolo's one-column primary key grows to (id, time[, space]).
    primary = [pk_name]
    for name in (time_column, space.column if space else ""):
        if name and name not in primary:
            primary.append(name)
    return HypertableSpec(
        table=table,
        time_column=time_column,
        chunk_interval=chunk,
        space=space,
        columnstore=columnstore,
        columnstore_after=after,
        retention=optional_interval(retention, what="retention"),
        primary_key=tuple(primary),
    )


def hypertable(
    time_column: str,
    *,
    chunk_interval: IntervalLike = "7 days",
    space: HashDimension | None = None,
    columnstore: Columnstore | None = None,
    retention: IntervalLike | None = None,
) -> Callable[[TableT], TableT]:
    """Class decorator declaring a Piccolo table as a hypertable::

        @hypertable("ts", chunk_interval="1 day", retention="90 days",
                    columnstore=Columnstore(segment_by=["device_id"],
                                            order_by=["ts DESC"], after="7 days"))
        class Reading(Table):
            ts = Timestamptz()
            device_id = Integer()
            value = DoublePrecision()

    The declaration is checked here, at import time.
    """

    def decorate(table: TableT) -> TableT:
        spec = build_spec(
            table, time_column, chunk_interval, space, columnstore, retention
        )
        setattr(table, SPEC_ATTRIBUTE, spec)
        return table

    return decorate


def hypertable_spec(table: type[Table]) -> HypertableSpec | None:
    """The declaration on ``table`` itself (not inherited), or None."""
    spec = table.__dict__.get(SPEC_ATTRIBUTE)
    return spec if isinstance(spec, HypertableSpec) else None


def require_spec(table: type[Table]) -> HypertableSpec:
    spec = hypertable_spec(table)
    if spec is None:
        from pgext.timescale.errors import NotAHypertable

        raise NotAHypertable(
            f"{seam.table_name(table)!r} is not declared as a hypertable; "
            "decorate it with @hypertable(...)"
        )
    return spec
