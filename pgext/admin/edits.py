"""Writes from the map: create a row from a drawn geometry, move/reshape a
row's geometry, clear it, delete the row.  Every value is validated by the
column itself (:meth:`SpatialColumn.to_geometry`) before a statement is sent,
so invalid GeoJSON is a 400 and nothing is written.

Each write is what Piccolo Admin would do for the same change, and obeys the
admin's rules for it (:mod:`pgext.admin.rules`): drawing is a POST
(``post_single`` validators, ``pre_save`` hooks), moving or clearing a
geometry is a PATCH of that column (``patch_single``, ``pre_patch``),
deleting the row is a DELETE (``delete_single``, ``pre_delete``).  The
order: read-only refusal, unknown row (404, as ``PiccoloCRUD.detail`` checks
first), validators, the geometry, hooks, write.

A drawn row's other fields come in ``values``, checked by the table's
pydantic model (:mod:`pgext.admin.fields`); an edited shape is written only
if the row still has the version the page read (:mod:`pgext.admin.shapes`)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from piccolo.columns import Column
from pydantic import TypeAdapter, ValidationError

from pgext import seam
from pgext.admin import fields, shapes
from pgext.admin.errors import BadRequest, NotFound, TooLarge, database_refusal
from pgext.admin.registry import TableEntry
from pgext.admin.rules import TableRules
from pgext.errors import InvalidValue

MAX_BODY_BYTES = 1_000_000


async def read_body(request: Any) -> bytes:
    """The request body, refused (413) as soon as it passes the cap, so an
    oversized upload is never held in memory whole."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge(f"request body is above {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge(f"request body is above {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"request body is above {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("request body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest('request body must be a JSON object {"geometry": ...}')
    return body


def parse_pk(entry: TableEntry, raw: str) -> Any:
    value_type = getattr(entry.pk, "value_type", str)
    try:
        return TypeAdapter(value_type).validate_python(raw)
    except ValidationError:
        raise BadRequest(
            f"{raw[:40]!r} is not a valid primary key of {entry.name!r}"
        ) from None


def geometry_value(column: Column, body: dict[str, Any]) -> Any:
    """The body's ``geometry`` as a checked shapely geometry."""
    if "geometry" not in body:
        raise BadRequest('request body needs a "geometry" (a GeoJSON geometry)')
    value = body["geometry"]
    if value is None:
        raise BadRequest("geometry must not be null; use DELETE to clear it")
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict | str):
        raise BadRequest("geometry must be a GeoJSON object or text")
    try:
        return column.to_geometry(value)  # type: ignore[attr-defined]
    except InvalidValue as error:
        raise BadRequest(f"invalid geometry: {error}") from None


async def _require_row(entry: TableEntry, pk: Any) -> None:
    if not await entry.table.exists().where(entry.pk == pk):
        raise NotFound(f"{entry.name!r} has no row {pk!r}")


async def create(
    entry: TableEntry,
    column: Column,
    body: dict[str, Any],
    rules: TableRules,
    request: Any,
) -> Any:
    rules.writable()
    await rules.check("post_single", request)
    geometry = geometry_value(column, body)
    values = fields.validate(entry, column, body.get("values", {}))
    try:
        row = entry.table(**values, **{seam.column_name(column): geometry})
    except ValueError as error:
        # Piccolo's own refusal, e.g. a required column that was not given.
        raise BadRequest(f"the row is not complete: {error}") from None
    row = await rules.pre_save(row, request)
    try:
        await row.save()
    except asyncpg.PostgresError as error:
        raise database_refusal(error) from None
    return getattr(row, seam.column_name(entry.pk))


async def _patch(
    entry: TableEntry, pk: Any, values: dict[Any, Any], rules: TableRules, request: Any
) -> None:
    values = await rules.pre_patch(pk, values, request)
    try:
        rows = (
            await entry.table.update(values).where(entry.pk == pk).returning(entry.pk)
        )
    except asyncpg.PostgresError as error:
        raise database_refusal(error) from None
    if not rows:  # deleted since it was checked
        raise NotFound(f"{entry.name!r} has no row {pk!r}")


async def update(
    entry: TableEntry,
    column: Column,
    pk: Any,
    body: dict[str, Any],
    rules: TableRules,
    request: Any,
) -> list[Any]:
    """The editor's save: the whole geometry, checked against the version
    the page read (409 if the row changed since); returns the neighbours
    moved with it (:mod:`pgext.admin.shapes`)."""
    rules.writable()
    await _require_row(entry, pk)
    await rules.check("patch_single", request)
    geometry = geometry_value(column, body)
    version = shapes.parse_version(body)
    moves = shapes.parse_moves(body)
    joined = bool(body.get("joined"))
    return await shapes.save(
        entry, column, pk, geometry, version, joined, moves, rules, request
    )


async def clear(
    entry: TableEntry, column: Column, pk: Any, rules: TableRules, request: Any
) -> None:
    rules.writable()
    await _require_row(entry, pk)
    await rules.check("patch_single", request)
    if not seam.column_is_nullable(column):
        raise BadRequest(
            f"{seam.column_name(column)!r} is NOT NULL: delete the row instead of "
            "its geometry"
        )
    await _patch(entry, pk, {column: None}, rules, request)


async def delete_row(
    entry: TableEntry, pk: Any, rules: TableRules, request: Any
) -> None:
    rules.writable()
    await _require_row(entry, pk)
    await rules.check("delete_single", request)
    await rules.pre_delete(pk, request)
    try:
        await entry.table.delete().where(entry.pk == pk)
    except asyncpg.PostgresError as error:
        raise database_refusal(error) from None


async def read_row(entry: TableEntry, pk: Any) -> dict[str, Any]:
    """The row as JSON-ready values (through the table's pydantic model, so
    geometries come out as GeoJSON text)."""
    from piccolo.utils.pydantic import create_pydantic_model

    row = await entry.table.select().where(entry.pk == pk).first()
    if row is None:
        raise NotFound(f"{entry.name!r} has no row {pk!r}")
    # Like piccolo_api, never send columns declared secret=True.
    secret = tuple(
        c for c in seam.table_columns(entry.table) if seam.column_is_secret(c)
    )
    model = create_pydantic_model(
        entry.table, include_default_columns=True, exclude_columns=secret
    )
    data: dict[str, Any] = model.model_validate(row).model_dump(mode="json")
    return data
