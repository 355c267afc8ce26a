"""Bulk ingest through binary COPY (asyncpg ``copy_records_to_table``).

Rows go to the server in batches, each one COPY, so memory stays bounded and
progress can be reported; all batches run in one transaction, so a bad row
leaves nothing half-written.  Column names are checked against the table
before anything is sent.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from piccolo.columns import (
    BigInt,
    Boolean,
    Date,
    DoublePrecision,
    Integer,
    Real,
    SmallInt,
    Text,
    Timestamp,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from pgext import seam
from pgext.engine_access import connection_of, engine_of
from pgext.errors import InvalidValue
from pgext.timescale.errors import IngestError

# What the driver's binary COPY takes for a column, by Piccolo column type
# (as its encoders check it): used only after a COPY failed, to name the
# row and column at fault, so the fast path pays nothing.
_ACCEPTS: tuple[tuple[tuple[type, ...], Callable[[Any], bool], str], ...] = (
    ((Timestamptz, Timestamp), lambda v: isinstance(v, date), "a datetime"),
    ((Date,), lambda v: isinstance(v, date), "a date"),
    ((Integer, BigInt, SmallInt), lambda v: hasattr(type(v), "__index__"), "an int"),
    (
        (DoublePrecision, Real),
        lambda v: hasattr(type(v), "__float__") or hasattr(type(v), "__index__"),
        "a float",
    ),
    ((Varchar, Text), lambda v: isinstance(v, str), "a str"),
    ((Boolean,), lambda v: isinstance(v, bool), "a bool"),
)

Progress = Callable[[int], None]


def _print_progress(done: int) -> None:
    print(f"\rpgext: {done:,} rows copied", end="", file=sys.stderr, flush=True)


def _columns(table: type[Table], columns: Sequence[str] | None) -> list[str]:
    known = [seam.column_name(c) for c in seam.table_columns(table)]
    if columns is None:
        pk = seam.column_name(seam.primary_key(table))
        return [name for name in known if name != pk]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidValue(f"{unknown} are not columns of {seam.table_name(table)!r}")
    return list(columns)


def _as_tuple(row: Any, columns: Sequence[str]) -> tuple[Any, ...]:
    if isinstance(row, tuple):
        return row
    if isinstance(row, Mapping):
        return tuple(row.get(name) for name in columns)
    if isinstance(row, Table):
        return tuple(getattr(row, name) for name in columns)
    return tuple(row)


def _expected(table: type[Table], names: Sequence[str]) -> list[Any]:
    by_name = {seam.column_name(c): c for c in seam.table_columns(table)}
    found: list[Any] = []
    for name in names:
        column = by_name.get(name)
        found.append(
            next(
                (
                    (types, what)
                    for kinds, types, what in _ACCEPTS
                    if isinstance(column, kinds)
                ),
                None,
            )
        )
    return found


def _fault(
    table: type[Table], names: Sequence[str], records: Sequence[Any], first: int
) -> IngestError | None:
    """The first value in ``records`` its column cannot take, as an error
    naming the row (its index among all rows given) and the column."""
    expected = _expected(table, names)
    for offset, record in enumerate(records):
        if len(record) != len(names):
            return IngestError(
                f"row {first + offset} has {len(record)} values for "
                f"{len(names)} columns {list(names)}",
                first + offset,
                "",
            )
        for name, value, check in zip(names, record, expected, strict=True):
            if value is None or check is None:
                continue
            accepts, what = check
            if not accepts(value):
                shown = repr(value)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                return IngestError(
                    f"row {first + offset}, column {name!r} of "
                    f"{seam.table_name(table)!r}: expected {what}, got "
                    f"{type(value).__name__} {shown}",
                    first + offset,
                    name,
                )
    return None


async def _batches(
    rows: Iterable[Any] | AsyncIterable[Any], size: int
) -> AsyncIterable[list[Any]]:
    if isinstance(rows, AsyncIterable):
        batch: list[Any] = []
        async for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


async def bulk_insert(
    table: type[Table],
    rows: Iterable[Any] | AsyncIterable[Any],
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 100_000,
    progress: bool | Progress = False,
    engine: Any = None,
) -> int:
    """Copy ``rows`` into ``table``; return the number of rows written.

    :param rows: tuples in ``columns`` order (fastest), dicts, or table
        instances; a sync or async iterable.
    :param columns: column names; default: every column but the primary key.
    :param progress: True prints a counter to stderr; a callable receives the
        running total after each batch.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise InvalidValue("batch_size must be a positive int")
    names = _columns(table, columns)
    report: Progress | None = _print_progress if progress is True else progress or None
    engine = engine_of(table, engine)
    batches = _batches(rows, batch_size).__aiter__()
    first = await anext(batches, None)
    if first is None:
        return 0
    second = await anext(batches, None)
    total = 0
    async with connection_of(engine) as connection:

        async def copy(batch: list[Any]) -> None:
            nonlocal total
            records = (
                batch
                if isinstance(batch[0], tuple)
                else [_as_tuple(row, names) for row in batch]
            )
            try:
                await connection.copy_records_to_table(
                    seam.table_name(table),
                    records=records,
                    columns=names,
                    schema_name=seam.table_schema(table),
                )
            except (TypeError, ValueError, OverflowError, IndexError) as error:
                # The driver names neither the row nor the column.
                fault = _fault(table, names, records, total)
                if fault is None:
                    raise
                raise fault from error
            total += len(batch)
            if report is not None:
                report(total)

        if second is None:
            # One COPY is atomic on its own: no transaction round trips.
            await copy(first)
        else:
            async with connection.transaction():
                await copy(first)
                await copy(second)
                async for batch in batches:
                    await copy(batch)
    if progress is True:
        print(file=sys.stderr)
    return total
