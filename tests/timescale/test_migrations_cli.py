"""The real ``piccolo migrations`` CLI, in subprocesses, against a temporary
app whose piccolo_conf uses PgextEngine on the TimescaleDB server."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pgext.engine import PgextEngine
from tests.piccolo_cli import PiccoloApp, forget_migrations

pytestmark = pytest.mark.timescale

APP = "tsmig"

TABLES = """
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.query.functions.aggregate import Avg, Count
from piccolo.table import Table

from pgext.timescale import (
    Columnstore, ContinuousAggregate, RefreshPolicy, TimeBucket,
    continuous_aggregate, hypertable,
)


@hypertable(
    "ts",
    chunk_interval="1 day",
    columnstore=Columnstore(segment_by=["device_id"], after="7 days"),
    retention="{retention}",
)
class MigMetric(Table, tablename="mig_metric"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision()


def _hourly():
    bucket = TimeBucket("1 hour", MigMetric.ts)
    return MigMetric.select(
        bucket, MigMetric.device_id, Avg(MigMetric.value, alias="avg_value"), Count()
    ).group_by(bucket, MigMetric.device_id)


@continuous_aggregate(
    query=_hourly,
    refresh=RefreshPolicy(start_offset="3 days", end_offset="1 hour"),
    materialized_only=False,
)
class MigMetricHourly(ContinuousAggregate, tablename="mig_metric_hourly"):
    bucket = Timestamptz()
    device_id = Integer()
    avg_value = DoublePrecision()
    count = Integer()


def _daily():
    bucket = TimeBucket("1 day", MigMetricHourly.bucket)
    return MigMetricHourly.select(bucket, Count()).group_by(bucket)


@continuous_aggregate(query=_daily, materialized_only=True)
class MigMetricDaily(ContinuousAggregate, tablename="mig_metric_daily"):
    bucket = Timestamptz()
    count = Integer()
"""

CLASSES = ["MigMetric", "MigMetricHourly", "MigMetricDaily"]


async def _clean(engine: PgextEngine) -> None:
    async with engine.connection() as connection:
        for view in ("mig_metric_daily", "mig_metric_hourly"):
            await connection.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view}")
        await connection.execute("DROP TABLE IF EXISTS mig_metric CASCADE")
        await forget_migrations(connection, APP)


@pytest.fixture
async def clean(ts: PgextEngine) -> AsyncIterator[PgextEngine]:
    await _clean(ts)
    yield ts
    await _clean(ts)


async def _server_state(engine: PgextEngine) -> dict[str, Any]:
    async with engine.connection() as connection:
        hypertables = await connection.fetch(
            "SELECT hypertable_name FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'mig_metric'"
        )
        views = await connection.fetch(
            "SELECT view_name, materialized_only "
            "FROM timescaledb_information.continuous_aggregates "
            "WHERE view_name LIKE 'mig_metric%' ORDER BY view_name"
        )
        jobs = await connection.fetch(
            "SELECT proc_name, config::text AS config "
            "FROM timescaledb_information.jobs j "
            "WHERE j.hypertable_name = 'mig_metric' ORDER BY proc_name"
        )
    return {
        "hypertable": bool(hypertables),
        "views": {r["view_name"]: r["materialized_only"] for r in views},
        "jobs": {r["proc_name"]: json.loads(r["config"]) for r in jobs},
    }


async def test_auto_migrations_round_trip(
    clean: PgextEngine, timescale_config: dict[str, Any], tmp_path: Path
) -> None:
    app = PiccoloApp(
        tmp_path,
        APP,
        TABLES.format(retention="90 days"),
        CLASSES,
        timescale_config,
        extensions=("timescaledb",),
    )
    out = app.run("migrations", "new", APP, "--auto")
    files = app.migrations()
    assert len(files) == 2, out
    piccolo_file, pgext_file = (f.read_text() for f in files)
    assert "add_table" in piccolo_file and "mig_metric_hourly" not in piccolo_file
    assert "wrap_in_transaction=False" in pgext_file
    assert '"retention": "90 days"' in pgext_file

    app.run("migrations", "forwards", APP)
    state = await _server_state(clean)
    assert state["hypertable"]
    assert state["views"] == {"mig_metric_daily": True, "mig_metric_hourly": False}
    assert state["jobs"]["policy_retention"]["drop_after"] == "90 days"
    assert "policy_compression" in state["jobs"]

    out = app.run("migrations", "new", APP, "--auto")
    assert "No changes detected" in out
    assert len(app.migrations()) == 2

    app.write_tables(TABLES.format(retention="30 days"))
    out = app.run("migrations", "new", APP, "--auto")
    files = app.migrations()
    assert len(files) == 3, out
    assert '"retention": "30 days"' in files[-1].read_text()
    app.run("migrations", "forwards", APP)
    state = await _server_state(clean)
    assert state["jobs"]["policy_retention"]["drop_after"] == "30 days"
    out = app.run("migrations", "new", APP, "--auto")
    assert "No changes detected" in out

    # Backwards one step restores the old policy; then everything goes.
    app.run("migrations", "backwards", APP, "--auto_agree")
    state = await _server_state(clean)
    assert state["jobs"]["policy_retention"]["drop_after"] == "90 days"
    app.run("migrations", "backwards", APP, "--migration_id=all", "--auto_agree")
    state = await _server_state(clean)
    assert state == {"hypertable": False, "views": {}, "jobs": {}}
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT to_regclass('mig_metric')") is None


def test_migration_file_is_valid_python_with_plain_data(tmp_path: Path) -> None:
    from pgext.timescale.migrations import render_migration

    state = {
        "hypertables": {"t": {"table": "t", "retention": "1 day"}},
        "aggregates": {},
    }
    text = render_migration("2026-01-01T00:00:00:000000", "app", "d'esc", {}, state)
    namespace: dict[str, Any] = {}
    exec(compile(text, "m.py", "exec"), namespace)
    assert namespace["PGEXT_TIMESCALE_STATE"] == state
    assert namespace["DESCRIPTION"] == "d'esc"
    assert textwrap.dedent(text).startswith('"""TimescaleDB objects')
