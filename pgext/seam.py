"""The one module that touches private Piccolo details.

Piccolo exposes most of what pgext needs publicly (Column subclasses,
QueryString, Where, Function, MigrationManager, create_pydantic_model).  The
few private attributes and methods pgext still relies on are reached only
through the functions below, so a Piccolo upgrade that renames one of them is
a change to this file alone.  Each function says which Piccolo detail it wraps.

Verified against piccolo 1.38.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piccolo.columns import Column
    from piccolo.engine.postgres import PostgresEngine
    from piccolo.table import Table


# -- engine -------------------------------------------------------------------------


async def run_in_new_connection(
    engine: PostgresEngine, sql: str, args: Sequence[Any] = ()
) -> list[Any]:
    """``PostgresEngine._run_in_new_connection``: one query on a fresh
    connection, closed afterwards (used where no pool may exist yet)."""
    result: list[Any] = await engine._run_in_new_connection(sql, list(args))
    return result


# -- tables and columns ---------------------------------------------------------


def table_name(table: type[Table]) -> str:
    """``Table._meta.tablename`` (the unquoted SQL name)."""
    return str(table._meta.tablename)


def table_schema(table: type[Table]) -> str | None:
    """``Table._meta.schema``."""
    schema = table._meta.schema
    return str(schema) if schema else None


def table_columns(table: type[Table]) -> list[Column]:
    """``Table._meta.columns`` (all columns, primary key included)."""
    return list(table._meta.columns)


def primary_key(table: type[Table]) -> Column:
    """``Table._meta.primary_key``."""
    return table._meta.primary_key


def bind_engine(table: type[Table], engine: Any) -> None:
    """Point ``table`` at ``engine`` (``Table._meta.db``)."""
    table._meta.db = engine


def table_engine(table: type[Table]) -> Any:
    """The engine ``table`` runs on (``Table._meta.db``)."""
    return table._meta.db


def column_name(column: Column) -> str:
    """``Column._meta.db_column_name`` (the unquoted SQL name)."""
    return str(column._meta.db_column_name)


def column_table(column: Column) -> type[Table]:
    """``Column._meta.table``: the table class the column belongs to."""
    return column._meta.table


def column_params(column: Column) -> dict[str, Any]:
    """``Column._meta.params``: what migrations serialise for the column."""
    params: dict[str, Any] = column._meta.params
    return params


def column_is_nullable(column: Column) -> bool:
    """``Column._meta.null``."""
    return bool(column._meta.null)


def column_full_name(column: Column, with_alias: bool = False) -> str:
    """``Column._meta.get_full_name``: ``"table$join"."col"`` for joins."""
    return str(column._meta.get_full_name(with_alias=with_alias))


def column_call_chain(column: Column) -> list[Column]:
    """``Column._meta.call_chain``: the foreign keys a joined column went
    through (empty for a column of the queried table itself)."""
    return list(column._meta.call_chain)
