"""Running plans against a Citus coordinator, and the imperative API.

:func:`setup` distributes what tables declare (for applications that do not
use migrations, and for tests); :func:`execute` runs statements one per call
(Citus forwards DDL to the workers and refuses several statements in one
string) in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from piccolo.table import Table

from pgext.capabilities import Capabilities
from pgext.citus.errors import CitusNotInstalled
from pgext.citus.plan import Statement, collect_state, empty_state, plan
from pgext.citus.spec import qualified
from pgext.engine_access import capabilities_of, connection_of, engine_of

IS_CITUS_TABLE = (
    "SELECT EXISTS (SELECT 1 FROM pg_dist_partition "
    "WHERE logicalrelid = to_regclass($1::text))"
)

DISTRIBUTION_COLUMN = (
    "SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition "
    "WHERE logicalrelid = to_regclass($1::text) AND partmethod = 'h'"
)


async def require_citus(engine: Any) -> Capabilities:
    """The server's capabilities; a clear error when Citus is missing."""
    caps = await capabilities_of(engine)
    if caps.citus is None:
        caps = await capabilities_of(engine, refresh=True)
    if caps.citus is None:
        where = "is not installed in this database (CREATE EXTENSION citus)"
        if not caps.available("citus"):
            where = "is not available on this server"
        raise CitusNotInstalled(
            f"Citus {where}; pgext.citus needs a Citus coordinator ({caps.describe()})"
        )
    return caps


async def is_citus_table(table: type[Table] | str, engine: Any = None) -> bool:
    """True when ``table`` is distributed or a reference table on the server."""
    name = table if isinstance(table, str) else qualified(table)
    engine = engine_of(None if isinstance(table, str) else table, engine)
    async with connection_of(engine) as connection:
        return bool(await connection.fetchval(IS_CITUS_TABLE, name))


async def distribution_column_on_server(
    table: type[Table] | str, engine: Any = None
) -> str | None:
    """The column ``table`` is hash-distributed by on the server; None for a
    reference table, a local table, or a server without Citus."""
    name = table if isinstance(table, str) else qualified(table)
    engine = engine_of(None if isinstance(table, str) else table, engine)
    if (await capabilities_of(engine)).citus is None:
        return None
    async with connection_of(engine) as connection:
        column = await connection.fetchval(DISTRIBUTION_COLUMN, name)
    return None if column is None else str(column)


async def _run(connection: asyncpg.Connection, statement: Statement) -> None:
    if statement.only_if_citus is not None and not await connection.fetchval(
        IS_CITUS_TABLE, statement.only_if_citus
    ):
        return
    if statement.only_if_local is not None:
        exists = await connection.fetchval(
            "SELECT to_regclass($1::text) IS NOT NULL", statement.only_if_local
        )
        if not exists or await connection.fetchval(
            IS_CITUS_TABLE, statement.only_if_local
        ):
            return
    await connection.execute(statement.sql, *statement.args)


async def execute(statements: Sequence[Statement], engine: Any) -> None:
    """Run ``statements`` in order, each on its own, in one transaction."""
    if not statements:
        return
    await require_citus(engine)
    async with connection_of(engine) as connection, connection.transaction():
        # Creating tables and their foreign keys in one transaction needs
        # Citus to use one connection per node for it.
        await connection.execute(
            "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"
        )
        for statement in statements:
            await _run(connection, statement)


async def setup(*tables: type[Table], engine: Any = None) -> list[Statement]:
    """Distribute what ``tables`` declare (they exist as plain tables).
    Returns the statements that were planned."""
    engine = engine_of(tables[0] if tables else None, engine)
    statements = plan(empty_state(), collect_state(tables))
    await execute(statements, engine)
    return statements


async def teardown(*tables: type[Table], engine: Any = None) -> list[Statement]:
    """Make ``tables`` local again (the reverse of :func:`setup`)."""
    engine = engine_of(tables[0] if tables else None, engine)
    statements = plan(collect_state(tables), empty_state())
    await execute(statements, engine)
    return statements
