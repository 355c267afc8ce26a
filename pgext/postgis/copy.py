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
from operator import itemgetter
from typing import Any

import numpy as np
import shapely
from piccolo.columns import Column
from piccolo.table import Table

from pgext import seam
from pgext.codecs import GC_PAUSE_MIN_ROWS, gc_paused
from pgext.engine import PgextEngine
from pgext.errors import InvalidValue
from pgext.postgis.arrays import check_array
from pgext.postgis.codec import encode_array
from pgext.postgis.columns import SpatialColumn
from pgext.postgis.errors import InvalidGeometry
from pgext.postgis.values import to_geometry

Progress = Callable[[int], None]
Row = Mapping[str, Any] | Sequence[Any]


def _resolve_columns(
    table: type[Table], columns: Sequence[Column | str] | None, first: Row | None
) -> list[Column]:
    # Checked before any connection is opened.
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


def _spatial_values(
    column: SpatialColumn, values: Sequence[Any], offset: int
) -> list[Any]:
    """Check and encode one column of a batch."""
    name = seam.column_name(column)
    if isinstance(values, np.ndarray) and values.dtype == object:
        array = values
    else:
        array = np.empty(len(values), dtype=object)
        array[:] = values
    # Text, dicts and bytes need parsing one by one; shapely values do not.
    pending = ~shapely.is_geometry(array)
    pending[pending] = [value is not None for value in array[pending]]
    if pending.any():
        array = array.copy()
    for index in np.flatnonzero(pending):
        try:
            array[index] = to_geometry(array[index], column.spec, name)
        except InvalidGeometry as error:
            raise type(error)(error.problem, name, offset + int(index)) from None
    try:
        checked = check_array(array, column.spec, name)
    except InvalidGeometry as error:
        raise _shift_row(error, offset) from None
    return encode_array(checked)


def _shift_row(error: InvalidGeometry, offset: int) -> InvalidGeometry:
    # check_array numbers rows within the batch; the caller wants the
    # position in everything it passed.
    if error.row is None:
        return error
    return error.for_row(error.row + offset)


def _transpose(batch: list[Row], columns: list[Column]) -> list[Sequence[Any]]:
    """Rows -> one list per column (zip/itemgetter transpose in C)."""
    names = [seam.column_name(c) for c in columns]
    if isinstance(batch[0], Mapping):
        try:
            return [list(map(itemgetter(name), batch)) for name in names]
        except (KeyError, TypeError) as error:
            raise InvalidValue(
                f"copy_rows: every row needs the keys {names} ({error!r} missing)"
            ) from None
    if set(map(len, batch)) != {len(columns)}:
        raise InvalidValue(
            f"copy_rows: rows must have {len(columns)} values (one per column)"
        )
    return list(zip(*batch, strict=True))


def _records(
    data: list[Sequence[Any]], columns: list[Column], offset: int
) -> list[tuple[Any, ...]]:
    """Columns of one batch -> COPY records, spatial values checked and
    encoded with one shapely call per column."""
    data = list(data)
    for position, column in enumerate(columns):
        if isinstance(column, SpatialColumn):
            data[position] = _spatial_values(column, data[position], offset)
    return list(zip(*data, strict=True))


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
    batches = _batches(rows, batch_size)
    first = next(batches, None)
    if first is None:
        return 0
    resolved = _resolve_columns(table, columns, first[0])

    def column_batches() -> Iterator[list[Sequence[Any]]]:
        batch: list[Row] | None = first
        while batch is not None:
            yield _transpose(batch, resolved)
            batch = next(batches, None)

    return await _copy(table, resolved, column_batches(), progress)


async def copy_columns(
    table: type[Table],
    data: Mapping[Column | str, Sequence[Any]],
    *,
    batch_size: int = 100_000,
    progress: Progress | None = None,
) -> int:
    """Load column-oriented data (column -> equally long sequence, e.g. a
    numpy array of shapely geometries) by binary COPY; return the row count.

    The fastest way in: no per-row Python objects are built besides the
    records asyncpg needs.  Same checks, atomicity and ``progress`` as
    :func:`copy_rows`.
    """
    if batch_size < 1:
        raise InvalidValue("copy_columns: batch_size must be at least 1")
    if not data:
        return 0
    resolved = _resolve_columns(table, list(data), None)
    sequences = list(data.values())
    lengths = {len(values) for values in sequences}
    if len(lengths) != 1:
        raise InvalidValue(f"copy_columns: columns differ in length {sorted(lengths)}")
    total = lengths.pop()

    def column_batches() -> Iterator[list[Sequence[Any]]]:
        for start in range(0, total, batch_size):
            yield [values[start : start + batch_size] for values in sequences]

    return await _copy(table, resolved, column_batches(), progress)


async def _copy(
    table: type[Table],
    columns: list[Column],
    batches: Iterator[list[Sequence[Any]]],
    progress: Progress | None,
) -> int:
    engine = seam.table_engine(table)
    if not isinstance(engine, PgextEngine):
        raise InvalidValue("bulk COPY needs the table to run on a PgextEngine")
    names = [seam.column_name(c) for c in columns]
    loaded = 0
    async with AsyncExitStack() as stack:
        connection = await stack.enter_async_context(engine.connection())
        if not connection.is_in_transaction():
            await stack.enter_async_context(connection.transaction())
        while True:
            # Transposing and building records creates acyclic tuples only.
            with gc_paused(GC_PAUSE_MIN_ROWS):
                batch = next(batches, None)
                records = _records(batch, columns, loaded) if batch else []
            if batch is None:
                break
            await connection.copy_records_to_table(
                seam.table_name(table),
                records=records,
                columns=names,
                schema_name=seam.table_schema(table),
            )
            loaded += len(records)
            if progress is not None:
                progress(loaded)
    return loaded
