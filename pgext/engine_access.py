"""How the extension rooms reach a database: the engine to use, one of its
connections, and what its server can do.

They accept any Piccolo Postgres engine, so each helper prefers what
:class:`pgext.engine.PgextEngine` offers (a connection joining the current
transaction, cached capabilities) and falls back to a plain engine's means.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from piccolo.table import Table

from pgext import seam
from pgext.capabilities import DETECT_SQL, Capabilities
from pgext.errors import PgextError


def engine_of(table: type[Table] | None = None, engine: Any = None) -> Any:
    """``engine`` when given, else the table's engine, else the one
    ``piccolo_conf`` configures."""
    if engine is not None:
        return engine
    if table is not None:
        return seam.table_engine(table)
    from piccolo.engine import engine_finder

    found = engine_finder()
    if found is None:
        raise PgextError("no engine: pass engine= or configure piccolo_conf")
    return found


@asynccontextmanager
async def connection_of(engine: Any) -> AsyncIterator[asyncpg.Connection]:
    """A connection of ``engine`` (PgextEngine's ``connection()`` when there
    is one: it joins the current transaction)."""
    if hasattr(engine, "connection"):
        async with engine.connection() as connection:
            yield connection
        return
    connection = await engine.get_new_connection()
    try:
        yield connection
    finally:
        await connection.close()


async def capabilities_of(engine: Any, refresh: bool = False) -> Capabilities:
    """The server's capabilities: PgextEngine's cached ones (asked again when
    ``refresh``), else detected afresh on a connection of its own."""
    if hasattr(engine, "capabilities"):
        found: Capabilities = await engine.capabilities(refresh=refresh)
        return found
    async with connection_of(engine) as connection:
        return Capabilities.from_row(await connection.fetchrow(DETECT_SQL))
