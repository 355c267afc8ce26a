"""Running plans against a server, and the imperative API.

:func:`setup` creates what tables and aggregates declare (for applications
that do not use migrations, and for tests); :func:`execute` runs a list of
statements with the right transaction handling: consecutive transactional
statements share one transaction, the others (continuous aggregates,
refreshes) run on their own in autocommit mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from piccolo.table import Table

from pgext import seam
from pgext.capabilities import Capabilities
from pgext.engine_access import capabilities_of, connection_of, engine_of
from pgext.timescale import sql
from pgext.timescale.aggregates import aggregate_spec
from pgext.timescale.errors import NotAHypertable, TimescaleError
from pgext.timescale.intervals import parse_interval
from pgext.timescale.plan import collect_state, empty_state, plan
from pgext.timescale.spec import IntervalLike, hypertable_spec, require_spec
from pgext.timescale.sql import Statement


async def require_timescaledb(engine: Any) -> Capabilities:
    """The engine's capabilities; raises an error naming the timescaledb
    extension when the server lacks it."""
    caps = await capabilities_of(engine)
    caps.require("timescaledb")
    return caps


async def _run(connection: asyncpg.Connection, statement: Statement) -> None:
    if statement.requires is not None:
        exists = await connection.fetchval(
            "SELECT to_regclass($1::text) IS NOT NULL", statement.requires
        )
        if not exists:
            return
    await connection.execute(statement.sql, *statement.args)


async def execute(statements: Sequence[Statement], engine: Any) -> None:
    """Run ``statements`` in order on ``engine``."""
    if not statements:
        return
    async with connection_of(engine) as connection:
        if connection.is_in_transaction() and any(
            not s.transactional for s in statements
        ):
            raise TimescaleError(
                "continuous aggregates cannot be created or refreshed inside a "
                "transaction; run this outside `engine.transaction()` (migrations "
                "written by pgext use wrap_in_transaction=False)"
            )
        batch: list[Statement] = []

        async def flush() -> None:
            if batch:
                async with connection.transaction():
                    for statement in batch:
                        await _run(connection, statement)
                batch.clear()

        for statement in statements:
            if statement.transactional:
                batch.append(statement)
            else:
                await flush()
                await _run(connection, statement)
        await flush()


async def setup(*tables: type[Table], engine: Any = None) -> list[Statement]:
    """Create what ``tables`` declare (hypertables, their policies, then
    continuous aggregates in dependency order) on tables that already exist
    as plain tables.  Returns the statements that ran."""
    for table in tables:
        if hypertable_spec(table) is None and aggregate_spec(table) is None:
            require_spec(table)  # raises NotAHypertable with the fix
    engine = engine_of(tables[0] if tables else None, engine)
    caps = await capabilities_of(engine)
    statements = plan(empty_state(), collect_state(tables), caps)
    await execute(statements, engine)
    return statements


async def create(*tables: type[Table], engine: Any = None) -> list[Statement]:
    """Create new tables as declared, then their aggregates.

    Hypertables are created in one ``CREATE TABLE ... WITH (tsdb.hypertable)``
    statement on TimescaleDB 2.20+ (Piccolo's column definitions, the wider
    primary key, the partitioning options), or by Piccolo and converted on
    older servers.  Plain tables are created by Piccolo; aggregates by
    :func:`setup`.
    """
    engine = engine_of(tables[0] if tables else None, engine)
    caps = await capabilities_of(engine)
    statements: list[Statement] = []
    aggregates = []
    for table in tables:
        spec = hypertable_spec(table)
        if aggregate_spec(table) is not None:
            aggregates.append(table)
            continue
        ddl = list(table.create_table().ddl)
        if spec is None or not sql.supports_create_table_with(caps):
            statements += [Statement(text) for text in ddl]
            if spec is not None:
                statements += plan(empty_state(), collect_state([table]), caps)
            continue
        primary = seam.primary_key(table)
        statements += sql.create_table_with(spec.state(), ddl[0], primary.ddl, caps)
        statements += [Statement(text) for text in ddl[1:]]  # indexes
    await execute(statements, engine)
    if aggregates:
        statements += await setup(*aggregates, engine=engine)
    return statements


async def teardown(*tables: type[Table], engine: Any = None) -> list[Statement]:
    """Drop the continuous aggregates and policies ``tables`` declare."""
    engine = engine_of(tables[0] if tables else None, engine)
    caps = await capabilities_of(engine)
    statements = plan(collect_state(tables), empty_state(), caps)
    await execute(statements, engine)
    return statements


async def is_hypertable(table: type[Table], engine: Any = None) -> bool:
    engine = engine_of(table, engine)
    await require_timescaledb(engine)
    async with connection_of(engine) as connection:
        found = await connection.fetchval(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = $1 "
            "AND hypertable_schema = coalesce($2, current_schema())",
            seam.table_name(table),
            seam.table_schema(table),
        )
    return bool(found)


async def _require_hypertable(table: type[Table], engine: Any) -> Capabilities:
    caps = await capabilities_of(engine)
    caps.require("timescaledb")
    if not await is_hypertable(table, engine):
        raise NotAHypertable(
            f"{seam.table_name(table)!r} is not a hypertable on this server; "
            "policies need one (declare it with @hypertable and run setup "
            "or migrations)"
        )
    return caps


def _table_state(table: type[Table]) -> dict[str, Any]:
    return {"schema": seam.table_schema(table), "table": seam.table_name(table)}


async def set_retention(
    table: type[Table], drop_after: IntervalLike | None, engine: Any = None
) -> None:
    """Replace the retention policy of a hypertable (None removes it)."""
    engine = engine_of(table, engine)
    interval = (
        None if drop_after is None else parse_interval(drop_after, what="drop_after")
    )
    caps = await _require_hypertable(table, engine)
    state = {**_table_state(table), "retention": interval.text if interval else None}
    statements = sql.remove_retention_policy(state, caps)
    if interval is not None:
        statements += sql.add_retention_policy(state, caps)
    await execute(statements, engine)


async def set_columnstore_policy(
    table: type[Table], after: IntervalLike | None, engine: Any = None
) -> None:
    """Replace the columnstore (compression) policy of a hypertable whose
    columnstore is enabled (None removes it)."""
    engine = engine_of(table, engine)
    interval = None if after is None else parse_interval(after, what="after")
    caps = await _require_hypertable(table, engine)
    state = {
        **_table_state(table),
        "columnstore": {"after": interval.text if interval else None},
    }
    statements = sql.remove_columnstore_policy(state, caps)
    if interval is not None:
        statements += sql.add_columnstore_policy(state, caps)
    await execute(statements, engine)


async def refresh(
    aggregate: type[Table],
    start: datetime | None = None,
    end: datetime | None = None,
    engine: Any = None,
) -> None:
    """Refresh a continuous aggregate over ``[start, end)`` (None: open)."""
    engine = engine_of(aggregate, engine)
    caps = await capabilities_of(engine)
    caps.require_community("continuous aggregates")
    rel = sql.relation(
        {"schema": seam.table_schema(aggregate), "view": seam.table_name(aggregate)}
    )
    async with connection_of(engine) as connection:
        if connection.is_in_transaction():
            raise TimescaleError("refresh() cannot run inside a transaction")
        await connection.execute(
            "CALL refresh_continuous_aggregate($1::text::regclass, "
            "$2::timestamptz, $3::timestamptz)",
            rel,
            start,
            end,
        )


async def run_job(job_id: int, engine: Any) -> None:
    """Run a background job now (``CALL run_job``): the only way policies run
    where no background workers exist."""
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise TimescaleError(f"job_id must be an int, got {job_id!r}")
    await require_timescaledb(engine)
    async with connection_of(engine) as connection:
        await connection.execute("CALL run_job($1::int)", job_id)
