"""Binary EWKB on the wire for ``geometry`` and ``geography``.

asyncpg calls a codec's decoder once per value.  Building a shapely geometry
there would cost one shapely call per row; instead the decoder only copies the
bytes into a ``bytearray`` (the placeholder, :data:`EWKB`), and
:func:`decode_columns` -- a pgext column hook the engine runs on every result
before it builds the row dicts -- turns all of a result's placeholders into
shapely geometries with one ``shapely.from_wkb`` call per column (the EWKB
carries the SRID, so no ``set_srid`` pass is needed).
:func:`decode_result` does the same on finished row dicts.
``bench/bench_postgis_io.py`` measures this against decoding row by row.

Why ``bytearray``: no asyncpg codec returns one (``bytea`` gives ``bytes``),
so the hook tells geometry values apart by type alone; and unlike a ``bytes``
subclass it is not tracked by the cyclic garbage collector, which matters when
100k of them are created during one fetch.

Code that fetches through asyncpg directly (``engine.connection()``) gets the
placeholders; :func:`to_shapely` converts a list of them at once.

The encoder accepts everything :func:`~pgext.postgis.values.parse_geometry`
reads.  Column rules (subtype, SRID, dimension, lon/lat range) are checked
earlier, where the column is known (see ``columns.py``); plain ``bytes`` are
taken as ready EWKB, which is how bulk COPY hands over pre-encoded batches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import repeat
from operator import is_not, itemgetter, setitem
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from pgext.codecs import (
    GC_PAUSE_MIN_ROWS,
    TypeCodec,
    gc_paused,
    register_codec,
    register_column_hook,
)
from pgext.postgis.values import parse_geometry

SPATIAL_TYPES = ("geometry", "geography")


EWKB = bytearray
"""The placeholder type of a geometry value not yet parsed (EWKB bytes)."""

_EMPTY = b""


# Query operands pgext has already checked, with their EWKB: a knn query binds
# its operand four times, and each encode would parse and check it again.
# Keyed by id(), the geometry kept beside its bytes so a reused id never
# matches; the oldest entries go first.
_CHECKED: dict[int, tuple[Any, bytes]] = {}
_CHECKED_MAX = 256


def encode_checked(geometry: BaseGeometry) -> bytes:
    """EWKB of a geometry pgext has checked, remembered for :func:`encode`."""
    data: bytes = shapely.to_wkb(geometry, include_srid=True, output_dimension=4)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.pop(next(iter(_CHECKED), 0), None)
    _CHECKED[id(geometry)] = (geometry, data)
    return data


def encode(value: Any) -> bytes:
    """Python value -> EWKB bytes (asyncpg binary encoder)."""
    if type(value) is bytes:
        return value
    if type(value) is EWKB:
        return bytes(value)
    checked = _CHECKED.get(id(value))
    if checked is not None and checked[0] is value:
        return checked[1]
    geometry = parse_geometry(value)
    data: bytes = shapely.to_wkb(geometry, include_srid=True, output_dimension=4)
    return data


def encode_array(geometries: NDArray[np.object_]) -> list[bytes | None]:
    """EWKB of many shapely geometries in one shapely call (``None`` stays
    ``None``)."""
    encoded: NDArray[np.object_] = shapely.to_wkb(
        geometries, include_srid=True, output_dimension=4
    )
    result: list[bytes | None] = encoded.tolist()
    return result


def to_shapely(values: Iterable[Any]) -> list[BaseGeometry | None]:
    """Many EWKB values (``bytes``/``bytearray``, or ``None``) -> shapely
    geometries, in one ``shapely.from_wkb`` call, with the cyclic GC paused
    for large inputs: what the engine's own column hook does, so fetching
    through ``engine.connection()`` costs what a Piccolo select costs."""
    column = values if isinstance(values, Sequence) else list(values)
    with gc_paused(len(column)):
        return _geometries(column)


def _as_bytes(value: Any) -> Any:
    # shapely.from_wkb takes bytes or str only.
    return None if value is None else bytes(value)


# Shapely geometries are tracked by the cyclic garbage collector, so creating
# 100k of them triggers collections that re-scan every live object (the
# result's rows included) -- measured at 2-3x the cost of the decoding itself.
# They cannot form reference cycles, so decoding runs under
# pgext.codecs.gc_paused.


def _spatial_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Keys holding EWKB values.  A column's values share one type, so each
    key is decided by its first non-null value."""
    undecided = set(rows[0])
    found: list[str] = []
    for row in rows:
        for key in list(undecided):
            value = row[key]
            if value is not None:
                undecided.discard(key)
                if type(value) is EWKB:
                    found.append(key)
        if not undecided:
            break
    return found


def _geometries(values: Sequence[Any]) -> list[BaseGeometry | None]:
    """A column of EWKB placeholders (and NULLs) -> shapely geometries, one
    ``shapely.from_wkb`` call; map/bytes keep the per-value work in C."""
    count = len(values)
    try:
        # b"" + placeholder is the cheapest C-level bytearray -> bytes copy
        # (a method call, not a type call); it raises on None, so the slower
        # None-aware pass runs only for columns with NULLs.
        array = np.fromiter(map(_EMPTY.__add__, values), object, count=count)
    except TypeError:
        array = np.fromiter(map(_as_bytes, values), object, count=count)
    geometries: list[BaseGeometry | None] = shapely.from_wkb(array).tolist()
    return geometries


_NOT_NULL = partial(is_not, None)


def _first_value(values: Iterable[Any]) -> Any:
    """The first non-NULL value (a column's values share one type)."""
    return next(filter(_NOT_NULL, values), None)


def decode_columns(columns: list[Sequence[Any]]) -> None:
    """Column hook (what the engine runs on every result): replace each
    column of :class:`EWKB` placeholders by shapely geometries."""
    if not columns or not columns[0]:
        return
    count = len(columns[0])
    if count < GC_PAUSE_MIN_ROWS:  # every small result: no context manager
        _decode_columns(columns)
        return
    with gc_paused(count):
        _decode_columns(columns)


def _decode_columns(columns: list[Sequence[Any]]) -> None:
    for index, values in enumerate(columns):
        if type(_first_value(values)) is EWKB:
            columns[index] = _geometries(values)


def decode_result(rows: list[dict[str, Any]]) -> None:
    """The same conversion on finished row dicts, in place: one
    ``shapely.from_wkb`` call per spatial key."""
    if not rows:
        return
    count = len(rows)
    keys = _spatial_keys(rows)
    with gc_paused(count):
        for key in keys:
            geometries = _geometries(list(map(itemgetter(key), rows)))
            deque(map(setitem, rows, repeat(key, count), geometries), maxlen=0)


def decode_row_by_row(data: bytes) -> BaseGeometry:
    """The alternative decoder (one shapely call per value), kept for the
    benchmark that justifies :func:`decode_result`."""
    geometry: BaseGeometry = shapely.from_wkb(data)
    return geometry


def install() -> None:
    """Register the codecs and the result hook (done on import of
    :mod:`pgext.postgis`; idempotent)."""
    for name in SPATIAL_TYPES:
        register_codec(TypeCodec(name, encode, EWKB, "binary"))
    register_column_hook(decode_columns, placeholders=(EWKB,))
