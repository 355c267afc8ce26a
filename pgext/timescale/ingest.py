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
from typing import Any

from piccolo.table import Table

from pgext import seam
from pgext.errors import InvalidValue
from pgext.timescale.apply import connection_of, engine_of

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
            await connection.copy_records_to_table(
                seam.table_name(table),
                records=records,
                columns=names,
                schema_name=seam.table_schema(table),
            )
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
