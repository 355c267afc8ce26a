"""The form a drawn feature opens before its row is written: the table's
other fields, described from the table's pydantic model (the one Piccolo
Admin's forms come from), and the values a user typed, validated by that
model so a bad value is a 400 that names the field."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.utils.pydantic import create_pydantic_model
from pydantic import BaseModel, ValidationError

from pgext import seam
from pgext.admin.errors import BadRequest
from pgext.admin.registry import TableEntry

MAX_FIELDS = 200


def _model(entry: TableEntry, column: Column) -> type[BaseModel]:
    # The drawn geometry is set from the map, not typed in the form.
    return create_pydantic_model(entry.table, exclude_columns=(column,))


def _type(schema: dict[str, Any]) -> tuple[str, bool]:
    """The JSON type of a property, and whether it accepts null."""
    options = schema.get("anyOf", [schema])
    types = [o.get("type") for o in options]
    nullable = "null" in types
    named = [t for t in types if t and t != "null"]
    return (named[0] if named else "string"), nullable


def describe(entry: TableEntry, column: Column) -> list[dict[str, Any]]:
    """The form's fields, in the table's column order: ``name``, ``type``
    (``string``, ``integer``, ``number``, ``boolean``), ``required``,
    ``nullable``, ``default``, ``maxLength``, ``choices``, ``secret``."""
    schema = _model(entry, column).model_json_schema()
    required = set(schema.get("required", []))
    secret = {
        seam.column_name(c)
        for c in seam.table_columns(entry.table)
        if seam.column_is_secret(c)
    }
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind, nullable = _type(prop)
        if kind not in ("string", "integer", "number", "boolean"):
            continue  # arrays and objects are the admin's own form's job
        options = prop.get("anyOf", [prop])
        length = next((o["maxLength"] for o in options if "maxLength" in o), None)
        choices = (prop.get("extra") or {}).get("choices")
        fields.append(
            {
                "name": name,
                "label": prop.get("title", name),
                "type": kind,
                "required": name in required,
                "nullable": nullable,
                "default": prop.get("default"),
                "maxLength": length,
                "choices": choices,
                # Typed like a password, as in the admin's own form.
                "secret": name in secret,
            }
        )
    return fields


def validate(entry: TableEntry, column: Column, raw: Any) -> dict[str, Any]:
    """The submitted ``values`` as Python values for the row; 400 naming
    each field that is missing or wrong."""
    if not isinstance(raw, dict):
        raise BadRequest("values must be a JSON object {column: value}")
    if len(raw) > MAX_FIELDS:
        raise BadRequest("too many values")
    names = {seam.column_name(c) for c in seam.table_columns(entry.table)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise BadRequest(f"{entry.name!r} has no column {unknown[0][:60]!r}")
    model = _model(entry, column)
    try:
        parsed = model.model_validate(raw)
    except ValidationError as error:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'values'}: {e['msg']}"
            for e in error.errors()
        )
        raise BadRequest(f"invalid values: {reasons}") from None
    # Only what was sent: the columns' own defaults fill in the rest.
    return parsed.model_dump(exclude_unset=True)
