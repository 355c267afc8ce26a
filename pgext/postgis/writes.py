"""Spatial values of Piccolo's INSERT and UPDATE: checked, then encoded once.

Piccolo binds a row's values one at a time (``convert_to_sql_value``, where
pgext's column hook runs).  Checking a shapely geometry against its column
and encoding it there one by one costs a dozen scalar shapely calls a value,
each paying numpy's per-call overhead: more than Piccolo's own per-row work
(issue 20).  So:

* :func:`prepare_insert` (an insert hook of :mod:`pgext.seam`) sees all rows
  of an INSERT first and checks and encodes each spatial column's shapely
  values with :func:`~pgext.postgis.arrays.check_array` and one
  ``shapely.to_wkb``, the way bulk COPY does; the column hook then only looks
  the ready EWKB up.
* a value the insert hook did not prepare (an UPDATE, a single row, text
  input) goes through :func:`encode_value`: parsed and checked once, encoded
  once.  The hook returns EWKB ``bytes``, which the binary codec sends as
  they are, so nothing is encoded twice.

When a column's batch holds a bad value nothing is prepared for it: the
per-value path refuses the value with the error naming its row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from pgext import seam
from pgext.postgis.arrays import check_array
from pgext.postgis.codec import encode_array
from pgext.postgis.errors import InvalidGeometry

if TYPE_CHECKING:
    from pgext.postgis.columns import SpatialColumn

# (id(column), id(value)) -> (value, EWKB).  The value is kept beside its
# encoding so an id reused by another object can never match.
Prepared = dict[tuple[int, int], tuple[Any, bytes]]
_PREPARED: ContextVar[Prepared | None] = ContextVar("pgext_prepared_ewkb", default=None)

# Below this many geometries per column the per-value path is as quick; an
# INSERT of fewer rows does not even call the hook.
MIN_BATCH = 8


def prepared_value(column: SpatialColumn, value: Any) -> bytes | None:
    """The EWKB the running INSERT's batch made for ``value``, or None."""
    prepared = _PREPARED.get()
    if prepared is not None:
        hit = prepared.get((id(column), id(value)))
        if hit is not None and hit[0] is value:
            return hit[1]
    return None


def encode_value(column: SpatialColumn, value: Any) -> bytes:
    """``value`` checked against ``column`` and encoded as EWKB: from the
    INSERT's prepared batch when there is one, else on its own."""
    ready = prepared_value(column, value)
    if ready is not None:
        return ready
    geometry = column.to_geometry(value)
    data: bytes = shapely.to_wkb(geometry, include_srid=True, output_dimension=4)
    return data


def prepare_insert(table: Any, rows: Sequence[Any]) -> Callable[[], None] | None:
    """Insert hook: encode the shapely values of every spatial column of
    ``rows`` in one go (see the module docstring)."""
    from pgext.engine import PgextEngine
    from pgext.postgis.columns import SpatialColumn

    if len(rows) < MIN_BATCH or not isinstance(seam.table_engine(table), PgextEngine):
        return None  # the per-value path (and its engine check) does the rest
    prepared: Prepared = {}
    for column in seam.table_columns(table):
        if isinstance(column, SpatialColumn):
            _prepare_column(column, rows, prepared)
    if not prepared:
        return None
    token = _PREPARED.set(prepared)
    return lambda: _PREPARED.reset(token)


def _prepare_column(column: SpatialColumn, rows: Sequence[Any], into: Prepared) -> None:
    attribute = seam.column_attribute(column)
    values = [
        value
        for row in rows
        if isinstance(value := row.__dict__.get(attribute), BaseGeometry)
    ]
    if len(values) < MIN_BATCH:
        return
    array = np.empty(len(values), dtype=object)
    array[:] = values
    try:
        checked = check_array(array, column.spec, seam.column_name(column))
    except InvalidGeometry:
        return  # refused value by value, with its row (see the docstring)
    encoded = encode_array(checked)
    key = id(column)
    for value, data in zip(values, encoded, strict=True):
        if data is not None:
            into[(key, id(value))] = (value, data)
