"""The time-series widget on a TimescaleDB hypertable: buckets come from
``time_bucket`` (the same endpoint uses ``date_bin`` on plain PostgreSQL,
see test_api)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import httpx
import pytest
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.table import Table
from starlette.applications import Starlette

from pgext.admin import create_widgets_app
from pgext.admin.registry import Registry
from pgext.admin.series import SeriesLimits, SeriesRequest, series_query
from pgext.engine import PgextEngine
from pgext.timescale import hypertable, setup
from tests.helpers import recreate_tables

pytestmark = pytest.mark.timescale


@hypertable("ts", chunk_interval="1 day")
class AdmTsMetric(Table, tablename="adm_ts_metric"):
    ts = Timestamptz()
    probe = Integer()
    value = DoublePrecision()


@pytest.fixture(scope="module")
async def metrics(ts_engine: PgextEngine) -> AsyncIterator[PgextEngine]:
    await ts_engine.capabilities(refresh=True)
    await recreate_tables(ts_engine, AdmTsMetric)
    await setup(AdmTsMetric)
    async with ts_engine.connection() as conn:
        await conn.execute(
            "INSERT INTO adm_ts_metric (ts, probe, value) "
            "SELECT '2026-03-01 00:00+00'::timestamptz + g * interval '10 minutes', "
            "g % 3, g FROM generate_series(0, 431) g"
        )
    yield ts_engine
    await AdmTsMetric.alter().drop_table(if_exists=True)


async def test_hypertable_series_use_time_bucket(metrics: PgextEngine) -> None:
    entry = Registry.build([AdmTsMetric]).series_table("adm_ts_metric")
    request = SeriesRequest(
        time=AdmTsMetric.ts,
        value=AdmTsMetric.value,
        key=AdmTsMetric.probe,
        aggregate="count",
        start=datetime(2026, 3, 1, tzinfo=timezone.utc),
        end=datetime(2026, 3, 4, tzinfo=timezone.utc),
        points=72,
        series=10,
    )
    sql, _ = series_query(entry, request, None).compile_string(engine_type="postgres")
    assert "time_bucket(" in sql and "date_bin" not in sql


async def test_hypertable_chart_data_through_the_api(
    metrics: PgextEngine, session_token: str, widget_app: object
) -> None:
    widgets = create_widgets_app([AdmTsMetric], series=SeriesLimits(max_points=100))
    app = Starlette(routes=[widgets.mount()])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            assert (
                await client.get("/widgets/api/series/adm_ts_metric")
            ).status_code == 401
            client.cookies.set("id", session_token)
            response = await client.get(
                "/widgets/api/series/adm_ts_metric",
                params={"key": "probe", "agg": "count", "points": "72"},
            )
            assert response.status_code == 200, response.text
            data = response.json()
            too_many = await client.get(
                "/widgets/api/series/adm_ts_metric", params={"points": "101"}
            )
            assert too_many.status_code == 400
    finally:
        await widgets.close()
    assert data["width_seconds"] == 3600
    assert len(data["buckets"]) == 72
    assert [s["key"] for s in data["series"]] == ["0", "1", "2"]
    # 6 rows an hour spread over 3 probes: 2 each.
    assert {v for s in data["series"] for v in s["values"]} == {2.0}
