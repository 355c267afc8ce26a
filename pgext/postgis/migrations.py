"""Migrations that really change spatial columns.

``piccolo migrations new --auto`` records a change of ``srid``,
``geometry_type`` or ``dimension`` as ``manager.alter_column(params=...,
old_params=...)``, but Piccolo's MigrationManager only acts on parameters it
knows, so on its own the migration does nothing.  :func:`alter_spatial_column`
is installed (through :func:`pgext.seam.install_alter_column_hook`) when
:mod:`pgext.postgis` is imported -- which every migration file that mentions
a spatial column does -- and turns such a change into

.. code-block:: sql

    ALTER TABLE "t" ALTER COLUMN "c" TYPE geometry(MultiPointZ,3857)
    USING ST_Multi(ST_Transform(ST_Force3DZ("c"), 3857))::geometry(MultiPointZ,3857)

run in the migration's transaction, forwards and backwards.  The column's
current type is read from the catalogue, so it works whatever subset of the
parameters changed.  Around the ALTER, the column's default is taken off and
put back converted the same way (Postgres would otherwise try to cast it
implicitly, which fails from geography to geometry), and the ``::geography``
expression index of lon/lat geometry columns (:mod:`pgext.postgis.indexes`)
is dropped and rebuilt, or only dropped when the column stops being lon/lat
geometry.  Nothing here reads or writes ``spatial_ref_sys`` or
PostGIS's views.

:func:`create_postgis` is a raw step for a migration that creates the
extension (``manager.add_raw(create_postgis)``); ``PgextEngine(extensions=
("postgis",))`` does the same at start-up.  :func:`add_geography_index`
(and :func:`drop_geography_index` backwards) is the raw step that gives a
table created before pgext made the ``::geography`` index that index.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from pgext import seam
from pgext.engine_access import engine_of
from pgext.errors import PgextError
from pgext.identifiers import quote_ident, quote_qualified
from pgext.postgis.indexes import (
    column_indexes,
    create_geography_index_sql,
    drop_geography_index_sql,
    drop_index_sql,
    is_lonlat_geometry,
)
from pgext.postgis.values import DIMENSIONS, normalise_geometry_type

SPATIAL_PARAMS = ("srid", "geometry_type", "dimension")

_FORCE = {
    "XY": "ST_Force2D",
    "XYZ": "ST_Force3DZ",
    "XYM": "ST_Force3DM",
    "XYZM": "ST_Force4D",
}

_CURRENT_TYPE_SQL = """
SELECT t.typname AS base,
       postgis_typmod_type(a.atttypmod) AS subtype,
       postgis_typmod_srid(a.atttypmod) AS srid
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped
"""

# Piccolo's DDL writes ``DEFAULT null``, which Postgres keeps as a typed
# NULL: ``NULL::geography``.  ALTER ... TYPE re-casts the default with an
# implicit cast, and geography -> geometry has none, so the default is taken
# off for the ALTER and put back converted like the values.
_DEFAULT_SQL = """
SELECT pg_get_expr(d.adbin, d.adrelid) AS expression
FROM pg_catalog.pg_attrdef d
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = to_regclass($1) AND a.attname = $2
"""

_SUBTYPE = re.compile(r"^([A-Za-z]+?)(ZM|Z|M)?$")


@dataclass(frozen=True)
class ColumnType:
    """A spatial column's declared type."""

    base: str  # geometry | geography
    geometry_type: str
    srid: int
    dimension: str

    @property
    def sql(self) -> str:
        return f"{self.base}({self.geometry_type}{self.dimension[2:]},{self.srid})"


def parse_subtype(subtype: str) -> tuple[str, str]:
    """``"PointZM"`` -> ``("Point", "XYZM")``."""
    match = _SUBTYPE.match(subtype)
    if match is None:
        raise ValueError(f"unexpected PostGIS subtype {subtype!r}")
    return normalise_geometry_type(match.group(1)), "XY" + (match.group(2) or "")


def target_type(current: ColumnType, params: dict[str, Any]) -> ColumnType:
    """``current`` with the spatial parameters of ``params`` applied."""
    target = current
    if "srid" in params:
        target = replace(target, srid=int(params["srid"]))
    if "geometry_type" in params:
        target = replace(
            target, geometry_type=normalise_geometry_type(params["geometry_type"])
        )
    if "dimension" in params:
        dimension = str(params["dimension"]).upper()
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}")
        target = replace(target, dimension=dimension)
    return target


def using_expression(column: str, current: ColumnType, target: ColumnType) -> str:
    """The ``USING`` expression converting ``current`` values to ``target``."""
    return convert_expression(quote_ident(column), current, target)


def convert_expression(sql: str, current: ColumnType, target: ColumnType) -> str:
    """``sql`` (a value of type ``current``: the column, or its default)
    converted to ``target``."""
    expression = sql
    if current.base == "geography":
        expression = f"{expression}::geometry"
    if target.dimension != current.dimension:
        expression = f"{_FORCE[target.dimension]}({expression})"
    if target.srid != current.srid:
        # SRID 0 means "unknown": nothing to transform from, only label.
        function = "ST_SetSRID" if current.srid == 0 else "ST_Transform"
        expression = f"{function}({expression}, {int(target.srid)})"
    if (
        target.geometry_type.startswith("Multi")
        and target.geometry_type != current.geometry_type
    ):
        expression = f"ST_Multi({expression})"
    elif current.geometry_type == "Multi" + target.geometry_type:
        # Back from a Multi* type: single-part values unwrap; a value with
        # several parts fails the cast, and the migration rolls back.
        expression = (
            f"CASE WHEN ST_NumGeometries({expression}) = 1 "
            f"THEN ST_GeometryN({expression}, 1) ELSE {expression} END"
        )
    return f"({expression})::{target.sql}"


def alter_sql(
    table: str, schema: str | None, column: str, current: ColumnType, target: ColumnType
) -> str:
    qualified = (
        f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
    )
    return (
        f"ALTER TABLE {qualified} ALTER COLUMN {quote_ident(column)} "
        f"TYPE {target.sql} USING {using_expression(column, current, target)}"
    )


async def _current_type(
    engine: Any, table: str, schema: str | None, column: str
) -> ColumnType | None:
    qualified = (
        f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
    )
    rows = await engine.run_querystring(
        _querystring(_CURRENT_TYPE_SQL, qualified, column)
    )
    if not rows:
        return None
    row = rows[0]
    geometry_type, dimension = parse_subtype(str(row["subtype"]))
    return ColumnType(str(row["base"]), geometry_type, int(row["srid"]), dimension)


def _querystring(sql: str, *args: Any) -> Any:
    from piccolo.querystring import QueryString

    # The SQL above uses $n placeholders; QueryString wants {}.
    template = re.sub(r"\$\d+", "{}", sql)
    return QueryString(template, *args)


async def alter_spatial_column(manager: Any, alter_column: Any, backwards: bool) -> Any:
    """Migration hook: run the ALTER for a changed srid/subtype/dimension,
    or for a switch between ``Geometry`` and ``Geography``."""
    from pgext.postgis.columns import SpatialColumn

    column_class = (
        alter_column.old_column_class if backwards else alter_column.column_class
    )
    old_class = (
        alter_column.column_class if backwards else alter_column.old_column_class
    )
    params: dict[str, Any] = (
        alter_column.old_params if backwards else alter_column.params
    )
    old_params: dict[str, Any] = (
        alter_column.params if backwards else alter_column.old_params
    )
    if column_class is None or not issubclass(column_class, SpatialColumn):
        return None
    switches_base = (
        old_class is not None
        and issubclass(old_class, SpatialColumn)
        and old_class.sql_type != column_class.sql_type
    )
    if not switches_base and not any(
        name in params for name in (*SPATIAL_PARAMS, "spatial_index")
    ):
        return None
    engine = engine_of()
    current = await _current_type(
        engine, alter_column.tablename, alter_column.schema, alter_column.db_column_name
    )
    if current is None:
        return None
    target = replace(target_type(current, params), base=column_class.sql_type)
    if switches_base:
        # Piccolo runs its own ALTER for a class change, building the new
        # column from the *changed* parameters only; give it the complete
        # declaration so its (then no-op) cast names the same type as ours.
        for values in (params, old_params):
            values.setdefault("geometry_type", current.geometry_type)
            values.setdefault("srid", current.srid)
            values.setdefault("dimension", current.dimension)
        params.update(
            geometry_type=target.geometry_type,
            srid=target.srid,
            dimension=target.dimension,
        )
    statements, restore = await _statements(
        engine, alter_column, current, target, params.get("spatial_index")
    )
    if "default" in params:
        restore = []  # Piccolo sets the new default itself
    if seam.migration_is_preview(manager):
        for sql in statements + restore:
            print(sql)
        return None
    where = f"column {alter_column.db_column_name!r} of {alter_column.tablename!r}"
    for sql in statements:
        await _run(engine, sql, where, current, target)

    async def after() -> None:
        for sql in restore:
            await _run(engine, sql, where, current, target)

    return after if restore else None


async def _statements(
    engine: Any,
    alter_column: Any,
    current: ColumnType,
    target: ColumnType,
    spatial_index: Any,
) -> tuple[list[str], list[str]]:
    """The DDL of one spatial column change, in order, and the statement
    that restores the default once Piccolo has run its own ALTERs."""
    table, schema = alter_column.tablename, alter_column.schema
    column = alter_column.db_column_name
    qualified = (
        f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
    )
    alter = f"ALTER TABLE {qualified} ALTER COLUMN {quote_ident(column)}"
    # By definition, not by name: after a renamed column or table the
    # indexes keep their old names.
    found = await column_indexes(_runner(engine), qualified, column)
    if spatial_index is None:
        # Unchanged: keep what the column has (Piccolo's plain index).
        spatial_index = found.plain or bool(found.geography)
    wants_geography_index = bool(spatial_index) and is_lonlat_geometry(
        target.base == "geography", target.srid
    )
    statements: list[str] = []
    restore: list[str] = []
    kept = found.geography
    if target != current or not wants_geography_index:
        # The expression index cannot survive an SRID leaving lon/lat (the
        # cast would fail); it is rebuilt below when still wanted.
        statements.extend(drop_index_sql(name) for name in kept)
        kept = ()
    if target != current:
        default = await _default(engine, qualified, column)
        if default is not None:
            statements.append(f"{alter} DROP DEFAULT")
        statements.append(alter_sql(table, schema, column, current, target))
        if default is not None:
            converted = convert_expression(f"({default})", current, target)
            restore.append(f"{alter} SET DEFAULT {converted}")
    if wants_geography_index and not kept:
        statements.append(create_geography_index_sql(table, schema, column))
    return statements, restore


class SpatialMigrationError(PgextError):
    """A spatial column change that the database refused (the migration's
    transaction is rolled back).  The message names the column, the change,
    the database's reason and the statement."""


async def _run(
    engine: Any, sql: str, where: str, current: ColumnType, target: ColumnType
) -> None:
    import asyncpg

    try:
        await engine.run_querystring(_querystring(sql))
    except asyncpg.PostgresError as error:
        hint = ""
        if current.geometry_type == "Multi" + target.geometry_type:
            hint = (
                f" Rows whose {current.geometry_type} has several parts cannot "
                f"become one {target.geometry_type}; split or drop them first."
            )
        raise SpatialMigrationError(
            f"changing {where} from {current.sql} to {target.sql} failed: "
            f"{error}.{hint} Nothing was changed (the migration rolled back). "
            f"Statement: {sql}"
        ) from error


async def _default(engine: Any, qualified: str, column: str) -> str | None:
    """The column's default expression, or None when it has none (or only
    Piccolo's typed NULL)."""
    rows = await engine.run_querystring(_querystring(_DEFAULT_SQL, qualified, column))
    if not rows or rows[0]["expression"] is None:
        return None
    expression = str(rows[0]["expression"])
    if expression.upper().startswith("NULL"):
        return None
    return expression


def _runner(engine: Any) -> Callable[..., Awaitable[Any]]:
    """``run(sql, *args)`` on the migration's engine (``$n`` placeholders)."""

    async def run(sql: str, *args: Any) -> Any:
        return await engine.run_querystring(_querystring(sql, *args))

    return run


async def create_postgis() -> None:
    """Raw migration step: ``CREATE EXTENSION IF NOT EXISTS postgis``."""
    engine = engine_of()
    await engine.run_querystring(_querystring("CREATE EXTENSION IF NOT EXISTS postgis"))


# -- the ::geography index of tables created before pgext made it ------------------


def add_geography_index(
    table: str, column: str, schema: str | None = None
) -> Callable[[], Awaitable[None]]:
    """Raw migration step creating the ``::geography`` expression index
    (``<table>_<column>_geog``) of a lon/lat geometry column whose table was
    created before pgext made that index::

        manager.add_raw(add_geography_index("shop", "location"))
        manager.add_raw_backwards(drop_geography_index("shop", "location"))

    Names, not a Table class, as in every migration (the class changes
    later).  The column's type is read from the catalogue first: a missing
    column, or one that is not lon/lat geometry, is a
    :class:`SpatialMigrationError` before any DDL.  A ``::geography`` index
    already there (under any name) is kept, so the step is safe on new
    tables too."""
    sql = create_geography_index_sql(table, schema, column, if_not_exists=True)

    async def step() -> None:
        engine = engine_of()
        where = f"{schema + '.' if schema else ''}{table}.{column}"
        current = await _current_type(engine, table, schema, column)
        if current is None:
            raise SpatialMigrationError(f"{where}: no such spatial column")
        if current.base != "geometry" or not is_lonlat_geometry(False, current.srid):
            raise SpatialMigrationError(
                f"{where} is {current.sql}: only lon/lat geometry columns get a "
                "::geography index (geography columns are indexed directly)"
            )
        qualified = quote_qualified(table, schema)
        found = await column_indexes(_runner(engine), qualified, column)
        if not found.geography:
            await engine.run_querystring(_querystring(sql))

    return step


def drop_geography_index(
    table: str, column: str, schema: str | None = None
) -> Callable[[], Awaitable[None]]:
    """The backwards step of :func:`add_geography_index`."""
    sql = drop_geography_index_sql(table, schema, column)

    async def step() -> None:
        await engine_of().run_querystring(_querystring(sql))

    return step
