"""Fixtures of the TimescaleDB tests."""

from __future__ import annotations

import asyncio

import pytest

from pgext import seam
from pgext.engine import PgextEngine
from pgext.timescale import info, run_job
from tests.timescale.models import TsReading, TsReadingDaily, TsReadingHourly

MODELS = (TsReading, TsReadingHourly, TsReadingDaily)


@pytest.fixture(scope="session")
async def ts(ts_engine: PgextEngine) -> PgextEngine:
    """The TimescaleDB engine, with the shared test models bound to it."""
    for table in MODELS:
        seam.bind_engine(table, ts_engine)
    await ts_engine.capabilities(refresh=True)
    return ts_engine


async def runs_jobs(engine: PgextEngine) -> bool:
    """True when a TimescaleDB scheduler serves this database (it starts
    within a second or two of CREATE EXTENSION); False on PGlite."""
    for _ in range(50):
        rows = await engine.execute_in_new_connection(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = "
            "'TimescaleDB Background Worker Scheduler' "
            "AND datname = current_database()"
        )
        if rows[0]["n"]:
            return True
        await asyncio.sleep(0.1)
    return False


async def run_policy(job_id: int, engine: PgextEngine, timeout: float = 60) -> None:
    """Have a policy that was just added run once: where a scheduler runs,
    wait for the first scheduled run (racing it with run_job would run the
    job twice at once); elsewhere (PGlite) run it with run_job."""
    if not await runs_jobs(engine):
        await run_job(job_id, engine)
        return
    for _ in range(int(timeout * 10)):
        found = [j for j in await info.jobs(engine=engine) if j.job_id == job_id]
        if found and found[0].total_runs and found[0].last_run_status:
            assert found[0].last_run_status == "Success", found[0].last_error
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not run within {timeout} s: {found}")
