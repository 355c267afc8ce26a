"""Continuous aggregates as read-only Piccolo tables.

A continuous aggregate is declared as a ``ContinuousAggregate`` subclass whose
columns are the outputs of a Piccolo ``select`` over a hypertable (or, for
hierarchical rollups, over another continuous aggregate)::

    @continuous_aggregate(
        query=lambda: Reading.select(
            TimeBucket("1 hour", Reading.ts), Reading.device_id,
            Avg(Reading.value, alias="avg_value"),
        ).group_by(TimeBucket("1 hour", Reading.ts), Reading.device_id),
        refresh=RefreshPolicy(start_offset="3 days", end_offset="1 hour",
                              schedule_interval="1 hour"),
        materialized_only=False,
    )
    class ReadingHourly(ContinuousAggregate):
        bucket = Timestamptz()
        device_id = Integer()
        avg_value = DoublePrecision()

It is queried like any table (``ReadingHourly.select()``) and refuses writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

from piccolo.columns import Column
from piccolo.query.methods.select import Select
from piccolo.querystring import QueryString
from piccolo.table import Table

from pgext import seam
from pgext.identifiers import quote_literal
from pgext.timescale.errors import HypertableDeclarationError, ReadOnlyError
from pgext.timescale.functions import _time_literal
from pgext.timescale.intervals import Interval, optional_interval, parse_interval
from pgext.timescale.spec import IntervalLike, hypertable_spec

SPEC_ATTRIBUTE = "__pgext_continuous_aggregate__"

AggregateT = TypeVar("AggregateT", bound="type[ContinuousAggregate]")
QuerySource = Select[Any] | Callable[[], Select[Any]]


def _read_only(table: Any) -> NoReturn:
    name = getattr(table, "__name__", type(table).__name__)
    raise ReadOnlyError(
        f"{name} is a continuous aggregate (a materialized view): it cannot be "
        "written; write to its source hypertable and refresh it"
    )


class ContinuousAggregate(Table):
    """Base class of continuous aggregates: a read-only table.

    A materialized view has no ``id`` column, so the first declared column
    (normally the time bucket) stands in as the key Piccolo wants.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        declared = [
            value for value in cls.__dict__.values() if isinstance(value, Column)
        ]
        if declared and not any(seam.column_is_primary_key(c) for c in declared):
            seam.mark_primary_key(declared[0])
        if "id" not in cls.__dict__:
            # Hide the ``id`` column Piccolo gave this base class.
            setattr(cls, "id", None)  # noqa: B010
        super().__init_subclass__(**kwargs)

    @classmethod
    def insert(cls, *rows: Any, **kwargs: Any) -> Any:
        _read_only(cls)

    @classmethod
    def update(cls, *args: Any, **kwargs: Any) -> Any:
        _read_only(cls)

    @classmethod
    def delete(cls, *args: Any, **kwargs: Any) -> Any:
        _read_only(cls)

    @classmethod
    def create_table(cls, *args: Any, **kwargs: Any) -> Any:
        raise ReadOnlyError(
            f"{cls.__name__} is a continuous aggregate: create it with "
            "pgext.timescale.setup() or through migrations"
        )

    def save(self, *args: Any, **kwargs: Any) -> Any:
        _read_only(type(self))

    def remove(self, *args: Any, **kwargs: Any) -> Any:
        _read_only(type(self))


@dataclass(frozen=True)
class RefreshPolicy:
    """When the background job refreshes an aggregate: the window from
    ``now - start_offset`` to ``now - end_offset`` every ``schedule_interval``
    (``start_offset=None`` means from the beginning of the data)."""

    start_offset: IntervalLike | None = None
    end_offset: IntervalLike | None = "1 hour"
    schedule_interval: IntervalLike = "1 hour"

    def state(self) -> dict[str, Any]:
        start = optional_interval(self.start_offset, what="start_offset")
        end = optional_interval(self.end_offset, what="end_offset")
        every = parse_interval(self.schedule_interval, what="schedule_interval")
        return {
            "start_offset": start.text if start else None,
            "end_offset": end.text if end else None,
            "schedule_interval": every.text,
        }


def _sql_literal(value: Any) -> str:
    """Values inside a view definition cannot be bound: inline them safely."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        if isinstance(value, float) and not math.isfinite(value):
            raise HypertableDeclarationError(f"cannot inline {value!r}")
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return quote_literal(value)
    if isinstance(value, (datetime, date)):
        return _time_literal(value, "value")
    if isinstance(value, (timedelta, Interval)):
        return parse_interval(value).literal()
    raise HypertableDeclarationError(
        "a continuous aggregate definition cannot contain a "
        f"{type(value).__name__} value"
    )


def inline_sql(querystring: QueryString) -> str:
    """The SQL of ``querystring`` with every value inlined as a literal."""
    _, fragments, args = querystring.bundle(start_index=1, bundled=[], combined_args=[])
    parts: list[str] = []
    for fragment in fragments:
        parts.append(fragment.prefix)
        if not fragment.no_arg:
            parts.append(_sql_literal(args[fragment.index - 1]))
    return "".join(parts)


@dataclass(frozen=True)
class AggregateSpec:
    table: type[ContinuousAggregate]
    query: QuerySource
    refresh: RefreshPolicy | None
    materialized_only: bool
    refresh_on_create: bool

    @property
    def name(self) -> str:
        return seam.table_name(self.table)

    @property
    def schema(self) -> str | None:
        return seam.table_schema(self.table)

    def select(self) -> Select[Any]:
        query = (
            self.query()
            if callable(self.query) and not isinstance(self.query, Select)
            else self.query
        )
        if not isinstance(query, Select):
            raise HypertableDeclarationError(
                f"the query of {self.table.__name__} must be a Piccolo select(), "
                f"got {type(query).__name__}"
            )
        return query

    def source(self) -> type[Table]:
        source: type[Table] = self.select().table
        if hypertable_spec(source) is None and aggregate_spec(source) is None:
            raise HypertableDeclarationError(
                f"continuous aggregate {self.name!r} reads from "
                f"{seam.table_name(source)!r}, which is neither a declared "
                "hypertable nor a continuous aggregate"
            )
        return source

    def sql(self) -> str:
        querystring = self.select().querystrings[0]
        return inline_sql(querystring)

    def state(self) -> dict[str, Any]:
        source = self.source()
        return {
            "schema": self.schema,
            "view": self.name,
            "source": seam.table_name(source),
            "depends_on": (
                [seam.table_name(source)] if aggregate_spec(source) is not None else []
            ),
            "query": self.sql(),
            "materialized_only": self.materialized_only,
            "refresh": self.refresh.state() if self.refresh else None,
            "refresh_on_create": self.refresh_on_create,
        }


def continuous_aggregate(
    query: QuerySource,
    *,
    refresh: RefreshPolicy | None = None,
    materialized_only: bool = True,
    refresh_on_create: bool = True,
) -> Callable[[AggregateT], AggregateT]:
    """Class decorator declaring a :class:`ContinuousAggregate`.

    :param query: a Piccolo ``select`` (or a zero-argument callable returning
        one) over a hypertable or another continuous aggregate.  Its values
        are inlined into the view definition.
    :param refresh: the refresh policy, or None for manual refreshes.
    :param materialized_only: ``False`` makes the aggregate real-time (recent
        rows not yet materialized are read from the source).  Always sent
        explicitly, because TimescaleDB's default changed in 2.13.
    :param refresh_on_create: refresh the whole range once after creation.
    """
    if refresh is not None and not isinstance(refresh, RefreshPolicy):
        raise HypertableDeclarationError("refresh must be a RefreshPolicy")
    if refresh is not None:
        refresh.state()  # validates the intervals now
    if not isinstance(materialized_only, bool):
        raise HypertableDeclarationError("materialized_only must be True or False")

    def decorate(table: AggregateT) -> AggregateT:
        if not (isinstance(table, type) and issubclass(table, ContinuousAggregate)):
            raise HypertableDeclarationError(
                "@continuous_aggregate decorates a ContinuousAggregate subclass"
            )
        spec = AggregateSpec(
            table, query, refresh, materialized_only, refresh_on_create
        )
        setattr(table, SPEC_ATTRIBUTE, spec)
        return table

    return decorate


def aggregate_spec(table: type[Table]) -> AggregateSpec | None:
    spec = table.__dict__.get(SPEC_ATTRIBUTE)
    return spec if isinstance(spec, AggregateSpec) else None


def is_aggregate(table: type[Table]) -> bool:
    return isinstance(table, type) and issubclass(table, ContinuousAggregate)
