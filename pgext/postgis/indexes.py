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
column.  Its name is ``<table>_<column>_geog``.
"""

from __future__ import annotations

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
