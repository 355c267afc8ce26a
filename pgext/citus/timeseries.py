"""The periodic job of time-partitioned Citus tables (see
:mod:`pgext.citus.partitions`): what TimescaleDB's policies do on their own,
an application runs here on its schedule (a cron job, a startup task)."""

from __future__ import annotations

from typing import Any

from piccolo.table import Table

from pgext.citus.apply import require_citus
from pgext.citus.errors import CitusError
from pgext.citus.partitions import time_partitions
from pgext.citus.spec import qualified
from pgext.engine_access import connection_of, engine_of


async def maintain(table: type[Table], engine: Any = None) -> None:
    """Create the partitions ``premake`` ahead, convert partitions older
    than ``columnar_after`` to columnar storage, drop those older than
    ``retention``; each statement on its own."""
    declared = time_partitions(table)
    if declared is None:
        raise CitusError(f"{qualified(table)!r} is not declared @time_partitioned")
    engine = engine_of(table, engine)
    await require_citus(engine)
    name = qualified(table)
    async with connection_of(engine) as connection:
        await connection.execute(
            "SELECT create_time_partitions($1::text::regclass, $2::text::interval, "
            "now() + $3::text::interval)",
            name,
            declared.interval,
            declared.premake,
        )
        if declared.columnar_after:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS citus_columnar")
            await connection.execute(
                "CALL alter_old_partitions_set_access_method($1::text::regclass, "
                "now() - $2::text::interval, 'columnar')",
                name,
                declared.columnar_after,
            )
        if declared.retention:
            await connection.execute(
                "CALL drop_old_time_partitions($1::text::regclass, "
                "now() - $2::text::interval)",
                name,
                declared.retention,
            )
