"""A registry of asyncpg type codecs that the engine installs on every
connection it hands out.

Feature modules (``pgext.postgis`` for instance) register their codecs at
import; the engine looks up which of the registered types exist on the server
in one query and installs only those.  A type that does not exist yet (say
``geometry`` before ``CREATE EXTENSION postgis``) is skipped, not an error.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
# placeholder and a result hook converts every placeholder of a result in one
# call.  Hooks mutate the list of row dicts in place.

ResultHook = Callable[[list[dict[str, Any]]], None]

_RESULT_HOOKS: list[ResultHook] = []


def register_result_hook(hook: ResultHook) -> None:
    if hook not in _RESULT_HOOKS:
        _RESULT_HOOKS.append(hook)


def result_hooks() -> tuple[ResultHook, ...]:
    return tuple(_RESULT_HOOKS)


# -- creating many objects at once ----------------------------------------------------
#
# Building a large result (a dict per row, shapely objects) triggers many
# collections of the cyclic GC, which walk ever more objects that are not
# cyclic at all.  Pausing it for the duration is measurably faster.

GC_PAUSE_MIN_ROWS = 1000


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic GC while ``size`` (>= GC_PAUSE_MIN_ROWS) acyclic
    objects are created; a no-op for small batches or when GC is off."""
    if size < GC_PAUSE_MIN_ROWS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
