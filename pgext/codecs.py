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
SELECT t.typname AS name, n.nspname AS schema, t.oid AS oid,
       t.typtype = 'b' AND t.typelem = 0 AS scalar
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = ANY($1::text[]) AND t.typtype IN ('b', 'd')
ORDER BY (n.nspname = 'public') DESC, n.nspname
"""

# Bumped on every (un)registration: a cached plan of an older registry is
# looked up again.
_REGISTRY_VERSION = 0


def register_codec(codec: TypeCodec) -> None:
    """Add (or replace) the codec for ``codec.typename``."""
    global _REGISTRY_VERSION
    _REGISTRY[codec.typename] = codec
    _REGISTRY_VERSION += 1


def unregister_codec(typename: str) -> None:
    global _REGISTRY_VERSION
    if _REGISTRY.pop(typename, None) is not None:
        _REGISTRY_VERSION += 1


def registered_codecs() -> dict[str, TypeCodec]:
    return dict(_REGISTRY)


@dataclass(frozen=True)
class _FoundType:
    name: str
    schema: str
    oid: int
    scalar: bool


@dataclass(frozen=True)
class _Plan:
    version: int
    found: tuple[_FoundType, ...]


# -- adding a codec without a catalog query ---------------------------------------
# pgext's one use of a private asyncpg detail.  ``Connection.set_type_codec``
# looks the type up in the catalog on every call: on a fresh connection (every
# query Piccolo runs without a pool) those look-ups cost more than the query
# itself.  When the type's OID is already known, the codec is added the way
# set_type_codec adds it, without the look-up.  Verified against asyncpg 0.32;
# tests/test_engine.py fails if the fast path stops being taken.


def _add_scalar_codec(
    connection: Any,
    oid: int,
    typename: str,
    schema: str,
    encoder: Any,
    decoder: Any,
    format: str,
) -> bool:
    """``connection._protocol.get_settings().add_python_codec`` for a scalar
    type whose OID is known; False (nothing done) when this asyncpg lacks it,
    so the caller falls back to the public ``set_type_codec``."""
    protocol = getattr(connection, "_protocol", None)
    settings = getattr(protocol, "get_settings", None)
    drop_cache = getattr(connection, "_drop_local_statement_cache", None)
    if settings is None or drop_cache is None:
        return False
    add = getattr(settings(), "add_python_codec", None)
    if add is None:
        return False
    add(oid, typename, schema, [], "scalar", encoder, decoder, format)
    drop_cache()  # what set_type_codec does: cached statements used old codecs
    return True


class CodecInstaller:
    """Installs the registered codecs on the connections of one server.

    The first connection looks the types up in the catalog (one query); when
    every registered type was found, the result is kept, and later
    connections get their codecs with no query at all (the OIDs of a
    database's types do not change while its extensions stay).  When a type
    is missing (``CREATE EXTENSION`` has not run), every connection keeps
    looking, so the codec is picked up once the type exists.  :meth:`forget`
    (the engine's ``refresh_codecs``) starts over, for instance after an
    extension was dropped and created again.
    """

    def __init__(self) -> None:
        self._plan: _Plan | None = None

    def forget(self) -> None:
        self._plan = None

    async def install(self, connection: CodecConnection) -> list[str]:
        """Install every registered codec whose type exists; return their
        names.  The schema is looked up rather than assumed, because PostGIS
        is often installed into a schema other than ``public`` on managed
        servers."""
        codecs = dict(_REGISTRY)
        if not codecs:
            return []
        plan = self._plan
        if plan is None or plan.version != _REGISTRY_VERSION:
            plan = await self._look_up(connection, codecs)
        installed: list[str] = []
        for found in plan.found:
            codec = codecs[found.name]
            if not (
                found.scalar
                and _add_scalar_codec(
                    connection,
                    found.oid,
                    found.name,
                    found.schema,
                    codec.encoder,
                    codec.decoder,
                    codec.format,
                )
            ):
                await connection.set_type_codec(
                    found.name,
                    schema=found.schema,
                    encoder=codec.encoder,
                    decoder=codec.decoder,
                    format=codec.format,
                )
            installed.append(found.name)
        return installed

    async def _look_up(
        self, connection: CodecConnection, codecs: dict[str, TypeCodec]
    ) -> _Plan:
        version = _REGISTRY_VERSION
        rows = await connection.fetch(_FIND_TYPES_SQL, list(codecs))
        found: dict[str, _FoundType] = {}
        for row in rows:
            # First per name: the public schema's, then by schema name.
            found.setdefault(
                row["name"],
                _FoundType(row["name"], row["schema"], row["oid"], row["scalar"]),
            )
        plan = _Plan(version, tuple(found.values()))
        if len(found) == len(codecs):
            self._plan = plan
        return plan


async def install_codecs(connection: CodecConnection) -> list[str]:
    """Install every registered codec whose type exists on ``connection``
    (looked up on it); return their names."""
    return await CodecInstaller().install(connection)


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

# Tuples, replaced on registration: every query reads them, registration is
# rare, so reading must not copy.
_COLUMN_HOOKS: tuple[ColumnHook, ...] = ()
_RESULT_HOOKS: tuple[ResultHook, ...] = ()
# The placeholder types the column hooks convert, or None when a hook did not
# say (then every result goes through the hooks).
_PLACEHOLDERS: frozenset[type] | None = frozenset()

# What the engine does with a small result, decided when hooks register
# instead of on every query: a result holding none of these types skips the
# hooks (the empty set: there are no hooks, every small result skips them);
# None: every result goes through the hooks (a result hook, or a column hook
# that did not name its placeholders).  Read as ``codecs.RESULT_CONVERSION``.
RESULT_CONVERSION: frozenset[type] | None = frozenset()


def _decide_result_conversion() -> None:
    global RESULT_CONVERSION
    RESULT_CONVERSION = None if _RESULT_HOOKS else _PLACEHOLDERS


def register_column_hook(hook: ColumnHook, placeholders: Sequence[type] = ()) -> None:
    """``hook(columns)`` may replace ``columns[i]`` by a sequence of the same
    length (converted values); it must not add, remove or reorder columns.

    ``placeholders``: the types of the values the hook converts (the types
    its codecs' decoders return).  When every hook names them, a small result
    holding none of those types skips the hooks: most queries (a row of
    numbers and text) then cost what they cost without pgext."""
    global _COLUMN_HOOKS, _PLACEHOLDERS
    if hook not in _COLUMN_HOOKS:
        _COLUMN_HOOKS = (*_COLUMN_HOOKS, hook)
        if not placeholders or _PLACEHOLDERS is None:
            _PLACEHOLDERS = None
        else:
            _PLACEHOLDERS = _PLACEHOLDERS | frozenset(placeholders)
        _decide_result_conversion()


def column_hooks() -> tuple[ColumnHook, ...]:
    return _COLUMN_HOOKS


def hook_placeholders() -> frozenset[type] | None:
    """The placeholder types of every column hook, None when one is unknown."""
    return _PLACEHOLDERS


def register_result_hook(hook: ResultHook) -> None:
    global _RESULT_HOOKS
    if hook not in _RESULT_HOOKS:
        _RESULT_HOOKS = (*_RESULT_HOOKS, hook)
        _decide_result_conversion()


def result_hooks() -> tuple[ResultHook, ...]:
    return _RESULT_HOOKS


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
