"""Bulk load with binary ``COPY`` (asyncpg ``copy_records_to_table``).

Each batch's spatial values are checked against their column and encoded to
EWKB with one shapely call per column (:func:`~pgext.postgis.values.check_array`,
:func:`~pgext.postgis.codec.encode_array`); the codec then passes the ready
bytes through.  Every batch is checked before it is sent, and all batches run
in one transaction, so a bad value anywhere writes nothing.

Values of other columns go to asyncpg as they are (COPY bypasses Piccolo's
value conversion), so give them in the driver's types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack
from itertools import islice
from typing import Any

import numpy as np
import shapely
from piccolo.columns import Column
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.errors import InvalidValue
from pgext.postgis.codec import encode_array
from pgext.postgis.columns import SpatialColumn
from pgext.postgis.errors import InvalidGeometry
from pgext.postgis.values import check_array, to_geometry

Progress = Callable[[int], None]
Row = Mapping[str, Any] | Sequence[Any]


def _resolve_columns(
    table: type[Table], columns: Sequence[Column | str] | None, first: Row | None
) -> list[Column]:
    by_name = {seam.column_name(c): c for c in seam.table_columns(table)}
    if columns is None:
        if not isinstance(first, Mapping):
            raise InvalidValue("copy_rows: give `columns` when rows are sequences")
        columns = list(first)
    resolved: list[Column] = []
    for column in columns:
        name = column if isinstance(column, str) else seam.column_name(column)
        if name not in by_name:
            raise InvalidValue(
                f"copy_rows: {name!r} is not a column of {table.__name__}"
            )
        resolved.append(by_name[name])
    return resolved


def _spatial_values(column: SpatialColumn, values: list[Any], offset: int) -> list[Any]:
    """Check and encode one column of a batch."""
    name = seam.column_name(column)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    # Text, dicts and bytes need parsing one by one; shapely values do not.
    pending = ~shapely.is_geometry(array)
    pending[pending] = [value is not None for value in array[pending]]
    for index in np.flatnonzero(pending):
        try:
            array[index] = to_geometry(array[index], column.spec, name)
        except InvalidGeometry as error:
            raise type(error)(f"row {offset + index}: {error.problem}", name) from None
    try:
        checked = check_array(array, column.spec, name)
    except InvalidGeometry as error:
        raise _shift_row(error, offset) from None
    return encode_array(checked)


def _shift_row(error: InvalidGeometry, offset: int) -> InvalidGeometry:
    problem = error.problem
    if offset and problem.startswith("row "):
        number, _, rest = problem[4:].partition(":")
        problem = f"row {int(number) + offset}:{rest}"
    return type(error)(problem, error.column)


def _prepare(
    batch: list[Row], columns: list[Column], offset: int
) -> list[tuple[Any, ...]]:
    names = [seam.column_name(c) for c in columns]
    if batch and isinstance(batch[0], Mapping):
        records = [tuple(row[n] for n in names) for row in batch]  # type: ignore[call-overload]
    else:
        records = [tuple(row) for row in batch]
    for position, column in enumerate(columns):
        if isinstance(column, SpatialColumn):
            encoded = _spatial_values(column, [r[position] for r in records], offset)
            records = [
                (*r[:position], value, *r[position + 1 :])
                for r, value in zip(records, encoded, strict=True)
            ]
    return records


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


async def copy_rows(
    table: type[Table],
    rows: Iterable[Row],
    columns: Sequence[Column | str] | None = None,
    *,
    batch_size: int = 20_000,
    progress: Progress | None = None,
) -> int:
    """Load ``rows`` into ``table`` by binary COPY; return the row count.

    :param rows: mappings (column name -> value) or sequences in the order of
        ``columns``; any iterable, consumed batch by batch.
    :param columns: the columns filled (``Column`` objects or names); default
        the keys of the first mapping.
    :param batch_size: rows per ``COPY`` (bounds memory use).
    :param progress: called with the number of rows loaded so far after each
        batch.
    """
    if batch_size < 1:
        raise InvalidValue("copy_rows: batch_size must be at least 1")
    engine = seam.table_engine(table)
    if not isinstance(engine, PgextEngine):
        raise InvalidValue("copy_rows needs the table to run on a PgextEngine")
    batches = _batches(rows, batch_size)
    first = next(batches, None)
    if first is None:
        return 0
    resolved = _resolve_columns(table, columns, first[0])
    names = [seam.column_name(c) for c in resolved]
    loaded = 0
    async with AsyncExitStack() as stack:
        connection = await stack.enter_async_context(engine.connection())
        if not connection.is_in_transaction():
            await stack.enter_async_context(connection.transaction())
        batch: list[Row] | None = first
        while batch is not None:
            records = _prepare(batch, resolved, loaded)
            await connection.copy_records_to_table(
                seam.table_name(table),
                records=records,
                columns=names,
                schema_name=seam.table_schema(table),
            )
            loaded += len(records)
            if progress is not None:
                progress(loaded)
            batch = next(batches, None)
    return loaded
