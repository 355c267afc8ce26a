"""An INSERT's spatial values checked and encoded per column in one go.

The insert hook of :mod:`pgext.seam` sees every row of an INSERT before
Piccolo binds them one value at a time: for each spatial column it checks
the shapely values together (:func:`~pgext.postgis.arrays.check_array`) and
encodes them with one ``shapely.to_wkb``, the way bulk COPY does, and hands
the EWKB to :mod:`pgext.postgis.writes`, where the column hook finds it.  A
column whose batch holds a bad value is left to the per-value path, which
refuses the value naming its row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from pgext import seam
from pgext.engine import PgextEngine
from pgext.postgis.arrays import check_array
from pgext.postgis.codec import encode_array
from pgext.postgis.columns import SpatialColumn
from pgext.postgis.errors import InvalidGeometry
from pgext.postgis.writes import Prepared, use_prepared

# Below this many geometries per column the per-value path is as quick; an
# INSERT of fewer rows does not even call the hook (see pgext.postgis).
MIN_BATCH = 8


def prepare_insert(table: Any, rows: Sequence[Any]) -> Callable[[], None] | None:
    """Insert hook: encode the shapely values of every spatial column of
    ``rows`` in one go (see the module docstring)."""
    if len(rows) < MIN_BATCH or not isinstance(seam.table_engine(table), PgextEngine):
        return None  # the per-value path (and its engine check) does the rest
    prepared: Prepared = {}
    for column in seam.table_columns(table):
        if isinstance(column, SpatialColumn):
            _prepare_column(column, rows, prepared)
    if not prepared:
        return None
    return use_prepared(prepared)


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
