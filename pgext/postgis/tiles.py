"""Mapbox vector tiles (MVT) for a z/x/y tile, built by PostGIS.

``ST_TileEnvelope`` gives the tile's Web Mercator square, rows whose
geometry's bounding box overlaps it are picked through the column's index,
``ST_AsMVTGeom`` clips and quantises their geometry to tile coordinates and
``ST_AsMVT`` encodes the layer; Python receives the finished protobuf::

    data = await vector_tile(Shop, Shop.location, z, x, y,
                             properties=[Shop.name], layer="shops")
    return Response(data, media_type="application/vnd.mapbox-vector-tile")

z/x/y are checked before any SQL (``0 <= x, y < 2**z``, ``0 <= z <= 30``).
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString
from piccolo.table import Table

from pgext import seam
from pgext.postgis.geojson import Properties, normalise_properties
from pgext.postgis.operands import safe_alias
from pgext.postgis.queries import SpatialQueries
from pgext.postgis.query_errors import InvalidTile, SpatialQueryError

__all__ = ["MAX_ZOOM", "check_tile", "vector_tile", "vector_tile_query"]

MAX_ZOOM = 30
WEB_MERCATOR = 3857
_GEOM = "mvt_geom"


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTile(f"{what} must be an int, got {value!r}")
    return value


def check_tile(z: Any, x: Any, y: Any) -> tuple[int, int, int]:
    """``(z, x, y)`` if it names a tile, else :class:`InvalidTile`."""
    z, x, y = _int(z, "z"), _int(x, "x"), _int(y, "y")
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidTile(f"z must be in 0..{MAX_ZOOM}, got {z}")
    size = 1 << z
    if not (0 <= x < size and 0 <= y < size):
        raise InvalidTile(f"x and y must be in 0..{size - 1} at zoom {z}, got {x}/{y}")
    return z, x, y


def vector_tile_query(
    table: type[Table],
    geometry: Column,
    z: int,
    x: int,
    y: int,
    properties: Properties = (),
    *,
    layer: str | None = None,
    where: Combinable | None = None,
    extent: int = 4096,
    buffer: int = 64,
    limit: int | None = None,
) -> QueryString:
    """The SQL of :func:`vector_tile` (one row, one column ``tile``)."""
    z, x, y = check_tile(z, x, y)
    if not isinstance(geometry, SpatialQueries):
        raise SpatialQueryError(f"{geometry!r} is not a spatial column")
    info = geometry._spatial()
    extent = _int(extent, "extent")
    buffer = _int(buffer, "buffer")
    if not 256 <= extent <= 1 << 16:
        raise InvalidTile(f"extent must be in 256..65536, got {extent}")
    if not 0 <= buffer <= extent:
        raise InvalidTile(f"buffer must be in 0..extent, got {buffer}")
    layer = seam.table_name(table) if layer is None else layer
    if not isinstance(layer, str) or not layer:
        raise InvalidTile("layer must be a non-empty str")
    items = normalise_properties(properties)
    if any(key == _GEOM for key, _ in items):
        raise SpatialQueryError(f"{_GEOM!r} is reserved for the tile geometry")

    def envelope() -> QueryString:
        # The margin makes features just outside the tile count, so lines
        # and labels continue across tile edges.
        return QueryString(
            "ST_TileEnvelope({}::int4, {}::int4, {}::int4, margin => {}::float8)",
            z,
            x,
            y,
            buffer / extent,
        )

    source: Any = geometry
    if info.is_geography:
        source = QueryString("{}::geometry", geometry)
    if info.srid != WEB_MERCATOR:
        source = QueryString("ST_Transform({}, 3857)", source)
    mvt_geometry = QueryString(
        "ST_AsMVTGeom({}, ST_TileEnvelope({}::int4, {}::int4, {}::int4), "
        "{}::int4, {}::int4, true)",
        source,
        z,
        x,
        y,
        extent,
        buffer,
        alias=_GEOM,
    )
    # Filter in the column's own SRID and type so its GiST index applies.
    area: Any = envelope()
    if info.srid != WEB_MERCATOR:
        # The margin can reach past the antimeridian, where the transform
        # would wrap the box around the world; clip it to the world first.
        area = QueryString(
            "ST_Transform(ST_ClipByBox2D({}, ST_TileEnvelope(0, 0, 0)::box2d), "
            "{}::int4)",
            area,
            info.srid,
        )
    if info.is_geography:
        area = QueryString("{}::geography", area)
    columns: list[Any] = [mvt_geometry]
    for key, value in items:
        # Attribute names become select aliases here (not parameters).
        safe_alias(key)
        if isinstance(value, Column):
            columns.append(value.as_alias(key))
        else:
            columns.append(QueryString("{}", value, alias=key))
    query = table.select(*columns).where(geometry.bbox_overlaps(area))
    if where is not None:
        query = query.where(where)
    if limit is not None:
        query = query.limit(_int(limit, "limit"))
    # A MATERIALIZED CTE rather than a subquery: on a Citus distributed
    # table the rows are then computed on the shards and aggregated on the
    # coordinator from a typed result (over a plain subquery, a prepared
    # ST_AsMVT found "no geometry column"); on one node it costs the same.
    return QueryString(
        "WITH t AS MATERIALIZED ({}) "
        "SELECT COALESCE(ST_AsMVT(t.*, {}::text, {}::int4, '" + _GEOM + "'), "
        '\'\'::bytea) AS "tile" FROM t WHERE t."' + _GEOM + '" IS NOT NULL',
        query.querystrings[0],
        layer,
        extent,
    )


async def vector_tile(
    table: type[Table],
    geometry: Column,
    z: int,
    x: int,
    y: int,
    properties: Properties = (),
    *,
    layer: str | None = None,
    where: Combinable | None = None,
    extent: int = 4096,
    buffer: int = 64,
    limit: int | None = None,
    engine: Any = None,
) -> bytes:
    """The MVT tile z/x/y of ``table`` (one layer) as bytes; ``b""`` when no
    row falls in the tile.

    :param properties: columns or expressions that become feature attributes
        (as for :func:`~pgext.postgis.geojson.feature_collection`).
    :param layer: the layer name (default: the table name).
    :param extent: tile coordinate resolution; :param buffer: in those units.
    """
    querystring = vector_tile_query(
        table,
        geometry,
        z,
        x,
        y,
        properties,
        layer=layer,
        where=where,
        extent=extent,
        buffer=buffer,
        limit=limit,
    )
    engine = engine or seam.table_engine(table)
    rows = await engine.run_querystring(querystring)
    return bytes(rows[0]["tile"])
