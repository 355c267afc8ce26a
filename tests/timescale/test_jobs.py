"""Policies as background jobs: on a server with a scheduler they run on
their own; ``info.jobs`` says why a job has not run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from piccolo.columns import DoublePrecision, Timestamptz
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.harness.native import native_settings, native_version
from pgext.harness.postgres import LocalPostgres
from pgext.timescale import hypertable, info, run_job, set_retention, setup
from tests.timescale.conftest import runs_jobs

pytestmark = pytest.mark.timescale


@hypertable("ts", chunk_interval="1 day")
class JobReading(Table, tablename="job_reading"):
    ts = Timestamptz()
    value = DoublePrecision()


async def _fill(engine: PgextEngine) -> None:
    """Ten days of hourly rows ending now: a retention policy of three days
    drops the older chunks (data relative to now, never a fixed date)."""
    seam.bind_engine(JobReading, engine)
    await JobReading.alter().drop_table(if_exists=True)
    await JobReading.create_table()
    await setup(JobReading)
    now = datetime.now(timezone.utc)
    await JobReading.insert(
        *[JobReading(ts=now - timedelta(hours=h), value=h) for h in range(240)]
    )


@pytest.fixture
async def filled(ts_engine: PgextEngine) -> AsyncIterator[PgextEngine]:
    await _fill(ts_engine)
    yield ts_engine
    await JobReading.alter().drop_table(if_exists=True)


async def test_a_retention_policy_runs_on_its_schedule(filled: PgextEngine) -> None:
    assert await JobReading.count() == 240
    # The policy comes after the data and the assertion above: from here on
    # the scheduler may run it at any moment.
    await set_retention(JobReading, "3 days")
    if not await runs_jobs(filled):
        # PGlite: no background workers; info.jobs says so, run_job works
        # (it runs in the session and leaves no job statistics there).
        [job] = await info.jobs(JobReading)
        assert job.why_not_run is not None and "run_job()" in job.why_not_run
        await run_job(job.job_id, filled)
    else:
        # A real scheduled run, not run_job: wait for the scheduler.
        for _ in range(600):
            [job] = await info.jobs(JobReading)
            if job.total_runs and job.last_run_status:  # run and finished
                break
            await asyncio.sleep(0.1)
        assert job.total_runs >= 1, job.why_not_run
        assert job.last_run_status == "Success" and job.why_not_run is None
    oldest = await JobReading.select(JobReading.ts).order_by(JobReading.ts).first()
    assert oldest is not None
    age = datetime.now(timezone.utc) - oldest["ts"]
    # Whole chunks (one day) older than three days are gone.
    assert timedelta(days=3) <= age < timedelta(days=5)
    assert await JobReading.count() < 240


@pytest.fixture
async def starved() -> AsyncIterator[PgextEngine]:
    """A native cluster whose TimescaleDB may run two background workers:
    the launcher and this database's scheduler take both, no job starts."""
    if native_version() is None:
        if os.environ.get("CI"):
            pytest.fail("a native TimescaleDB is required in CI")
        pytest.skip("no native TimescaleDB installed")
    settings = {**native_settings(), "timescaledb.max_background_workers": "2"}
    server = LocalPostgres(settings=settings, extensions=("timescaledb",)).start()
    try:
        engine = PgextEngine(config=server.config())
        await _fill(engine)
        yield engine
    finally:
        server.stop()


async def test_jobs_say_why_they_have_not_run(starved: PgextEngine) -> None:
    await set_retention(JobReading, "3 days")
    assert await runs_jobs(starved)
    await asyncio.sleep(1.5)  # the scheduler tries, and fails, to launch it
    [job] = await info.jobs(JobReading)
    assert job.total_runs == 0 and job.last_run_started_at is None
    assert job.why_not_run is not None
    assert "all 2 TimescaleDB background workers are taken" in job.why_not_run
    assert "max_background_workers" in job.why_not_run
    assert await JobReading.count() == 240  # indeed nothing ran
    await starved.execute_in_new_connection(
        f"SELECT alter_job({job.job_id}, scheduled => false)"
    )
    [job] = await info.jobs(JobReading)
    assert job.why_not_run is not None and "paused" in job.why_not_run
