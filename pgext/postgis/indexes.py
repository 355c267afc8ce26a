"""The ``::geography`` expression index of lon/lat geometry columns.

pgext measures every distance on a lon/lat ``Geometry`` column through
``column::geography`` (see :mod:`pgext.postgis.sql`), and a GiST index on the
plain column cannot serve that expression.  So a lon/lat geometry column
with ``spatial_index=True`` gets two GiST indexes: Piccolo's on the column
(for ``intersects``, ``contains``, bounding boxes, tiles) and pgext's on
``(column::geography)`` (for ``dwithin``, ``distance_*`` and ``knn``).

The second one is created wherever Piccolo creates the first
(``create_table()``, migrations that add the table or the column: a hook on
Piccolo's ``CreateIndex``, see :func:`pgext.seam.install_create_index_hook`)
and kept by :mod:`pgext.postgis.migrations` when a migration changes the
column.  Its name is ``<table>_<column>_geog`` when pgext creates it; a
migration that renames the column or the table keeps the index (Postgres
follows the rename inside its expression) under its old name, as Piccolo
keeps its own index's.  So migrations find a column's indexes by what they
index, not by name (:func:`column_indexes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgext import seam
from pgext.identifiers import quote_ident
from pgext.postgis.query_errors import UnknownSRIDUnits
from pgext.postgis.sql import srid_units


def is_lonlat_geometry(geography: bool, srid: int) -> bool:
    """True for a geometry column whose SRID is lon/lat (degrees)."""
    if geography or srid == 0:
        return False
    try:
        return srid_units(srid).geographic
    except UnknownSRIDUnits:
        return False


# The single-column, unconditional indexes of a table that concern column $2:
# one on the column itself (Piccolo's; whatever its method: Piccolo's
# migrations index an added column with btree), and GiST ones on its
# ``::geography`` expression as Postgres deparses it (``(location)::geography``;
# format's %I quotes the way the deparser does).
_COLUMN_INDEXES_SQL = """
WITH wanted AS (SELECT to_regclass($1) AS tab, $2::text AS col)
SELECT i.indexrelid::regclass::text AS name,
       a.attname IS NOT DISTINCT FROM w.col::name AS plain,
       am.amname = 'gist' AND pg_get_expr(i.indexprs, i.indrelid)
         IS NOT DISTINCT FROM format('(%I)::geography', w.col) AS geography
FROM wanted w
JOIN pg_catalog.pg_index i ON i.indrelid = w.tab
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = c.relam
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] AND i.indkey[0] <> 0
WHERE i.indnatts = 1 AND i.indpred IS NULL
"""


@dataclass(frozen=True)
class ColumnIndexes:
    """A spatial column's indexes as the catalogue has them: ``plain``, one
    on the column itself; ``geography``, the names (``regclass`` text:
    quoted, and schema-qualified when needed) of its ``::geography``
    expression indexes, whatever they are called."""

    plain: bool
    geography: tuple[str, ...]


async def column_indexes(run: Any, qualified_table: str, column: str) -> ColumnIndexes:
    """Read ``column``'s indexes; ``run(sql, *args)`` returns rows (the
    placeholders appear in order: migrations bind them positionally)."""
    rows = await run(_COLUMN_INDEXES_SQL, qualified_table, column)
    return ColumnIndexes(
        plain=any(row["plain"] for row in rows),
        geography=tuple(str(row["name"]) for row in rows if row["geography"]),
    )


def drop_index_sql(regclass_name: str) -> str:
    """``DROP INDEX`` of a name the catalogue gave (already quoted)."""
    return f"DROP INDEX IF EXISTS {regclass_name}"


def geography_index_name(table: str, column: str) -> str:
    return f"{table}_{column}_geog"


def create_geography_index_sql(
    table: str, schema: str | None, column: str, if_not_exists: bool = True
) -> str:
    qualified = (
        f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
    )
    prefix = "CREATE INDEX IF NOT EXISTS" if if_not_exists else "CREATE INDEX"
    name = quote_ident(geography_index_name(table, column))
    return (
        f"{prefix} {name} ON {qualified} USING gist "
        f"(({quote_ident(column)}::geography))"
    )


def drop_geography_index_sql(table: str, schema: str | None, column: str) -> str:
    name = quote_ident(geography_index_name(table, column))
    return (
        f"DROP INDEX IF EXISTS {quote_ident(schema)}.{name}"
        if schema
        else (f"DROP INDEX IF EXISTS {name}")
    )


def geography_index_ddl(
    table: Any, columns: list[Any], if_not_exists: bool
) -> list[str]:
    """``CreateIndex`` hook: the expression index next to Piccolo's."""
    from pgext.postgis.columns import SpatialColumn

    if len(columns) != 1 or not isinstance(columns[0], SpatialColumn):
        return []
    column = columns[0]
    if not column.spatial_index or not is_lonlat_geometry(
        column.is_geography, column.srid
    ):
        return []
    return [
        create_geography_index_sql(
            seam.table_name(table),
            seam.table_schema(table),
            seam.column_name(column),
            if_not_exists,
        )
    ]
