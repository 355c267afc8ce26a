"""A registry of asyncpg type codecs that the engine installs on every
connection it hands out.

Feature modules (``pgext.postgis`` for instance) register their codecs at
import; the engine looks up which of the registered types exist on the server
in one query and installs only those.  A type that does not exist yet (say
``geometry`` before ``CREATE EXTENSION postgis``) is skipped, not an error.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol

CodecFormat = Literal["text", "binary", "tuple"]


class CodecConnection(Protocol):
    """The part of ``asyncpg.Connection`` the registry needs."""

    async def fetch(self, query: str, *args: Any) -> Any: ...

    async def set_type_codec(
        self,
        typename: str,
        *,
        schema: str = ...,
        encoder: Callable[[Any], Any],
        decoder: Callable[[Any], Any],
        format: str = ...,
    ) -> None: ...


@dataclass(frozen=True)
class TypeCodec:
    """How values of one Postgres type cross the wire."""

    typename: str
    encoder: Callable[[Any], Any]
    decoder: Callable[[Any], Any]
    format: CodecFormat = "binary"


_REGISTRY: dict[str, TypeCodec] = {}

_FIND_TYPES_SQL = """
SELECT t.typname AS name, n.nspname AS schema
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = ANY($1::text[]) AND t.typtype IN ('b', 'd')
ORDER BY (n.nspname = 'public') DESC, n.nspname
"""


def register_codec(codec: TypeCodec) -> None:
    """Add (or replace) the codec for ``codec.typename``."""
    _REGISTRY[codec.typename] = codec


def unregister_codec(typename: str) -> None:
    _REGISTRY.pop(typename, None)


def registered_codecs() -> dict[str, TypeCodec]:
    return dict(_REGISTRY)


async def install_codecs(connection: CodecConnection) -> list[str]:
    """Install every registered codec whose type exists; return their names.

    The schema is looked up rather than assumed, because PostGIS is often
    installed into a schema other than ``public`` on managed servers.
    """
    codecs = registered_codecs()
    if not codecs:
        return []
    rows = await connection.fetch(_FIND_TYPES_SQL, list(codecs))
    installed: list[str] = []
    for row in rows:
        name = row["name"]
        if name in installed:
            continue
        codec = codecs[name]
        await connection.set_type_codec(
            name,
            schema=row["schema"],
            encoder=codec.encoder,
            decoder=codec.decoder,
            format=codec.format,
        )
        installed.append(name)
    return installed


# -- bulk post-processing of results ------------------------------------------------
#
# asyncpg decodes one value at a time.  Where a library can decode a whole
# column at once (shapely.from_wkb on an array), a codec returns a cheap
# placeholder and a hook converts every placeholder of a result in one call.
#
# Column hooks run first, on the result transposed into columns (one sequence
# per result column, in row order); a hook replaces the columns it converts.
# The row dicts are built afterwards, so a converted value is stored once
# instead of being written over a placeholder row by row.  Result hooks then
# get the finished list of row dicts and mutate it in place.

ColumnHook = Callable[[list[Sequence[Any]]], None]
ResultHook = Callable[[list[dict[str, Any]]], None]

_COLUMN_HOOKS: list[ColumnHook] = []
_RESULT_HOOKS: list[ResultHook] = []


def register_column_hook(hook: ColumnHook) -> None:
    """``hook(columns)`` may replace ``columns[i]`` by a sequence of the same
    length (converted values); it must not add, remove or reorder columns."""
    if hook not in _COLUMN_HOOKS:
        _COLUMN_HOOKS.append(hook)


def column_hooks() -> tuple[ColumnHook, ...]:
    return tuple(_COLUMN_HOOKS)


def register_result_hook(hook: ResultHook) -> None:
    if hook not in _RESULT_HOOKS:
        _RESULT_HOOKS.append(hook)


def result_hooks() -> tuple[ResultHook, ...]:
    return tuple(_RESULT_HOOKS)


def rows_from_columns(
    keys: Sequence[str], columns: Sequence[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Row dicts from equally long columns, as ``dict(record)`` would make
    them (a repeated key keeps its first position and its last value)."""
    if not keys:
        return []
    return _row_builder(tuple(keys))(*columns)


# One dict display per row ({"a": v0, "b": v1}) is the cheapest way CPython
# has to build many small dicts: about 2.5x faster than dict(record), which
# goes through the mapping protocol key by key, and 2x faster than
# dict(zip(keys, values)).  The display needs the keys in source code, so a
# builder is compiled once per key tuple and cached, the way namedtuple and
# dataclasses generate code.  Keys enter the source only through repr() of a
# str, which always reads back as that same string literal.
_BUILDER_CACHE_SIZE = 256


@lru_cache(maxsize=_BUILDER_CACHE_SIZE)
def _row_builder(keys: tuple[str, ...]) -> Callable[..., list[dict[str, Any]]]:
    if not all(type(key) is str for key in keys):
        raise TypeError(f"result column names must be str, got {keys!r}")
    columns = ", ".join(f"c{i}" for i in range(len(keys)))
    values = ", ".join(f"v{i}" for i in range(len(keys)))
    display = ", ".join(f"{key!r}: v{i}" for i, key in enumerate(keys))
    source = (
        f"def build({columns}):\n"
        f"    return [{{{display}}} for {values}, in zip({columns})]\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<pgext row builder>", "exec"), namespace)
    builder: Callable[..., list[dict[str, Any]]] = namespace["build"]
    return builder


# -- creating many objects at once ----------------------------------------------------
#
# Building a large result (a dict per row, shapely objects) triggers many
# collections of the cyclic GC, which walk ever more objects that are not
# cyclic at all.  Pausing it for the duration is measurably faster.

GC_PAUSE_MIN_ROWS = 1000


@contextmanager
def gc_paused(size: int, *, promote: bool = False) -> Iterator[None]:
    """Pause the cyclic GC while ``size`` (>= GC_PAUSE_MIN_ROWS) acyclic
    objects are created; a no-op for small batches or when GC is off.

    ``promote=True`` (for building a query result) also spares the collector
    its first walk over the new objects.  Re-enabling the GC leaves every
    object made during the pause in the youngest generation, and the next
    collection walks them all (about 20 ms for 100k rows of dict + shapely
    geometry) only to find them acyclic.  ``gc.freeze()`` + ``gc.unfreeze()``
    instead moves all tracked objects to the oldest generation in O(1).  The
    side effect: garbage cycles that were young at that moment (at most the
    two young generations, a few thousand objects) wait for the next full
    collection.  Skipped when the application froze objects itself
    (``gc.get_freeze_count()``), since unfreezing would undo that."""
    if size < GC_PAUSE_MIN_ROWS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
