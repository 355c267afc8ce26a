"""Lossless shape editing: the map's editor reads one feature at full
resolution with a version token, and writes the whole geometry back only if
the row still has that version.

The map *displays* simplified geometries (:mod:`pgext.admin.geo`); the
editor never edits those.  It fetches the stored geometry (WKB, so every
coordinate arrives as the exact double that is stored) and sends back what
the user changed; unchanged vertices go back bit for bit.

The version token is the md5 of the row's text: any change to the row since
the page read it (another user's edit, a script) changes it.  The check is
part of the ``UPDATE``'s ``WHERE``, so two saves cannot both pass it.

"Keep neighbours joined": the page also sends the vertices it moved (from ->
to); every other row of the table that has a vertex exactly at a moved
vertex's old place gets it moved too, in the same transaction.  That needs
the map's coordinates to be the stored ones (EPSG:4326 or no SRID).
"""

from __future__ import annotations

import math
import re
from typing import Any

import asyncpg
import numpy as np
import shapely
from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from shapely.geometry import mapping

from pgext import seam
from pgext.admin.errors import BadRequest, NotFound, WidgetError, database_refusal
from pgext.admin.registry import TableEntry
from pgext.admin.rules import TableRules
from pgext.identifiers import quote_ident

MAX_MOVES = 1000
# How far the map's display rounds a coordinate (geo.PRECISION digits), with
# a margin: a vertex snapped to a drawn neighbour is at most this far off.
SNAP = 1.5e-7
_TOKEN = re.compile(r"[0-9a-f]{32}")

Move = tuple[tuple[float, float], tuple[float, float]]


class Conflict(WidgetError):
    """The row changed since the page read it (409)."""

    status = 409


def version_sql(entry: TableEntry, row: str) -> str:
    """The version token of ``row`` (a table name or alias) in SQL: the md5
    of its columns' text, a change to any of them is a new version.  Columns
    declared ``secret=True`` are left out: a hash of a short secret next to
    the visible columns would give it away."""
    names = [
        f"{row}.{quote_ident(seam.column_name(c))}"
        for c in seam.table_columns(entry.table)
        if not seam.column_is_secret(c)
    ]
    return f"md5(CAST(ROW({', '.join(names)}) AS text))"


def _lonlat(entry: TableEntry, column: Column) -> str:
    quoted = entry.quoted(column)
    if getattr(column, "is_geography", False):
        return f"{quoted}::geometry"
    if int(column.srid) in (0, 4326):  # type: ignore[attr-defined]
        return quoted
    return f"ST_Transform({quoted}, 4326)"


def stores_lonlat(column: Column) -> bool:
    """Whether the map's coordinates are the stored ones."""
    return not getattr(column, "is_geography", False) and int(
        column.srid  # type: ignore[attr-defined]
    ) in (0, 4326)


async def read_feature(entry: TableEntry, column: Column, pk: Any) -> dict[str, Any]:
    """``{"id", "geometry", "version"}``: the stored geometry in lon/lat,
    unsimplified, as GeoJSON whose numbers are the stored doubles."""
    rows = await entry.table.raw(
        f"SELECT ST_AsBinary({_lonlat(entry, column)}) AS wkb, "
        f"{version_sql(entry, 't')} AS version "
        f"FROM {entry.sql_name} AS t WHERE {entry.quoted(entry.pk)} = {{}}",
        pk,
    )
    if not rows:
        raise NotFound(f"{entry.name!r} has no row {pk!r}")
    wkb = rows[0]["wkb"]
    geometry = mapping(shapely.from_wkb(bytes(wkb))) if wkb is not None else None
    return {"id": pk, "geometry": geometry, "version": rows[0]["version"]}


async def current_version(entry: TableEntry, pk: Any) -> str | None:
    """The row's version now (None if it is gone)."""
    rows = await entry.table.raw(
        f"SELECT {version_sql(entry, 't')} AS version FROM {entry.sql_name} AS t "
        f"WHERE {entry.quoted(entry.pk)} = {{}}",
        pk,
    )
    return str(rows[0]["version"]) if rows else None


def parse_version(body: dict[str, Any]) -> str | None:
    version = body.get("version")
    if version is None:
        return None
    if not isinstance(version, str) or not _TOKEN.fullmatch(version):
        raise BadRequest("version must be the 32 hex digits the feature was read with")
    return version


def _point(value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) < 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2]
        )
        or not all(math.isfinite(v) for v in value[:2])
    ):
        raise BadRequest("each move is [[x, y], [x, y]] with finite numbers")
    return float(value[0]), float(value[1])


def parse_moves(body: dict[str, Any]) -> list[Move]:
    """The vertices the page moved, when it asks to keep neighbours joined."""
    if not body.get("joined"):
        return []
    moves = body.get("moves", [])
    if not isinstance(moves, list):
        raise BadRequest("moves must be a list of [[x, y], [x, y]]")
    if len(moves) > MAX_MOVES:
        raise BadRequest(f"at most {MAX_MOVES} moved vertices per save")
    parsed: list[Move] = []
    for move in moves:
        if not isinstance(move, list | tuple) or len(move) != 2:
            raise BadRequest("each move is [[x, y], [x, y]] with finite numbers")
        parsed.append((_point(move[0]), _point(move[1])))
    return parsed


def _conflict(entry: TableEntry, pk: Any) -> Conflict:
    return Conflict(
        f"row {pk} of {entry.name!r} was changed by someone else after this page "
        "loaded it; nothing was saved. Reload to see the change, then edit again."
    )


async def _exists(entry: TableEntry, pk: Any) -> bool:
    return bool(await entry.table.exists().where(entry.pk == pk))


async def write(
    entry: TableEntry,
    column: Column,
    pk: Any,
    values: dict[Any, Any],
    version: str | None,
    rules: TableRules,
    request: Any,
) -> None:
    """``UPDATE`` of ``pk`` with ``values``, only while the row has
    ``version`` (None: no check); 409 if it has another one."""
    values = await rules.pre_patch(pk, values, request)
    key = await _distribution_column(entry) if version is not None else None
    if key is not None:
        assert version is not None
        await _write_distributed(entry, key, pk, values, version)
        return
    query = entry.table.update(values).where(entry.pk == pk)
    if version is not None:
        whole_row = quote_ident(seam.table_name(entry.table))
        query = query.where(
            WhereRaw(f"{version_sql(entry, whole_row)} = {{}}", version)
        )
    try:
        rows = await query.returning(entry.pk)
    except asyncpg.PostgresError as error:
        raise database_refusal(error) from None
    if not rows:
        if await _exists(entry, pk):
            raise _conflict(entry, pk)
        raise NotFound(f"{entry.name!r} has no row {pk!r}")


async def _distribution_column(entry: TableEntry) -> str | None:
    """The distribution column when the table is hash-distributed by Citus,
    else None."""
    engine = seam.table_engine(entry.table)
    # Only PgextEngine knows (cached) whether the server runs Citus; other
    # engines take the plain path.
    if not hasattr(engine, "capabilities"):
        return None
    if (await engine.capabilities()).citus is None:
        return None
    # Imported here, not above: importing pgext.citus hooks it into Piccolo's
    # writes, which only an application on Citus wants.
    from pgext.citus.apply import distribution_column_on_server

    return await distribution_column_on_server(entry.sql_name, engine)


async def _write_distributed(
    entry: TableEntry, key: str, pk: Any, values: dict[Any, Any], version: str
) -> None:
    """The version-checked write on a Citus hash-distributed table.  Citus
    refuses the version's row-to-text cast (a STABLE function on columns) in
    an UPDATE's WHERE, and FOR UPDATE unless the query names the
    distribution value: so the row's distribution value is read, the row
    locked by it, its version compared here and the UPDATE sent, in one
    transaction -- two saves still cannot both pass."""
    table = entry.table
    column = quote_ident(key)
    pk_name = entry.quoted(entry.pk)
    try:
        async with seam.table_engine(table).transaction():
            rows = await table.raw(
                f"SELECT {column} AS k FROM {entry.sql_name} WHERE {pk_name} = {{}}",
                pk,
            )
            if not rows:
                raise NotFound(f"{entry.name!r} has no row {pk!r}")
            shard_key = rows[0]["k"]
            locked = await table.raw(
                f"SELECT {version_sql(entry, 't')} AS version "
                f"FROM {entry.sql_name} AS t WHERE t.{pk_name} = {{}} "
                f"AND t.{column} = {{}} FOR UPDATE",
                pk,
                shard_key,
            )
            if not locked or locked[0]["version"] != version:
                raise _conflict(entry, pk)
            await (
                table.update(values)
                .where(entry.pk == pk)
                .where(WhereRaw(f"{column} = {{}}", shard_key))
            )
    except asyncpg.PostgresError as error:
        raise database_refusal(error) from None


async def _locked(
    entry: TableEntry, column: Column, where: str, *args: Any
) -> list[dict[str, Any]]:
    """``{"pk", "g"}`` of the rows matching ``where`` (``{}`` placeholders),
    locked until the transaction ends.  Citus runs ``FOR UPDATE`` on a
    hash-distributed table only when the query names one distribution
    value: there the rows are found first, then each locked by its own."""
    pk, shape, rel = entry.quoted(entry.pk), entry.quoted(column), entry.sql_name
    key = await _distribution_column(entry)
    if key is None:
        found: list[dict[str, Any]] = await entry.table.raw(
            f"SELECT {pk} AS pk, {shape} AS g FROM {rel} WHERE {where} FOR UPDATE",
            *args,
        )
        return found
    k = quote_ident(key)
    rows = await entry.table.raw(
        f"SELECT {pk} AS pk, {k} AS k FROM {rel} WHERE {where}", *args
    )
    locked: list[dict[str, Any]] = []
    for row in rows:
        locked += await entry.table.raw(
            f"SELECT {pk} AS pk, {shape} AS g FROM {rel} "
            f"WHERE {pk} = {{}} AND {k} = {{}} FOR UPDATE",
            row["pk"],
            row["k"],
        )
    return locked


async def _stored(entry: TableEntry, column: Column, pk: Any) -> Any:
    rows = await _locked(entry, column, f"{entry.quoted(entry.pk)} = {{}}", pk)
    return rows[0]["g"] if rows else None


def _moved(geometry: Any, moves: list[Move]) -> Any:
    """``geometry`` with every vertex exactly at a move's start put at its end
    (None when none is)."""
    has_z = bool(shapely.has_z(geometry))
    coords = shapely.get_coordinates(geometry, include_z=has_z)
    changed = False
    for (fx, fy), (tx, ty) in moves:
        at = (coords[:, 0] == fx) & (coords[:, 1] == fy)
        if at.any():
            coords[at, 0] = tx
            coords[at, 1] = ty
            changed = True
    if not changed:
        return None
    return shapely.set_srid(
        shapely.set_coordinates(geometry, coords), shapely.get_srid(geometry)
    )


async def _neighbours(
    entry: TableEntry, column: Column, pk: Any, box: tuple[float, ...]
) -> list[dict[str, Any]]:
    """The other rows whose shape meets ``box`` (west, south, east, north),
    locked until the transaction ends."""
    return await _locked(
        entry,
        column,
        f"{entry.quoted(entry.pk)} <> {{}} "
        f"AND {entry.quoted(column)} && ST_MakeEnvelope({{}}, {{}}, {{}}, "
        f"{{}}, {int(column.srid)})",  # type: ignore[attr-defined]
        pk,
        *box,
    )


async def _snapped(
    entry: TableEntry, column: Column, pk: Any, geometry: Any, before: Any
) -> Any:
    """``geometry`` with each vertex the user placed (one the stored shape
    does not have) that lies on a neighbour's vertex, as far as the display
    shows it, put exactly on that vertex: the display rounds coordinates to
    ``SNAP``, so a vertex snapped to a drawn neighbour is off by that much."""
    old = set(map(tuple, shapely.get_coordinates(before).tolist())) if before else set()
    has_z = bool(shapely.has_z(geometry))
    coords = shapely.get_coordinates(geometry, include_z=has_z)
    placed = [i for i, c in enumerate(coords[:, :2].tolist()) if tuple(c) not in old]
    if not placed:
        return geometry
    west, south, east, north = shapely.bounds(geometry).tolist()
    box = (west - SNAP, south - SNAP, east + SNAP, north + SNAP)
    rows = await _neighbours(entry, column, pk, box)
    others = [shapely.get_coordinates(r["g"]) for r in rows if r["g"] is not None]
    if not others:
        return geometry
    targets = np.unique(np.concatenate(others), axis=0)
    tree = shapely.STRtree(shapely.points(targets))
    mine, theirs = tree.query_nearest(
        shapely.points(coords[placed, :2]), max_distance=SNAP, all_matches=False
    )
    if not len(mine):
        return geometry
    index = np.asarray(placed)[mine]
    coords[index, 0] = targets[theirs, 0]
    coords[index, 1] = targets[theirs, 1]
    return shapely.set_srid(
        shapely.set_coordinates(geometry, coords), shapely.get_srid(geometry)
    )


async def save(
    entry: TableEntry,
    column: Column,
    pk: Any,
    geometry: Any,
    version: str | None,
    joined: bool,
    moves: list[Move],
    rules: TableRules,
    request: Any,
) -> list[Any]:
    """Write the edited ``geometry`` (version-checked).  ``joined``: its
    placed vertices that lie on a neighbour's vertex join it exactly, and
    the neighbours sharing a vertex of ``moves`` move with it; all or
    nothing.  Returns the primary keys of the neighbours that moved."""
    if not joined:
        await write(entry, column, pk, {column: geometry}, version, rules, request)
        return []
    if not stores_lonlat(column):
        raise BadRequest(
            f"keeping neighbours joined needs {seam.column_name(column)!r} in "
            "EPSG:4326 (the map's coordinates)"
        )
    moved: list[Any] = []
    async with seam.table_engine(entry.table).transaction():
        before = await _stored(entry, column, pk)
        if before is None and not await _exists(entry, pk):
            raise NotFound(f"{entry.name!r} has no row {pk!r}")
        # Only vertices of the stored shape may drag others along.
        own = (
            set(map(tuple, shapely.get_coordinates(before).tolist()))
            if before
            else set()
        )
        moves = [m for m in moves if m[0] in own]
        geometry = await _snapped(entry, column, pk, geometry, before)
        await write(entry, column, pk, {column: geometry}, version, rules, request)
        for fx, fy in {m[0] for m in moves}:
            for row in await _neighbours(entry, column, pk, (fx, fy, fx, fy)):
                if row["pk"] in moved:
                    continue
                shifted = _moved(row["g"], moves)
                if shifted is not None:
                    await write(
                        entry,
                        column,
                        row["pk"],
                        {column: shifted},
                        None,
                        rules,
                        request,
                    )
                    moved.append(row["pk"])
    return moved
