"""Operating a hypertable: chunks, sizes, columnstore stats, jobs, row
estimates.  Reads TimescaleDB's information views and size functions, with
the 2.18 columnstore names where the server has them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from piccolo.table import Table

from pgext import seam
from pgext.engine_access import connection_of, engine_of
from pgext.timescale import sql
from pgext.timescale.apply import require_timescaledb


def _rel(table: type[Table]) -> str:
    return sql.relation(
        {"schema": seam.table_schema(table), "table": seam.table_name(table)}
    )


def _names(table: type[Table]) -> tuple[str, str | None]:
    return seam.table_name(table), seam.table_schema(table)


@dataclass(frozen=True)
class Chunk:
    schema: str
    name: str
    range_start: datetime | None
    range_end: datetime | None
    is_compressed: bool


@dataclass(frozen=True)
class Size:
    table_bytes: int
    index_bytes: int
    toast_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class ColumnstoreStats:
    total_chunks: int
    compressed_chunks: int
    before_bytes: int | None
    after_bytes: int | None

    @property
    def ratio(self) -> float | None:
        if not self.before_bytes or not self.after_bytes:
            return None
        return self.before_bytes / self.after_bytes


@dataclass(frozen=True)
class Job:
    job_id: int
    proc_name: str
    relation: str | None
    schedule_interval: timedelta | None
    config: Any
    last_run_started_at: datetime | None
    last_run_status: str | None
    total_runs: int
    total_failures: int
    next_start: datetime | None
    last_error: str | None
    scheduled: bool = True
    # Why the job has not run yet, in words (None once it has run).
    why_not_run: str | None = None

    @property
    def failing(self) -> bool:
        return self.last_run_status == "Failed"


# The server's side of running jobs: its worker budget, TimescaleDB's
# workers taking from it (launcher, one scheduler per database with the
# extension, one per running job; a job worker is named "... [job id]"),
# and whether this database has a scheduler.
_WORKERS_SQL = r"""
SELECT current_setting('timescaledb.max_background_workers', true) AS budget,
       count(*) FILTER (WHERE backend_type LIKE 'TimescaleDB Background Worker%'
                          OR backend_type ~ '\[[0-9]+\]$') AS taken,
       count(*) FILTER (WHERE backend_type
                              = 'TimescaleDB Background Worker Scheduler'
                          AND datname = current_database()) AS schedulers
FROM pg_stat_activity
"""

_RAISE_BUDGET = (
    "each database with TimescaleDB holds a scheduler worker and each running "
    "job one more: drop unused databases (DROP DATABASE ... WITH (FORCE)) or "
    "raise timescaledb.max_background_workers and max_worker_processes"
)


def _why_not_run(
    scheduled: bool,
    next_start: datetime | None,
    now: datetime,
    workers: Any,
) -> str:
    budget = int(workers["budget"] or 0)
    full = budget > 0 and int(workers["taken"]) >= budget
    if not scheduled:
        return "the job is paused (scheduled = false); alter_job resumes it"
    if not workers["schedulers"]:
        if not budget or not int(workers["taken"]):
            return (
                "this server runs no TimescaleDB background workers (PGlite, or "
                "timescaledb.max_background_workers = 0): jobs run only "
                "through run_job()"
            )
        if full:
            return (
                f"no scheduler for this database: all {budget} TimescaleDB "
                f"background workers are taken; {_RAISE_BUDGET}"
            )
        return "the database's scheduler has not started yet (seconds after start)"
    if next_start is not None and next_start > now:
        return f"its first run is scheduled for {next_start.isoformat()}"
    if full:
        return (
            f"it is due, but all {budget} TimescaleDB background workers are "
            f"taken; {_RAISE_BUDGET}"
        )
    return "it is due: the scheduler starts it within seconds"


async def chunks(table: type[Table], engine: Any = None) -> list[Chunk]:
    engine = engine_of(table, engine)
    await require_timescaledb(engine)
    name, schema = _names(table)
    async with connection_of(engine) as connection:
        rows = await connection.fetch(
            "SELECT chunk_schema, chunk_name, range_start, range_end, is_compressed "
            "FROM timescaledb_information.chunks WHERE hypertable_name = $1 "
            "AND hypertable_schema = coalesce($2, current_schema()) "
            "ORDER BY range_start",
            name,
            schema,
        )
    return [
        Chunk(
            r["chunk_schema"],
            r["chunk_name"],
            r["range_start"],
            r["range_end"],
            bool(r["is_compressed"]),
        )
        for r in rows
    ]


async def size(table: type[Table], engine: Any = None) -> Size:
    engine = engine_of(table, engine)
    await require_timescaledb(engine)
    async with connection_of(engine) as connection:
        row = await connection.fetchrow(
            "SELECT table_bytes, index_bytes, toast_bytes, total_bytes "
            "FROM hypertable_detailed_size($1::text::regclass)",
            _rel(table),
        )
    return Size(
        *(
            int(row[k] or 0)
            for k in ("table_bytes", "index_bytes", "toast_bytes", "total_bytes")
        )
    )


async def columnstore_stats(table: type[Table], engine: Any = None) -> ColumnstoreStats:
    engine = engine_of(table, engine)
    caps = await require_timescaledb(engine)
    function = (
        "hypertable_columnstore_stats"
        if caps.at_least("timescaledb", 2, 18)
        else "hypertable_compression_stats"
    )
    async with connection_of(engine) as connection:
        row = await connection.fetchrow(
            "SELECT coalesce(sum(total_chunks), 0) AS total, "
            "coalesce(sum(number_compressed_chunks), 0) AS compressed, "
            "sum(before_compression_total_bytes) AS before, "
            "sum(after_compression_total_bytes) AS after "
            f"FROM {function}($1::text::regclass)",
            _rel(table),
        )
    return ColumnstoreStats(
        int(row["total"]),
        int(row["compressed"]),
        None if row["before"] is None else int(row["before"]),
        None if row["after"] is None else int(row["after"]),
    )


async def approximate_row_count(table: type[Table], engine: Any = None) -> int:
    """TimescaleDB's estimate from statistics (0 before ANALYZE)."""
    engine = engine_of(table, engine)
    await require_timescaledb(engine)
    async with connection_of(engine) as connection:
        value = await connection.fetchval(
            "SELECT approximate_row_count($1::text::regclass)", _rel(table)
        )
    return int(value or 0)


async def jobs(table: type[Table] | None = None, engine: Any = None) -> list[Job]:
    """Background jobs (policies), with their last run and failures; only
    those of ``table`` (hypertable or continuous aggregate) when given."""
    engine = engine_of(table, engine)
    await require_timescaledb(engine)
    name, schema = _names(table) if table is not None else (None, None)
    async with connection_of(engine) as connection:
        rows = await connection.fetch(
            """
            SELECT j.job_id, j.proc_name, j.schedule_interval, j.config::text AS config,
                   j.scheduled,
                   coalesce(ca.view_name, j.hypertable_name) AS relation,
                   s.last_run_started_at, s.last_run_status,
                   coalesce(s.total_runs, 0) AS total_runs,
                   coalesce(s.total_failures, 0) AS total_failures, s.next_start,
                   (SELECT e.err_message FROM timescaledb_information.job_errors e
                     WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1)
                     AS last_error
            FROM timescaledb_information.jobs j
            LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
            LEFT JOIN timescaledb_information.continuous_aggregates ca
              ON ca.materialization_hypertable_name = j.hypertable_name
             AND ca.materialization_hypertable_schema = j.hypertable_schema
            WHERE j.job_id >= 1000
              AND ($1::text IS NULL OR (coalesce(ca.view_name, j.hypertable_name) = $1
                   AND coalesce(ca.view_schema, j.hypertable_schema)
                       = coalesce($2::text, current_schema())))
            ORDER BY j.job_id
            """,
            name,
            schema,
        )
        workers = await connection.fetchrow(_WORKERS_SQL)
        now = await connection.fetchval("SELECT now()")
    import json

    return [
        Job(
            job_id=r["job_id"],
            proc_name=r["proc_name"],
            relation=r["relation"],
            schedule_interval=r["schedule_interval"],
            config=json.loads(r["config"]) if r["config"] else None,
            last_run_started_at=r["last_run_started_at"],
            last_run_status=r["last_run_status"],
            total_runs=int(r["total_runs"]),
            total_failures=int(r["total_failures"]),
            next_start=r["next_start"],
            last_error=r["last_error"],
            scheduled=bool(r["scheduled"]),
            why_not_run=None
            if r["last_run_started_at"] is not None
            else _why_not_run(bool(r["scheduled"]), r["next_start"], now, workers),
        )
        for r in rows
    ]
