"""Form editors of geometry columns: how a map in a row form lets people
change the value.

A geometry column's JSON schema says *that* it is a map
(``x-widget: map``, :mod:`pgext.postgis.pydantic`); :func:`map_editor` adds
*how* to edit it, as ``x-editor`` in the same schema:

* ``"location"``: a point picker (click the map to place, drag to move);
  the default for ``Point`` columns.
* ``"box"``: a rectangle tool (drag a box); for ``Polygon`` columns holding
  extents such as a bounding box or a search area.
* ``"shape"``: free drawing of the column's geometry type; the default for
  every other column.

The hint is display only: it lives in the column's ``value_type`` (what
Piccolo's ``create_pydantic_model`` reads), never in the column's
parameters, so migrations do not see it and changing it needs none::

    class Venue(Table):
        location = Geometry("Point", srid=4326)
        area = map_editor(Geometry("Polygon", srid=4326), "box")
"""

from __future__ import annotations

from typing import Any, TypeVar

from pgext.errors import InvalidValue

__all__ = ["EDITORS", "EDITOR_KEY", "default_editor", "map_editor"]

EDITOR_KEY = "x-editor"
EDITORS = ("location", "box", "shape")

# Which declared geometry types each editor can produce.
_FITS = {
    "location": ("Point", "Geometry"),
    "box": ("Polygon", "MultiPolygon", "Geometry"),
    "shape": None,  # any
}

C = TypeVar("C")


def default_editor(geometry_type: str) -> str:
    return "location" if geometry_type == "Point" else "shape"


def map_editor(column: C, editor: str) -> C:
    """Declare how ``column`` (a pgext ``Geometry`` / ``Geography``) is
    edited in forms; returns the column, so it can wrap the declaration."""
    value_type: Any = getattr(column, "value_type", None)
    spec = getattr(value_type, "spec", None)
    if spec is None:
        raise InvalidValue(
            f"map_editor needs a pgext Geometry or Geography column, "
            f"got {type(column).__name__}"
        )
    if editor not in EDITORS:
        raise InvalidValue(f"editor must be one of {EDITORS}, got {editor!r}")
    fits = _FITS[editor]
    if fits is not None and spec.geometry_type not in fits:
        raise InvalidValue(
            f"a {editor!r} editor makes {fits[0]} values; the column holds "
            f"{spec.geometry_type}"
        )
    base = getattr(value_type, "base_type", value_type)
    schema = dict(getattr(base, "extra_schema", {}))
    schema[EDITOR_KEY] = editor
    # A subclass per column: the hint must not leak to other columns that
    # share the declaration's GeoJSON type.
    column.value_type = type(  # type: ignore[attr-defined]
        f"{base.__name__}{editor.title()}",
        (base,),
        {"__slots__": (), "extra_schema": schema, "base_type": base},
    )
    return column
