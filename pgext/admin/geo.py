"""*How* the map widget reads its rows: one SQL statement per request that
returns a finished GeoJSON FeatureCollection as text.

A request names a bounding box and a zoom level.  The server first counts the
rows whose bounding box overlaps the view, stopping at the cap (an
index-assisted ``&&`` with ``LIMIT cap + 1``, so a view over millions of rows
costs no more than ``cap`` index entries).  Then:

* up to ``cap`` rows: one Feature per row, id = primary key, geometries in
  EPSG:4326 and simplified to about one pixel at that zoom (lines and
  polygons only: points have nothing to simplify);
* more: clusters, one Point per cell of a grid laid over the view, with
  ``{"cluster": true, "count": n}``; the client zooms in to see rows.

Either way the response carries ``"pgext": {"mode": ..., "count": ...}`` (a
GeoJSON foreign member) so the client can say what it is showing.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column, Text, Varchar

from pgext import seam
from pgext.admin.params import BBox
from pgext.admin.registry import TableEntry
from pgext.admin.shapes import version_sql

# Cluster cells are this many screen pixels wide; a bubble is at most
# CLUSTER_BUBBLE pixels across (map.js sizes them), so bubbles of
# neighbouring cells cannot overlap.
CLUSTER_CELL = 80
CLUSTER_BUBBLE = 40
# Decimal digits of coordinates sent to the browser (~1 cm at the equator).
PRECISION = 7


def _geometry_4326(entry: TableEntry, column: Column) -> str:
    """The column as a lon/lat geometry, in SQL."""
    quoted = entry.quoted(column)
    if getattr(column, "is_geography", False):
        return f"{quoted}::geometry"
    if column.srid in (0, 4326):  # type: ignore[attr-defined]
        return quoted
    return f"ST_Transform({quoted}, 4326)"


def _envelope(column: Column) -> str:
    """The view ($1..$4) in the column's own type and SRID, so ``&&`` can use
    the column's GiST index."""
    envelope = "ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 4326)"
    if getattr(column, "is_geography", False):
        return f"{envelope}::geography"
    srid = int(column.srid)  # type: ignore[attr-defined]
    if srid in (0, 4326):
        return envelope if srid else f"ST_SetSRID({envelope}, 0)"
    return f"ST_Transform({envelope}, {srid})"


def label_column(entry: TableEntry) -> Column | None:
    """The first text column, shown as a feature's label; never a column
    declared ``secret=True`` (the admin's API never sends those either)."""
    for column in seam.table_columns(entry.table):
        if isinstance(column, Varchar | Text) and not seam.column_is_secret(column):
            return column
    return None


def count_sql(entry: TableEntry, column: Column) -> str:
    """Rows in view, counting at most ``$5`` (cap + 1)."""
    return (
        f"SELECT count(*) AS n FROM (SELECT 1 FROM {entry.sql_name} "
        f"WHERE {entry.quoted(column)} && {_envelope(column)} LIMIT $5) AS v"
    )


def features_sql(entry: TableEntry, column: Column) -> str:
    """Features in view; ``$5`` limit, ``$6`` simplification tolerance (deg)."""
    geometry = _geometry_4326(entry, column)
    if column.geometry_type not in ("Point", "MultiPoint"):  # type: ignore[attr-defined]
        geometry = f"ST_SimplifyPreserveTopology({geometry}, $6::float8)"
    label = label_column(entry)
    label_sql = f"{entry.quoted(label)}::text" if label is not None else "NULL"
    pk = entry.quoted(entry.pk)
    return (
        "SELECT json_build_object('type', 'FeatureCollection', "
        "'pgext', json_build_object('mode', 'features', 'count', count(*)), "
        "'features', COALESCE(json_agg(f.feature), '[]'::json))::text AS geojson "
        "FROM (SELECT json_build_object('type', 'Feature', "
        f"'id', {pk}, "
        f"'geometry', ST_AsGeoJSON({geometry}, {PRECISION})::json, "
        f"'properties', json_build_object('label', {label_sql}, "
        # The row's version (pgext.admin.shapes): a dragged point is saved
        # only if its row is still what the page showed.
        f"'version', {version_sql(entry, 't')})) AS feature "
        f"FROM {entry.sql_name} AS t "
        f"WHERE {entry.quoted(column)} && {_envelope(column)} "
        f"AND $6::float8 >= 0 ORDER BY {pk} LIMIT $5) AS f"
    )


def _clamped(axis: str) -> str:
    """The mean of the cell's rows on ``axis``, kept ``$6`` inside the cell."""
    cell = f"floor(m.{axis} / $5::float8)"
    return (
        f"greatest({cell} * $5::float8 + $6::float8, "
        f"least(({cell} + 1) * $5::float8 - $6::float8, avg(m.{axis})))"
    )


def clusters_sql(entry: TableEntry, column: Column) -> str:
    """Grid clusters in view, on a grid of screen pixels: x and y are Web
    Mercator in 0..1 (the map's own projection), ``$5`` the cell and ``$6``
    the margin (a bubble's radius) in those units.  A bubble sits at its
    rows' mean, kept inside its own cell by the margin, so two bubbles are
    never closer than two radii: they cannot overlap at any zoom."""
    geometry = _geometry_4326(entry, column)
    if column.geometry_type != "Point":  # type: ignore[attr-defined]
        geometry = f"ST_PointOnSurface({geometry})"
    mercator = (
        "SELECT (ST_X(q.g) + 180.0) / 360.0 AS x, "
        "(1.0 - ln(tan(radians(45.0 + q.lat / 2.0))) / pi()) / 2.0 AS y "
        "FROM (SELECT g, greatest(-85.05, least(85.05, ST_Y(g))) AS lat "
        f"FROM (SELECT {geometry} AS g FROM {entry.sql_name} "
        f"WHERE {entry.quoted(column)} && {_envelope(column)}) AS r "
        "WHERE g IS NOT NULL AND NOT ST_IsEmpty(g)) AS q"
    )
    cells = (
        f"SELECT count(*) AS n, {_clamped('x')} AS x, {_clamped('y')} AS y "
        f"FROM ({mercator}) AS m "
        "GROUP BY floor(m.x / $5::float8), floor(m.y / $5::float8)"
    )
    return (
        "SELECT json_build_object('type', 'FeatureCollection', "
        "'pgext', json_build_object('mode', 'clusters', "
        "'count', COALESCE(sum(c.n), 0)), "
        "'features', COALESCE(json_agg(json_build_object('type', 'Feature', "
        "'geometry', json_build_object('type', 'Point', 'coordinates', "
        f"json_build_array(round((c.x * 360.0 - 180.0)::numeric, {PRECISION}), "
        "round(degrees(atan(sinh(pi() * (1.0 - 2.0 * c.y))))::numeric, "
        f"{PRECISION}))), "
        "'properties', json_build_object('cluster', true, 'count', c.n))), "
        "'[]'::json))::text AS geojson "
        f"FROM ({cells}) AS c"
    )


# Below this many rows (planner estimate) the exact extent is cheap enough.
EXACT_EXTENT_ROWS = 200_000


async def extent(
    entry: TableEntry, column: Column
) -> tuple[float, float, float, float] | None:
    """Where the rows are, in lon/lat, to open the map there: PostGIS's
    statistics-based estimate (instant, needs ANALYZE), else the exact
    extent on tables small enough; None for an empty table."""
    name = seam.column_name(column)
    table = seam.table_name(entry.table)
    schema = seam.table_schema(entry.table) or "public"
    engine = seam.table_engine(entry.table)
    geometry = _geometry_4326(entry, column)
    async with engine.connection() as conn:
        box = None
        if int(column.srid) in (0, 4326) and not getattr(  # type: ignore[attr-defined]
            column, "is_geography", False
        ):
            box = await conn.fetchrow(
                "SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, "
                "ST_YMax(e) AS n FROM (SELECT ST_EstimatedExtent($1, $2, $3) AS e) x",
                schema,
                table,
                name,
            )
        if box is None or box["w"] is None:
            rows = await conn.fetchval(
                "SELECT reltuples FROM pg_class WHERE oid = $1::regclass",
                entry.sql_name,
            )
            if rows is not None and rows > EXACT_EXTENT_ROWS:
                return None
            box = await conn.fetchrow(
                "SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, "
                f"ST_YMax(e) AS n FROM (SELECT ST_Extent({geometry}) AS e "
                f"FROM {entry.sql_name}) x"
            )
    if box is None or box["w"] is None:
        return None
    return (float(box["w"]), float(box["s"]), float(box["e"]), float(box["n"]))


def tolerance(zoom: int) -> float:
    """About one screen pixel in degrees at ``zoom`` (256-pixel tiles)."""
    return 360.0 / (256.0 * 2.0**zoom)


async def features(
    entry: TableEntry, column: Column, view: BBox, zoom: int, limit: int
) -> str:
    """The FeatureCollection text for ``view`` (see the module docstring)."""
    engine = seam.table_engine(entry.table)
    async with engine.connection() as conn:
        count = await conn.fetchval(count_sql(entry, column), *view, limit + 1)
        if count <= limit:
            text = await conn.fetchval(
                features_sql(entry, column), *view, limit, tolerance(zoom)
            )
        else:
            world = 256.0 * 2.0**zoom  # the map's width in pixels
            cell = CLUSTER_CELL / world
            margin = CLUSTER_BUBBLE / 2 / world
            text = await conn.fetchval(clusters_sql(entry, column), *view, cell, margin)
    return str(text)


def admin_url(admin_path: str, entry: TableEntry, pk: Any) -> str:
    """The row's edit page in Piccolo Admin (its Vue router uses hash
    history: ``/admin/#/<table>/<id>/``)."""
    return f"{admin_path.rstrip('/')}/#/{entry.name}/{pk}/"
