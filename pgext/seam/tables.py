"""Tables and columns: ``Table._meta`` and ``Column._meta``.

Piccolo keeps a table's and a column's SQL names, schema, engine and flags
on ``_meta`` objects that are not documented API; pgext reads (and in two
places sets) them only through these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piccolo.columns import Column
    from piccolo.table import Table


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


def bound_engine(table: type[Table]) -> Any:
    """The engine bound to ``table``, or None (``Table._meta._db``): unlike
    :func:`table_engine` it does not look for piccolo_conf when unbound."""
    return table._meta._db


def table_engine(table: type[Table]) -> Any:
    """The engine ``table`` runs on (``Table._meta.db``)."""
    return table._meta.db


def table_source(table: type[Table]) -> str:
    """``Table._table_str(abbreviated=True)``: the table as the Python class
    that declares it (what Piccolo's own playground prints)."""
    return str(table._table_str(abbreviated=True))


def column_name(column: Column) -> str:
    """``Column._meta.db_column_name`` (the unquoted SQL name)."""
    return str(column._meta.db_column_name)


def column_attribute(column: Column) -> str:
    """``Column._meta.name``: the attribute holding the column's value on a
    row object (may differ from the SQL name)."""
    return str(column._meta.name)


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


def column_is_unique(column: Column) -> bool:
    """``Column._meta.unique`` (Citus: unique columns must hold the
    distribution column)."""
    return bool(column._meta.unique)


def column_is_secret(column: Column) -> bool:
    """``Column._meta.secret`` (columns declared ``secret=True``, which
    piccolo_api leaves out of its responses)."""
    return bool(column._meta.secret)


def column_full_name(column: Column, with_alias: bool = False) -> str:
    """``Column._meta.get_full_name``: ``"table$join"."col"`` for joins."""
    return str(column._meta.get_full_name(with_alias=with_alias))


def column_call_chain(column: Column) -> list[Column]:
    """``Column._meta.call_chain``: the foreign keys a joined column went
    through (empty for a column of the queried table itself)."""
    return list(column._meta.call_chain)


def column_is_primary_key(column: Column) -> bool:
    """``Column._meta.primary_key``."""
    return bool(column._meta.primary_key)


def mark_primary_key(column: Column) -> None:
    """Set ``Column._meta.primary_key`` before the table class is built, so
    Piccolo adds no ``id`` column (TimescaleDB's continuous aggregates have
    none)."""
    column._meta.primary_key = True


def foreign_key_target(column: Any) -> type[Table]:
    """``ForeignKey._foreign_key_meta.resolved_references``: the table a
    ForeignKey points at (lazy references resolved)."""
    target: type[Table] = column._foreign_key_meta.resolved_references
    return target
