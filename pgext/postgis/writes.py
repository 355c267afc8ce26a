"""Spatial values of Piccolo's INSERT and UPDATE: checked, then encoded once.

Piccolo binds a row's values one at a time (``convert_to_sql_value``, where
pgext's column hook runs).  Checking a shapely geometry against its column
and encoding it there one by one costs a dozen scalar shapely calls a value,
each paying numpy's per-call overhead: more than Piccolo's own per-row work
(issue 20).  So:

* :func:`pgext.postgis.insert_batch.prepare_insert` (an insert hook of
  :mod:`pgext.seam`) sees all rows of an INSERT first and checks and encodes
  each spatial column's shapely values with
  :func:`~pgext.postgis.arrays.check_array` and one ``shapely.to_wkb``, the
  way bulk COPY does; the column hook then only looks the ready EWKB up.
* a value the insert hook did not prepare (an UPDATE, a single row, text
  input) goes through :func:`encode_value`: parsed and checked once, encoded
  once.  The hook returns EWKB ``bytes``, which the binary codec sends as
  they are, so nothing is encoded twice.

When a column's batch holds a bad value nothing is prepared for it: the
per-value path refuses the value with the error naming its row.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

import shapely


class CheckingColumn(Protocol):
    """What this module needs of a spatial column (``SpatialColumn``, which
    imports this module): its check."""

    def to_geometry(self, value: Any) -> Any: ...


# (id(column), id(value)) -> (value, EWKB).  The value is kept beside its
# encoding so an id reused by another object can never match.
Prepared = dict[tuple[int, int], tuple[Any, bytes]]
_PREPARED: ContextVar[Prepared | None] = ContextVar("pgext_prepared_ewkb", default=None)


def prepared_value(column: CheckingColumn, value: Any) -> bytes | None:
    """The EWKB the running INSERT's batch made for ``value``, or None."""
    prepared = _PREPARED.get()
    if prepared is not None:
        hit = prepared.get((id(column), id(value)))
        if hit is not None and hit[0] is value:
            return hit[1]
    return None


def encode_value(column: CheckingColumn, value: Any) -> bytes:
    """``value`` checked against ``column`` and encoded as EWKB: from the
    INSERT's prepared batch when there is one, else on its own."""
    ready = prepared_value(column, value)
    if ready is not None:
        return ready
    geometry = column.to_geometry(value)
    data: bytes = shapely.to_wkb(geometry, include_srid=True, output_dimension=4)
    return data


def use_prepared(prepared: Prepared) -> Callable[[], None]:
    """Make ``prepared`` the running INSERT's batch; call the result when
    the INSERT's values are bound."""
    token = _PREPARED.set(prepared)
    return lambda: _PREPARED.reset(token)
